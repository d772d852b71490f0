"""Hypothesis profiles: the default searches widely; `--hypothesis-profile=mutation` (mutmut, see
README "Testing") runs few, fixed examples per mutant, so a run over hundreds of mutants fits in
minutes and gives the same verdict each time."""

from hypothesis import settings

# No deadline: the clustering properties run on shared CI cores, where one slow example is not a bug.
settings.register_profile("default", max_examples=100, deadline=None)
settings.register_profile("mutation", max_examples=30, deadline=None, derandomize=True, database=None)
settings.load_profile("default")

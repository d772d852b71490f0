"""What the tests share: Hypothesis profiles, the CLI runner, fake faces, and the sample photos
indexed once per session (the helpers themselves live in `support/`).

The default Hypothesis profile searches widely; `--hypothesis-profile=mutation` (mutmut, see
README "Testing") runs few, fixed examples per mutant, so a run over hundreds of mutants fits in
minutes and gives the same verdict each time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import settings
from typer.testing import CliRunner

from facesim.pipeline import Face

from support import cli_runs
from support.fake_faces import fake_face as make_fake_face
from support.indexed_sample import IndexedSample, index_sample

# No deadline: the clustering properties run on shared CI cores, where one slow example is not a bug.
settings.register_profile("default", max_examples=100, deadline=None)
settings.register_profile("mutation", max_examples=30, deadline=None, derandomize=True, database=None)
settings.load_profile("default")


@pytest.fixture(scope="session")
def cli_runner() -> CliRunner:
    """The one `CliRunner` every test invokes the app with (support.cli_runs uses it too)."""
    return cli_runs.runner


@pytest.fixture(scope="session")
def fake_face() -> Callable[..., Face]:
    """support.fake_faces.fake_face, for a test body that makes up its own faces (helpers import it)."""
    return make_fake_face


@pytest.fixture(scope="session")
def indexed_sample(tmp_path_factory: pytest.TempPathFactory) -> IndexedSample:
    """The sample photos indexed once for the whole session, since indexing is what a real gallery
    costs to set up; only read it (a test that writes takes sample_gallery_copy)."""
    return index_sample(tmp_path_factory.mktemp("indexed_sample"))


@pytest.fixture
def sample_gallery_copy(indexed_sample: IndexedSample, tmp_path: Path) -> Path:
    """A fresh copy of the session's sample gallery, for a test that writes to it."""
    return indexed_sample.copy_to(tmp_path / "gallery")

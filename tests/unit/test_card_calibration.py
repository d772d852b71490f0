"""What `facesim calibrate` says of the card it wrote: the threshold beside each source's own best,
the clustering rule, and the match rule beside the pair threshold used as one (with --match-only,
the match rule alone)."""

from __future__ import annotations

from index.card_calibration import calibration_lines

SCORES = {"precision": 0.9, "recall": 0.8, "f1": 0.84706, "stranger_false_hits": 0.0125, "enrolled_found": 0.95}
CARD = {
    "threshold": 1.07071,
    "calibration": {
        "at_threshold": {"f1": 0.93, "accuracy": 0.94, "n_pairs": 4000},
        "per_source": {
            "lfw": {
                "at_shared_threshold": {"accuracy": 0.95},
                "at_own_threshold": {"accuracy": 0.96},
                "own_best_threshold": 1.1,
            },
        },
        "strangers": {
            "stranger_false_hit_rate": 0.25,
            "stranger_queries": 40,
            "gallery_faces": 1000,
            "pair_false_accept_rate": 0.0123,
        },
    },
    "clustering": {
        "linkage": "two-stage",
        "cut": 0.95,
        "params": {"two-stage": {"core_cut": 0.7}, "dbscan": {"min_samples": 3}},
        "at_chosen": {"lfw": {"f1": 0.9}, "celeba": {"f1": 0.8}},
    },
    "matching": {
        "rule": {"cut": 0.8, "ratio": 0.9, "cohort_z": None, "list_cut": 0.88},
        "at_chosen": {"mean": SCORES},
        "pair_threshold_as_face_rule": {**SCORES, "precision": 0.5},
    },
}
MATCH_LINES = [
    "match rule: cut 0.8, ratio 0.9, cohort_z None, list_cut 0.88",
    "  match rule: photos of this person precision 0.900, recall 0.800, F1 0.847; strangers with a hit 1.2%, "
    "enrolled people found 95.0%",
    "  pair threshold: photos of this person precision 0.500, recall 0.800, F1 0.847; strangers with a hit 1.2%, "
    "enrolled people found 95.0%",
]


def test_a_full_calibration_shows_every_rule_beside_what_it_gives_up() -> None:
    assert calibration_lines(CARD, match_only=False) == [
        "threshold 1.0707: F1 0.9300, accuracy 0.9400 on 4000 validation pairs",
        "  lfw: accuracy 0.9500 at the shared threshold, 0.9600 at its own best 1.1000",
        "  strangers: 25.0% of 40 people outside a 1000-face gallery get a false match; per-pair false accepts 1.23%",
        "clustering: two-stage at 0.9500, core_cut 0.7 (lfw F 0.900, celeba F 0.800)",
        *MATCH_LINES,
    ]


def test_match_only_shows_the_match_rule_alone() -> None:
    assert calibration_lines(CARD, match_only=True) == MATCH_LINES

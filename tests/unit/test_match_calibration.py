"""Calibration of the match rule on synthetic people: the galleries it builds, the scores it
counts, and that the rule it measures is the rule match ships."""

from __future__ import annotations

import numpy as np
import pytest

from facesim.model_card import ClusterRule, MatchRule
from index.match.calibration import (
    calibrate_matching,
    listed_faces,
    pair_threshold_rule,
    score,
    trial_gallery,
)
from index.match.rule import same_person

from support.unit_vectors import at_distance

DIM = 32
CLUSTERING = ClusterRule("complete", 0.5, {})


def people(count: int, faces_each: list[int], spread: float, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """`count` people with faces within `spread` of their own centre, centres far apart."""
    rng = np.random.default_rng(seed)
    labels, vectors = [], []
    for person in range(count):
        centre = rng.normal(size=DIM)
        centre /= np.linalg.norm(centre)
        for face in range(faces_each[person % len(faces_each)]):
            vectors.append(at_distance(centre, spread, 1 + seed * 10_000 + person * 100 + face))
            labels.append(f"p{person}")
    return labels, np.stack(vectors)


def test_a_trial_enrolls_half_the_people_and_holds_one_face_of_each_out() -> None:
    labels, vectors = people(20, [1, 3], 0.2)
    trial = trial_gallery(labels, vectors, seed=0, clustering=CLUSTERING)
    queries, gallery = trial.distances.shape
    strangers = int((~trial.same.any(axis=1)).sum())
    enrolled_queries = queries - strangers
    assert strangers == 10  # half the people, one face each
    # the 10 enrolled: those with one face give it to the gallery, those with three one query and two faces
    assert gallery == (10 - enrolled_queries) + 2 * enrolled_queries
    # every enrolled query has the rest of its person's faces in the gallery, never itself
    assert (trial.distances[trial.same] > 1e-4).all()
    assert set(trial.same.sum(axis=1)[trial.same.any(axis=1)].tolist()) == {2}


def test_scores_count_pairs_strangers_and_enrolled_people_by_hand() -> None:
    """Query 0 is enrolled with faces 0 and 1 in the gallery; query 1 is a stranger."""

    class Trial:
        same = np.array([[True, True, False], [False, False, False]])

    listed = np.array([[True, False, True], [False, False, True]])
    scores = score([Trial()], [listed])  # one right face, two wrong ones, one missed
    assert scores["precision"] == pytest.approx(1 / 3)
    assert scores["recall"] == pytest.approx(1 / 2)
    assert scores["f1"] == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))
    assert scores["stranger_false_hits"] == 1.0 and scores["enrolled_found"] == 1.0


def test_what_calibration_scores_is_what_match_decides() -> None:
    labels, vectors = people(30, [1, 2, 4], 0.35)
    trial = trial_gallery(labels, vectors, seed=1, clustering=CLUSTERING)
    for rule in (MatchRule(0.5, 0.9, 1.0, 0.55), MatchRule(0.6, None, None, 0.6), MatchRule(0.45, 0.8, None, 0.5)):
        assert (listed_faces(trial, rule) == same_person(trial.distances, trial.persons, rule)).all()


def test_separable_people_calibrate_to_a_rule_that_finds_them_and_no_stranger() -> None:
    """Faces 0.35 from their centre (so up to 0.7 apart), people about 1.41 apart: a rule that
    lists every face of the right person and none of anyone else's exists in the grid."""
    labels, vectors = people(40, [1, 2, 5], 0.35)
    sources = ["a"] * len(labels)
    card = calibrate_matching(sources, labels, vectors, threshold=0.8, clustering=ClusterRule("complete", 0.8, {}))
    chosen = card["at_chosen"]["mean"]
    assert chosen["f1"] == 1.0 and chosen["stranger_false_hits"] == 0.0 and chosen["enrolled_found"] == 1.0
    assert card["rule"]["cut"] == pytest.approx(card["cut_fraction_of_threshold"] * 0.8, abs=1e-3)
    assert set(card["best_of_each_family"]) >= {"cut", "cut + ratio", "cut + cohort"}
    assert card["galleries"]["a"]["validation_people"] == 40


def test_a_loose_pair_threshold_is_beaten_where_strangers_lie_near() -> None:
    """People whose faces spread as far as the gaps between some of them: the pair threshold
    as a face rule lists other people's faces; the chosen rule does better by F1."""
    labels, vectors = people(60, [1, 1, 3, 6], 0.55, seed=3)
    sources = ["a"] * len(labels)
    card = calibrate_matching(sources, labels, vectors, threshold=1.2, clustering=ClusterRule("complete", 1.0, {}))
    before = card["pair_threshold_as_face_rule"]
    assert card["at_chosen"]["mean"]["f1"] > before["f1"]
    assert card["at_chosen"]["mean"]["stranger_false_hits"] < before["stranger_false_hits"]
    assert pair_threshold_rule(1.2) == MatchRule(1.2, None, None, 1.2)

"""The model card's numbers (facesim.training.metrics) on hand-computed cases and, on random pair
distances with and without ties, against scikit-learn's independent implementations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score, roc_curve

from facesim.training import metrics
from facesim.training.metrics import best_f1_threshold, roc_auc, stranger_hits, tar_at_far, verification_report

SEEDS = range(6)


def random_pairs(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Same pairs nearer than different ones on average, overlapping as real ones do; odd seeds
    round to two decimals so that many distances tie."""
    rng = np.random.default_rng(seed)
    n_same, n_different = rng.integers(20, 200, size=2)
    distances = np.concatenate([rng.normal(0.8, 0.25, n_same), rng.normal(1.3, 0.25, n_different)])
    distances = np.clip(distances, 0.0, 2.0)
    if seed % 2:
        distances = np.round(distances, 2)
    same = np.concatenate([np.ones(n_same, dtype=bool), np.zeros(n_different, dtype=bool)])
    order = rng.permutation(len(distances))
    return distances[order], same[order]


def candidate_cuts(distances: np.ndarray) -> np.ndarray:
    """Every threshold that separates the distances differently: midway between each two distinct
    values, and above them all where best_f1_threshold puts it (half its 1e-3 step up)."""
    values = np.unique(distances)
    return np.append((values[1:] + values[:-1]) / 2, values[-1] + 5e-4)


# --- best_f1_threshold ----------------------------------------------------------------------------


def test_best_f1_threshold_by_hand() -> None:
    # Four same pairs nearest, then two different ones: F1 is 1 when cutting between 0.4 and 0.5.
    # (Their median, 0.35, would call a same pair different.)
    distances = np.array([0.5, 0.1, 0.4, 0.6, 0.2, 0.3])
    same = np.array([0, 1, 1, 0, 1, 1])
    assert best_f1_threshold(distances, same) == pytest.approx(0.45)


def test_best_f1_threshold_never_cuts_between_equal_distances() -> None:
    # Cutting inside the tie at 0.2 would give F1 1.0 on paper, but no threshold does that:
    # the real choices are 0.15 (F1 2/3), 0.35 (F1 4/5) and above 0.5 (F1 2/3).
    distances = np.array([0.1, 0.2, 0.2, 0.5])
    same = np.array([True, True, False, False])
    assert best_f1_threshold(distances, same) == pytest.approx(0.35)


def test_best_f1_threshold_above_everything_when_all_pairs_are_same() -> None:
    assert best_f1_threshold(np.array([0.3, 0.1]), np.array([1, 1])) == pytest.approx(0.3005)


def test_best_f1_threshold_takes_the_first_of_equal_maxima() -> None:
    # Cutting at 0.15 or above 0.4 both give F1 2/3; the stricter one is kept.
    distances = np.array([0.1, 0.2, 0.3, 0.4])
    same = np.array([1, 0, 0, 1])
    assert best_f1_threshold(distances, same) == pytest.approx(0.15)


@pytest.mark.parametrize("seed", SEEDS)
def test_best_f1_threshold_is_the_best_cut_scikit_learn_finds(seed: int) -> None:
    distances, same = random_pairs(seed)
    cuts = candidate_cuts(distances)
    scores = np.array([f1_score(same, distances < cut, zero_division=0) for cut in cuts])
    chosen = best_f1_threshold(distances, same)
    assert chosen == pytest.approx(cuts[int(np.argmax(scores))])
    assert f1_score(same, distances < chosen) == pytest.approx(scores.max())


# --- roc_auc ---------------------------------------------------------------------------------------


def test_roc_auc_by_hand() -> None:
    # Same pairs at 0.1, 0.4; different at 0.3, 0.5: three of the four (same, different) pairs
    # are ordered right.
    assert roc_auc(np.array([0.1, 0.3, 0.4, 0.5]), np.array([1, 0, 1, 0])) == pytest.approx(0.75)
    assert roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), np.array([1, 1, 0, 0])) == 1.0
    assert roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1])) == 0.0


def test_roc_auc_counts_ties_half() -> None:
    assert roc_auc(np.array([0.3, 0.3]), np.array([1, 0])) == 0.5
    # Same at 0.2, 0.5; different at 0.5, 0.9: 1 + 1 + 0.5 + 1 of 4.
    assert roc_auc(np.array([0.2, 0.5, 0.5, 0.9]), np.array([1, 1, 0, 0])) == pytest.approx(0.875)


@pytest.mark.filterwarnings("error")  # undefined is said with nan, not with a division by zero
def test_roc_auc_is_undefined_with_one_class() -> None:
    assert math.isnan(roc_auc(np.array([0.1, 0.2]), np.array([1, 1])))
    assert math.isnan(roc_auc(np.array([0.1, 0.2]), np.array([0, 0])))


@pytest.mark.parametrize("seed", SEEDS)
def test_roc_auc_agrees_with_scikit_learn(seed: int) -> None:
    distances, same = random_pairs(seed)
    assert roc_auc(distances, same) == pytest.approx(roc_auc_score(same, -distances), abs=1e-12)


# --- tar_at_far -------------------------------------------------------------------------------------


def test_tar_at_far_by_hand() -> None:
    distances = np.array([0.2, 0.4, 0.6, 0.8, 0.1, 0.3, 0.5])
    same = np.array([0, 0, 0, 0, 1, 1, 1], dtype=bool)
    # One false accept in four allowed: accept under 0.4, which takes the same pairs at 0.1 and 0.3.
    assert tar_at_far(distances, same, 0.25) == pytest.approx(2 / 3)
    assert tar_at_far(distances, same, 0.49) == pytest.approx(2 / 3)
    assert tar_at_far(distances, same, 0.5) == 1.0
    # No false accept allowed: accept only under the nearest different pair.
    assert tar_at_far(distances, same, 0.0) == pytest.approx(1 / 3)
    assert tar_at_far(distances, same, 1.0) == 1.0


def test_tar_at_far_does_not_accept_a_pair_at_the_cut() -> None:
    # The same pair at 0.4 ties the cut (the second different pair) and is not accepted.
    distances = np.array([0.2, 0.4, 0.4, 0.1])
    same = np.array([0, 0, 1, 1], dtype=bool)
    assert tar_at_far(distances, same, 0.5) == 0.5


@pytest.mark.parametrize("far", [0.0, 1e-3, 0.01, 0.1, 0.3])
@pytest.mark.parametrize("seed", [0, 2, 4])  # no ties: every ROC point is one pair
def test_tar_at_far_is_the_best_true_accept_rate_scikit_learn_allows(seed: int, far: float) -> None:
    distances, same = random_pairs(seed)
    false_rate, true_rate, _ = roc_curve(same, -distances, drop_intermediate=False)
    assert tar_at_far(distances, same, far) == pytest.approx(true_rate[false_rate <= far].max())


# --- verification_report ----------------------------------------------------------------------------


def test_verification_report_by_hand() -> None:
    distances = np.array([0.1, 0.2, 0.6, 0.7, 0.3, 0.5])
    same = np.array([1, 0, 1, 0, 0, 1])
    # Under 0.5: pairs 0 (same), 1, 4 (different). The same pair at exactly 0.5 is not accepted.
    report = verification_report(distances, same, 0.5)
    assert report == {
        "accuracy": pytest.approx(2 / 6),
        "precision": pytest.approx(1 / 3),
        "recall": pytest.approx(1 / 3),
        "f1": pytest.approx(1 / 3),
        "roc_auc": pytest.approx(roc_auc(distances, same)),
        "tar_at_far_1e-3": pytest.approx(tar_at_far(distances, same, 1e-3)),
        "threshold": 0.5,
        "n_pairs": 6,
    }
    assert report["roc_auc"] == pytest.approx(5 / 9)
    assert report["tar_at_far_1e-3"] == pytest.approx(1 / 3)


def test_verification_report_when_counts_are_equal() -> None:
    # One true accept, one false accept, one false reject: every rate is a half.
    report = verification_report(np.array([0.1, 0.2, 0.9]), np.array([1, 0, 1]), 0.5)
    assert (report["precision"], report["recall"], report["f1"]) == (0.5, 0.5, 0.5)


def test_verification_report_with_nothing_accepted_is_zero_not_an_error() -> None:
    report = verification_report(np.array([0.4, 0.6]), np.array([1, 0]), 0.1)
    assert (report["precision"], report["recall"], report["f1"], report["accuracy"]) == (0.0, 0.0, 0.0, 0.5)


@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:invalid value encountered")
def test_verification_report_with_no_same_pairs_has_zero_recall() -> None:
    report = verification_report(np.array([0.4, 0.6]), np.array([0, 0]), 1.0)
    assert (report["precision"], report["recall"], report["f1"], report["accuracy"]) == (0.0, 0.0, 0.0, 0.0)
    assert math.isnan(report["roc_auc"]) and math.isnan(report["tar_at_far_1e-3"])


@pytest.mark.parametrize("seed", SEEDS)
def test_verification_report_agrees_with_scikit_learn(seed: int) -> None:
    distances, same = random_pairs(seed)
    threshold = float(np.quantile(distances, 0.4))
    predicted = distances < threshold
    report = verification_report(distances, same.astype(int), threshold)
    assert report["accuracy"] == pytest.approx(accuracy_score(same, predicted))
    assert report["precision"] == pytest.approx(precision_score(same, predicted, zero_division=0))
    assert report["recall"] == pytest.approx(recall_score(same, predicted, zero_division=0))
    assert report["f1"] == pytest.approx(f1_score(same, predicted, zero_division=0))
    assert report["roc_auc"] == pytest.approx(roc_auc_score(same, -distances))
    assert report["n_pairs"] == len(distances) and report["threshold"] == threshold


# --- stranger_hits --------------------------------------------------------------------------------


class _InGivenOrder:
    """A stand-in for random.Random whose shuffle keeps the order, so the draw is known by hand."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def shuffle(self, items: list) -> None:
        pass


def test_stranger_hits_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    """People a and b (the first half) fill the gallery: faces at 0, 0.2 and 3. Strangers c and d
    query with their first faces, at 0.5 and 3.9: c is 0.5, 0.3 and 2.5 from the gallery, d 3.9,
    3.7 and 0.9."""
    monkeypatch.setattr(metrics.random, "Random", _InGivenOrder)
    labels = ["a", "a", "b", "c", "c", "d"]
    vectors = np.array([[0.0], [0.2], [3.0], [0.5], [9.0], [3.9]])
    assert stranger_hits(labels, vectors, 1.0) == {
        "gallery_faces": 3,
        "stranger_queries": 2,
        "pair_false_accept_rate": pytest.approx(3 / 6),
        "stranger_false_hit_rate": 1.0,
    }
    at_0_6 = stranger_hits(labels, vectors, 0.6)
    assert at_0_6["pair_false_accept_rate"] == pytest.approx(2 / 6) and at_0_6["stranger_false_hit_rate"] == 0.5
    # A distance equal to the threshold is not a hit: only c's 0.3 is under 0.5.
    at_0_5 = stranger_hits(labels, vectors, 0.5)
    assert at_0_5["pair_false_accept_rate"] == pytest.approx(1 / 6) and at_0_5["stranger_false_hit_rate"] == 0.5
    # c's nearest gallery face is exactly 0.3 away: at a threshold of 0.3 nobody is hit.
    assert stranger_hits(labels, vectors, 0.3)["stranger_false_hit_rate"] == 0.0
    # A gallery of two faces holds a's only: d hits nothing.
    small = stranger_hits(labels, vectors, 1.0, gallery_faces=2)
    assert small == {
        "gallery_faces": 2,
        "stranger_queries": 2,
        "pair_false_accept_rate": pytest.approx(2 / 4),
        "stranger_false_hit_rate": 0.5,
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_stranger_never_queries_a_gallery_holding_their_own_faces(seed: int) -> None:
    """Seven people, three faces each, every person's faces one identical vector and every two
    people sqrt(2) apart: a stranger's own face in the gallery would be a hit at distance 0."""
    labels = [f"p{person}" for person in range(7) for _ in range(3)]
    vectors = np.repeat(np.eye(7), 3, axis=0)
    apart = stranger_hits(labels, vectors, 1.0, seed=seed)
    assert apart == {
        "gallery_faces": 9,  # three people of seven
        "stranger_queries": 4,
        "pair_false_accept_rate": 0.0,
        "stranger_false_hit_rate": 0.0,
    }
    assert stranger_hits(labels, vectors, 1.5, seed=seed)["stranger_false_hit_rate"] == 1.0
    assert stranger_hits(labels, vectors, 1.5, seed=seed) == stranger_hits(labels, vectors, 1.5, seed=seed)


def test_the_draw_of_gallery_and_strangers_is_seeded() -> None:
    """Forty people, two faces each, at random: which half fills the gallery, and which face each
    stranger queries with, move the numbers; the same seed must give the same numbers."""
    rng = np.random.default_rng(3)
    labels = [f"p{person}" for person in range(40) for _ in range(2)]
    vectors = rng.standard_normal((80, 8))
    runs = [stranger_hits(labels, vectors, 3.0, seed=seed) for seed in (0, 0, 1)]
    assert runs[0] == runs[1] != runs[2]

"""The one-to-many rule at each of its bounds: just under a bound the answer is yes, just over it
no, for the cut, the nearest-versus-next-person ratio, the cohort's z and the listing cut."""

from __future__ import annotations

import numpy as np
import pytest

from facesim.config import MATCH_COHORT_MIN_PERSONS, MATCH_COHORT_PERSONS
from facesim.model_card import MatchRule
from index.match.rule import accepted_persons, person_distances, same_person

MARGIN = 1e-3
SIDES = (pytest.param(-MARGIN, True, id="just-under"), pytest.param(MARGIN, False, id="just-over"))
LOOSE = 10.0  # a bound that never decides


def cut_only(cut: float, list_cut: float | None = None) -> MatchRule:
    return MatchRule(cut, None, None, cut if list_cut is None else list_cut)


def test_faces_are_grouped_by_person_and_each_person_gets_its_nearest() -> None:
    found = person_distances(np.array([0.9, 0.3, 0.5, 0.7]), np.array([7, 3, 7, -1]))
    assert found.persons.tolist() == [-1, 3, 7]
    assert found.nearest.tolist() == [[0.7, 0.3, 0.5]]
    assert found.face_person.tolist() == [2, 1, 2, 0]


@pytest.mark.parametrize(("offset", "same"), SIDES)
def test_the_cut_bounds_the_nearest_face(offset: float, same: bool) -> None:
    listed = same_person(np.array([0.6 + offset, 1.5]), np.array([1, 2]), cut_only(0.6))
    assert listed.tolist() == [same, False]


@pytest.mark.parametrize(("offset", "same"), SIDES)
def test_an_accepted_persons_faces_are_listed_under_the_listing_cut(offset: float, same: bool) -> None:
    """Person 1 passes on its nearest face; its second face is listed only under list_cut, and
    a face as near of a person that did not pass is never listed."""
    listed = same_person(np.array([0.3, 0.7 + offset, 0.69]), np.array([1, 1, 2]), cut_only(0.5, list_cut=0.7))
    assert listed.tolist() == [True, same, False]


@pytest.mark.parametrize(("offset", "same"), SIDES)
def test_the_nearest_person_must_be_ratio_times_nearer_than_the_next(offset: float, same: bool) -> None:
    rule = MatchRule(LOOSE, 0.8, None, LOOSE)
    other = 1.0
    nearest = 0.8 * other + offset
    listed = same_person(np.array([nearest, other, other + 0.2]), np.array([1, 2, 2]), rule)
    assert listed.tolist() == [same, False, False]


def test_two_persons_equally_near_are_neither_accepted_by_the_ratio() -> None:
    rule = MatchRule(LOOSE, 0.9, None, LOOSE)
    assert not same_person(np.array([0.4, 0.4]), np.array([1, 2]), rule).any()
    # the ratio never counts a person's own second face as the next person
    assert same_person(np.array([0.4, 0.41, 1.0]), np.array([1, 1, 2]), rule).tolist() == [True, True, False]


def cohort_row(first: float) -> tuple[np.ndarray, np.ndarray]:
    """A nearest person at `first`, then MATCH_COHORT_PERSONS people whose distances have mean
    1.0 and standard deviation 0.1, then one farther person outside the cohort."""
    half = MATCH_COHORT_PERSONS // 2
    cohort = [0.9] * half + [1.1] * half
    distances = np.array([first, *cohort, 0.2 + max(cohort)])
    return distances, np.arange(len(distances))


@pytest.mark.parametrize(("offset", "same"), SIDES)
def test_the_nearest_person_must_stand_out_from_the_cohort(offset: float, same: bool) -> None:
    rule = MatchRule(LOOSE, None, 3.0, LOOSE)
    distances, persons = cohort_row(1.0 - 3.0 * 0.1 + offset)  # z = (mean - d) / sd
    assert same_person(distances, persons, rule)[0] == same


def test_the_cohort_is_skipped_where_too_few_people_are_left_to_judge_by() -> None:
    rule = MatchRule(LOOSE, None, 1e4, LOOSE)  # a z no one reaches
    few = np.array([0.3] + [1.0 + 0.01 * k for k in range(MATCH_COHORT_MIN_PERSONS - 1)])
    enough = np.array([0.3] + [1.0 + 0.01 * k for k in range(MATCH_COHORT_MIN_PERSONS)])
    assert same_person(few, np.arange(len(few)), rule)[0]
    assert not same_person(enough, np.arange(len(enough)), rule)[0]


def test_a_person_alone_in_the_gallery_passes_the_ratio() -> None:
    rule = MatchRule(0.6, 0.8, 3.0, 0.6)
    assert same_person(np.array([0.5, 0.55]), np.array([4, 4]), rule).tolist() == [True, True]


def test_a_batch_is_answered_row_by_row() -> None:
    """Calibration scores whole matrices; one query is one row of them."""
    rng = np.random.default_rng(0)
    distances = rng.uniform(0.2, 1.4, size=(30, 60))
    persons = rng.integers(0, 25, size=60)
    rule = MatchRule(0.7, 0.9, 1.0, 0.8)
    batch = same_person(distances, persons, rule)
    assert batch.shape == distances.shape and batch.any()
    assert all((batch[i] == same_person(distances[i], persons, rule)).all() for i in range(len(distances)))
    found = person_distances(distances, persons)
    assert accepted_persons(found.nearest, rule).sum(axis=1).max() <= 1  # a ratio under 1 picks one person

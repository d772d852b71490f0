"""The one-to-many decision: which people in a gallery, if any, a query face is.

The pair threshold answers verify's question about one pair. Asked of a whole gallery it answers
"yes" far too often, because different-person faces outnumber a person's own by a hundred or a
thousand to one, and one of them is nearly always under it. So a gallery is answered in people,
with evidence a pair does not have (facesim/model_card.py MatchRule holds the calibrated values):

- the person's nearest face must be under `cut` (tighter than the pair threshold);
- it must be clearly nearer than anyone else's (`ratio` times the nearest other person), the
  test that tells "this is Ada" from "this is one of several people who look alike";
- it must stand out from the query's distances to the next people in the gallery (a cohort:
  `cohort_z` standard deviations nearer than the MATCH_COHORT_PERSONS next people's mean), so a
  query whose face is near everyone (blurred, small, turned) is judged against its own spread.
The accepted person's faces under `list_cut` are the photos listed as the same person.

Everything works on a batch: distances of m queries to the same n faces, as calibration
(index.match.calibration) scores them, and as one query is answered, so the rule measured is
the rule shipped.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from facesim.config import MATCH_COHORT_MIN_PERSONS, MATCH_COHORT_PERSONS
from facesim.model_card import MatchRule


class PersonDistances(NamedTuple):
    persons: np.ndarray  # (P,) the distinct person labels, sorted
    nearest: np.ndarray  # (m, P) each query's nearest face of each person
    face_person: np.ndarray  # (n,) each face's column in `nearest`


def person_distances(distances: np.ndarray, persons: np.ndarray) -> PersonDistances:
    """distances: (m, n) or (n,) query-to-face distances; persons: (n,) each face's person label
    (a face in no person gets a label of its own)."""
    rows = np.atleast_2d(np.asarray(distances, dtype=np.float64))
    labels, column = np.unique(np.asarray(persons), return_inverse=True)
    column = column.ravel()
    order = np.argsort(column, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(column[order]) != 0])
    nearest = np.minimum.reduceat(rows[:, order], starts, axis=1) if len(order) else rows[:, :0]
    return PersonDistances(labels, nearest, column)


def accepted_persons(nearest: np.ndarray, rule: MatchRule) -> np.ndarray:
    """(m, P) whether each person answers each query; every test strict, like the pair verdict,
    so a distance exactly at a bound is on the "no" side."""
    accepted = nearest < rule.cut
    ranked = np.sort(nearest, axis=1)
    if rule.ratio is not None:
        first = ranked[:, :1]
        second = ranked[:, 1:2] if ranked.shape[1] > 1 else np.full_like(first, np.inf)
        nearest_other = np.where(nearest == first, second, first)
        accepted &= nearest < rule.ratio * nearest_other
    cohort = ranked[:, 1 : 1 + MATCH_COHORT_PERSONS]
    if rule.cohort_z is not None and cohort.shape[1] >= MATCH_COHORT_MIN_PERSONS:
        spread = np.maximum(cohort.std(axis=1, keepdims=True), 1e-6)
        accepted &= (cohort.mean(axis=1, keepdims=True) - nearest) / spread > rule.cohort_z
    return accepted


def same_person(distances: np.ndarray, persons: np.ndarray, rule: MatchRule) -> np.ndarray:
    """(m, n) or (n,) as `distances`: whether each face is listed as the query's person."""
    found = person_distances(distances, persons)
    listed = accepted_persons(found.nearest, rule)[:, found.face_person] & (np.atleast_2d(distances) < rule.list_cut)
    return listed if np.ndim(distances) == 2 else listed[0]

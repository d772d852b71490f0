"""assign_stable_ids at its edges: ties between clusters, and input it must refuse rather than
misnumber (the common cases are in test_clustering.py, the properties in
test_clustering_properties.py)."""

from __future__ import annotations

import numpy as np
import pytest

from index.persons.ids import assign_stable_ids


def test_a_person_split_in_equal_halves_keeps_the_id_on_the_smaller_label() -> None:
    # Person 5's two faces now sit in clusters 1 and 0, cluster 1's face first in the input:
    # the documented tie-break (smaller label) decides, not the order faces arrive in.
    ids, next_id = assign_stable_ids({10: 5, 11: 5}, np.array([10, 11]), np.array([1, 0]), next_id=6)
    assert ids == {10: 6, 11: 5} and next_id == 7


@pytest.mark.parametrize(
    ("face_ids", "labels"),
    [
        (np.array([1, 2, 3]), np.array([0, 1])),
        (np.array([[1, 2], [3, 4]]), np.array([[0, 0], [1, 1]])),
    ],
)
def test_faces_and_labels_must_be_one_dimensional_and_paired(face_ids: np.ndarray, labels: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"^face_ids and labels must be 1-D and equal length: \("):
        assign_stable_ids({}, face_ids, labels, next_id=1)


def test_a_face_listed_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="^face_ids must be unique$"):
        assign_stable_ids({}, np.array([1, 1]), np.array([0, 1]), next_id=1)


def test_a_named_person_keeps_its_id_through_a_merge_with_a_larger_unnamed_one() -> None:
    """Person 11 (named, one face) and person 12 (three faces) now form one cluster: by overlap
    alone 12 would win, but the name, and so the id, stays; the unnamed id is not handed out."""
    previous = {1: 11, 2: 12, 3: 12, 4: 12}
    faces, merged = np.array([1, 2, 3, 4]), np.array([0, 0, 0, 0])
    assert assign_stable_ids(previous, faces, merged, 13, prefer={11}) == (dict.fromkeys(range(1, 5), 11), 13)
    assert assign_stable_ids(previous, faces, merged, 13) == (dict.fromkeys(range(1, 5), 12), 13)

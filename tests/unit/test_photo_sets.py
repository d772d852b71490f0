"""The cannot-link bookkeeping every clustering rule relies on: a set of faces knows its photos,
and nothing joins two faces of one photo, however the joins are offered."""

from __future__ import annotations

import numpy as np

from index.clustering.photo_sets import PhotoDisjointSets, attach_once


def test_a_union_carries_photos_and_refuses_a_shared_one() -> None:
    sets = PhotoDisjointSets(np.array([10, 11, 12, 10]))
    assert sets.union(0, 1) is not None and sets.union(1, 2) is not None
    assert sets.union(2, 0) is None  # one set already
    assert sets.union(3, 2) is None  # face 3 shares photo 10 with face 0, now in the same set
    roots = sets.roots()
    assert roots[0] == roots[1] == roots[2] != roots[3] and roots.dtype == np.int64
    assert sets.photos[int(roots[0])] == {10, 11, 12}


def test_attachment_takes_the_first_offer_and_never_repeats_a_photo() -> None:
    labels = np.array([0, 0, 2, 3, 4])
    photo_ids = np.array([10, 11, 12, 12, 13])
    photos = {0: {10, 11}, 2: {12}, 3: {12}, 4: {13}}
    offers = [(2, 0), (3, 0), (4, 0), (4, 2)]  # faces 2 and 3 come from one photo
    attach_once(labels, photo_ids, photos, offers)
    assert labels.tolist() == [0, 0, 0, 3, 0]  # 3 is refused; 4 keeps its first offer
    assert photos[0] == {10, 11, 12, 13}

"""Cannot-link bookkeeping shared by the clustering rules: groups of faces that know which photos
they hold, so that no rule ever puts two faces of one photo into one person.

Why one place: single linkage, HDBSCAN's tree, DBSCAN's borders and the two-stage rule's
attachment all take "join unless a photo would repeat" decisions, and that rule must read the
same everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from index.clustering.disjoint_sets import DisjointSets


class PhotoDisjointSets(DisjointSets):
    """Union-find over faces whose every set carries its photos."""

    def __init__(self, photo_ids: np.ndarray) -> None:
        super().__init__(len(photo_ids))
        self.photos = [{photo} for photo in photo_ids.tolist()]

    def union(self, a: int, b: int) -> tuple[int, int] | None:
        """Joins the sets of faces a and b: (the root kept, the root absorbed), or None when they
        are one set already or share a photo. The set with more photos keeps its root."""
        a, b = self.find(a), self.find(b)
        if a == b or not self.photos[a].isdisjoint(self.photos[b]):
            return None
        keep, gone = (a, b) if len(self.photos[a]) >= len(self.photos[b]) else (b, a)
        self.parent[gone] = keep
        self.photos[keep] |= self.photos[gone]
        self.photos[gone] = set()
        return keep, gone


def attach_once(
    labels: np.ndarray, photo_ids: np.ndarray, photos: dict[int, set], offers: Iterable[tuple[int, int]]
) -> np.ndarray:
    """Each face takes the first (face, person) offer whose person holds no face of its photo yet;
    later offers for a face that moved are ignored. labels and photos are updated in place."""
    attached = np.zeros(len(labels), dtype=bool)
    for face, person in offers:
        if attached[face] or photo_ids[face] in photos[person]:
            continue
        labels[face] = person
        photos[person].add(photo_ids[face])
        attached[face] = True
    return labels

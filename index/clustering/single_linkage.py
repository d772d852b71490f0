"""Single linkage with cannot-link: faces joined by a chain of under-cut edges are one person,
unless the join would put two faces of one photo together.

Why a candidate at all, when it chains (see index/clustering/cluster.py): it is the textbook baseline the
calibration must beat, and DBSCAN's cores are joined by exactly this rule.

Kruskal's order (shortest edge first, ties on face index) is greedy single linkage: the next
edge joining two groups is their minimum cross distance, and an edge refused for a shared photo
stays refused, since groups only grow.
"""

from __future__ import annotations

import numpy as np

from index.clustering.photo_sets import PhotoDisjointSets


def single_linkage(photo_ids: np.ndarray, first: np.ndarray, second: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """A group number per face (not yet numbered by first face). first, second, distance: the
    under-cut edges; a face with none stays alone."""
    sets = PhotoDisjointSets(photo_ids)
    order = np.lexsort((second, first, distance))
    for a, b in zip(first[order].tolist(), second[order].tolist(), strict=True):
        sets.union(a, b)
    return sets.roots()

"""DBSCAN as Immich and PhotoPrism cluster faces, with cannot-link.

Immich marks a face a core when at least minFaces faces (itself included) lie within its maximum
distance, gives it the person of its nearest matched face, and lets a face that is not a core
join a person only through a core near it. That is DBSCAN (Ester et al., 1996) with eps the cut
and min_samples = minFaces: cores closer than eps are one person (single linkage over the cores),
border faces attach to their nearest core, and the rest, noise, stay persons of their own.

Why a candidate: density is the usual answer to single linkage's chaining, since a run of
blurry faces each with one neighbour cannot glue two people together.

Cannot-link: cores join by index/clustering/single_linkage.py, which refuses a join that would put one
photo's faces together; a border face goes to its nearest core whose person does not yet hold a
face of its photo. Borders attach in order of their distance (ties on face index), so the result
does not depend on the order faces are listed in.
"""

from __future__ import annotations

import numpy as np

from index.clustering.photo_sets import attach_once
from index.clustering.single_linkage import single_linkage


def dbscan(
    photo_ids: np.ndarray, first: np.ndarray, second: np.ndarray, distance: np.ndarray, min_samples: int
) -> np.ndarray:
    """A group number per face. first, second, distance: the under-eps edges between faces of
    different photos (so a face's own photo never counts towards its density)."""
    if min_samples < 1:
        raise ValueError(f"min_samples must be at least 1, not {min_samples}")
    n = len(photo_ids)
    degree = np.bincount(first, minlength=n) + np.bincount(second, minlength=n)
    core = degree + 1 >= min_samples
    both = core[first] & core[second]
    labels = single_linkage(photo_ids, first[both], second[both], distance[both])
    photos: dict[int, set] = {}
    for label, photo in zip(labels.tolist(), photo_ids.tolist(), strict=True):
        photos.setdefault(label, set()).add(photo)
    one = core[first] != core[second]
    border = np.where(core[first[one]], second[one], first[one])
    anchor = np.where(core[first[one]], first[one], second[one])
    order = np.lexsort((anchor, border, distance[one]))
    # An anchor is a core, and cores keep their labels: each offer's person is known up front.
    offers = zip(border[order].tolist(), labels[anchor[order]].tolist(), strict=True)
    return attach_once(labels, photo_ids, photos, offers)

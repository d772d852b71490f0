"""The two-stage rule's second stage: faces left alone by a tight clustering join the core they
are nearest to, under the cut.

Why: a tight cut (complete linkage well under the verification threshold) makes cores that are
almost never two people, but leaves a person's blurry or turned faces alone; a loose cut finds
those faces but also merges look-alikes. Attaching only lone faces, each to one core and never
to each other, gets the recall back without letting two cores, or a chain of lone faces, merge.

A face's distance to a core is its mean distance to the core's faces (average linkage between a
face and a group, the rule calibration favoured). Attachments go shortest first (ties on face,
then core), and a core that holds a face of the lone face's photo is skipped for the next
nearest, so cannot-link holds and the order faces are listed in does not matter.
"""

from __future__ import annotations

import numpy as np

from facesim.geometry import distance_from_inner_product
from facesim.model_card import is_same_person
from index.clustering.photo_sets import attach_once


def attach_to_cores(
    vectors: np.ndarray,
    photo_ids: np.ndarray,
    labels: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    cut: float,
) -> np.ndarray:
    """labels with lone faces moved into cores. labels: the first stage's groups (a core is a
    group of two or more faces). first, second: edges under `cut`; a core is tried for a lone
    face only where one of its faces is an edge away."""
    labels = labels.copy()
    size = np.bincount(labels)
    in_core = size[labels] >= 2
    loose = in_core[first] != in_core[second]
    face = np.where(in_core[first[loose]], second[loose], first[loose])
    core = labels[np.where(in_core[first[loose]], first[loose], second[loose])]
    pairs = np.unique(np.stack([core, face], axis=1), axis=0)
    if len(pairs) == 0:
        return labels
    members = {int(c): np.flatnonzero(labels == c) for c in np.unique(pairs[:, 0]).tolist()}
    means = np.empty(len(pairs), dtype=np.float64)
    for c, rows in members.items():
        at = np.flatnonzero(pairs[:, 0] == c)
        products = vectors[pairs[at, 1]].astype(np.float64) @ vectors[rows].astype(np.float64).T
        means[at] = distance_from_inner_product(products).mean(axis=1)
    keep = is_same_person(means, cut)
    pairs, means = pairs[keep], means[keep]
    photos = {c: set(photo_ids[rows].tolist()) for c, rows in members.items()}
    offers = ((f, c) for c, f in pairs[np.lexsort((pairs[:, 0], pairs[:, 1], means))].tolist())
    return attach_once(labels, photo_ids, photos, offers)

"""Stable person IDs: a re-clustering keeps the IDs users have already named.

Cluster labels are renumbered on every run, but a user names person 17 "Grandma" and expects her
to stay 17 after adding photos. So each new cluster inherits the old person id it shares the most
faces with, and only genuinely new people get new ids.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection

import numpy as np


def assign_stable_ids(
    previous: dict[int, int],
    face_ids: np.ndarray,
    labels: np.ndarray,
    next_id: int,
    prefer: Collection[int] = (),
) -> tuple[dict[int, int], int]:
    """Map every face to a person id, reusing previous ids by greatest overlap.

    previous: face_id -> person_id from the last run (faces since deleted are simply absent from
    face_ids). face_ids, labels: this run's faces and their cluster labels. next_id: the first id
    never handed out. Greedy by overlap: the (cluster, old id) pair sharing the most faces is
    matched first, and each cluster and each old id is used at most once. Hence a split keeps the
    id on the part with more of the old faces, and a merge keeps the id of the old person
    contributing more faces. Equal overlaps go to the smaller old id (the earlier-made person),
    then the smaller label, so equal input gives equal output. Old ids in `prefer` (the named
    persons) are matched before all others, each to the cluster holding most of its faces: when a
    named and an unnamed person merge, the name stays on the merged person whatever their sizes.
    Clusters with no old id get fresh ids from next_id up, in label order. Returns (face_id ->
    person_id, the new next_id).
    """
    face_ids = np.asarray(face_ids)
    labels = np.asarray(labels)
    if face_ids.shape != labels.shape or face_ids.ndim != 1:
        raise ValueError(f"face_ids and labels must be 1-D and equal length: {face_ids.shape} vs {labels.shape}")
    if len(np.unique(face_ids)) != len(face_ids):
        raise ValueError("face_ids must be unique")
    if previous and next_id <= max(previous.values()):
        # A fresh id equal to an old one would silently give a new person an old person's name.
        raise ValueError(f"next_id {next_id} is not above the largest previous person id {max(previous.values())}")

    overlap: Counter[tuple[int, int]] = Counter()
    for face, label in zip(face_ids.tolist(), labels.tolist(), strict=True):
        old = previous.get(face)
        if old is not None:
            overlap[(label, old)] += 1
    preferred = set(prefer)
    ranked = sorted(overlap.items(), key=lambda item: (item[0][1] not in preferred, -item[1], item[0][1], item[0][0]))
    person_of_label: dict[int, int] = {}
    used: set[int] = set()
    for (label, old), _ in ranked:
        if label not in person_of_label and old not in used:
            person_of_label[label] = old
            used.add(old)
    for label in sorted(set(labels.tolist())):
        if label not in person_of_label:
            person_of_label[label] = next_id
            next_id += 1
    assignment = {face: person_of_label[label] for face, label in zip(face_ids.tolist(), labels.tolist(), strict=True)}
    return assignment, next_id

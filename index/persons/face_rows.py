"""The faces of persons as rows: a face, its person, its photo and how typical of the person it is.

Persons (index.persons.persons) produce them and the exports (index.export) write them, so they
are plain values (no store, no FAISS), and any caller that has labels, vectors and face metadata
can make them. Order is the one a person reviewing clusters wants: largest person first, and
within a person the most typical faces (closest to the centre) first, outliers last.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath

import numpy as np


@dataclass(frozen=True)
class FaceRow:
    """One face of one person: what `clusters`, `person` and every export list."""

    person_id: int
    name: str
    face_id: int
    photo_path: str
    box: tuple[int, int, int, int]  # left, top, right, bottom, in the upright photo's pixels
    distance: float  # to the person's centre (normalised mean vector)
    other_paths: tuple[str, ...] = ()  # byte-identical copies of the photo elsewhere


def build_rows(
    person_ids: np.ndarray,
    face_ids: np.ndarray,
    vectors: np.ndarray,
    photo_paths: Sequence[str | PurePath],
    boxes: np.ndarray | Sequence[Sequence[int]],
    names: Mapping[int, str] | None = None,
) -> list[FaceRow]:
    """Rows for every face, largest person first (ties: smaller id), then by distance to centre.

    The centre is the normalised mean of a person's unit vectors, so distances are on the same
    0..2 scale as the threshold and a face far from its centre is a candidate mistake.
    """
    person_ids = np.asarray(person_ids)
    face_ids = np.asarray(face_ids)
    vectors = np.asarray(vectors, dtype=np.float64)
    boxes = np.asarray(boxes)
    n = len(person_ids)
    if not (face_ids.shape == (n,) and vectors.ndim == 2 and len(vectors) == n and len(photo_paths) == n):
        raise ValueError("person_ids, face_ids, vectors and photo_paths must describe the same faces")
    if boxes.shape != (n, 4):
        raise ValueError(f"boxes must have shape ({n}, 4) as (left, top, right, bottom), not {boxes.shape}")
    names = names or {}
    people, person_index, sizes = np.unique(person_ids, return_inverse=True, return_counts=True)
    person_index = person_index.reshape(-1)
    centres = np.zeros((len(people), vectors.shape[1]))
    np.add.at(centres, person_index, vectors)
    centres /= np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), np.finfo(np.float64).tiny)
    distances = np.linalg.norm(vectors - centres[person_index], axis=1)
    order = np.lexsort((face_ids, distances, person_ids, -sizes[person_index]))
    return [
        FaceRow(
            person_id=int(person_ids[i]),
            name=names.get(int(person_ids[i]), ""),
            face_id=int(face_ids[i]),
            photo_path=str(photo_paths[i]),
            box=(int(boxes[i, 0]), int(boxes[i, 1]), int(boxes[i, 2]), int(boxes[i, 3])),
            distance=float(distances[i]),
        )
        for i in order.tolist()
    ]

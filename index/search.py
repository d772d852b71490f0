"""Nearest faces in a gallery for query vectors, with the model card's same-person verdict."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facesim import model_card
from facesim.errors import FacesimError
from index.gallery import Gallery


@dataclass(frozen=True)
class Match:
    face_id: int
    photo_id: int
    path: Path
    box: tuple[int, int, int, int]  # left, top, right, bottom in the upright photo
    distance: float  # Euclidean between unit vectors: 0 identical, 2 opposite
    same_person: bool  # is_same_person(distance, the model card's calibrated threshold)


def match(
    gallery: Gallery,
    query_vectors: np.ndarray,
    top_k: int = 10,
    *,
    model_id: str | None = None,
    threshold: float | None = None,
    every_match: bool = False,
) -> list[list[Match]]:
    """The top_k nearest gallery faces for each query vector (one row per query; a single
    1-D vector counts as one query), nearest first. With every_match, instead every face under
    the threshold, however many: the search widens until a row's farthest hit is a different
    person or the gallery is exhausted.

    Refuses a gallery built by another model than the one that made the queries (`model_id`,
    default the model card's), since distances across models mean nothing. Only faces of
    photos whose status is `indexed` are returned, even if the FAISS file were behind.
    """
    if top_k < 1:
        raise ValueError("top_k must be at least 1")
    mismatch = gallery.model_mismatch(model_id or model_card.model_id())
    if mismatch:
        raise FacesimError(mismatch)
    limit = model_card.threshold() if threshold is None else threshold
    queries = np.atleast_2d(np.asarray(query_vectors, dtype=np.float32))
    vectors = gallery.vectors()
    if queries.shape[1] != vectors.dim:
        raise FacesimError(f"query vectors have {queries.shape[1]} dimensions, the gallery's have {vectors.dim}")
    found = vectors.search(queries, top_k)
    while (
        every_match
        and top_k < vectors.size
        and any(len(row) == top_k and model_card.is_same_person(row[-1][1], limit) for row in found)
    ):
        top_k = min(vectors.size, top_k * 4)
        found = vectors.search(queries, top_k)
    hits = gallery.store.face_hits([face_id for row in found for face_id, _ in row])
    results = []
    for row in found:
        matches = []
        for face_id, distance in row:
            hit = hits.get(face_id)
            if hit is None or hit.status != "indexed":
                continue
            same = model_card.is_same_person(distance, limit)
            if same or not every_match:
                matches.append(Match(face_id, hit.photo_id, Path(hit.path), hit.box, distance, same))
        results.append(matches)
    return results

"""The neighbour graph every clustering rule works on: each face's nearest faces under the cut,
and the exact distance arithmetic the linkages check a merge with.

Why a sparse graph. Exact linkage needs every pairwise distance (n^2/2 = 5e9 at 100k faces).
A FAISS kNN graph (exact IndexFlatIP up to EXACT_SEARCH_MAX_FACES faces, HNSW above) says which
groups are worth comparing; only edges under T are kept, since a pair of groups whose cross pairs
are all at T or more cannot have a mean (let alone a maximum) under T. Each face also gets a
floor: a lower bound on its distance to any face it has no edge with, by which average linkage
(index.clustering.linkages) puts off exact sums.

Limits: groups never joined by a kept edge are never compared, so a person whose faces form two
sub-blobs each denser than k faces can stay split; raise k for galleries with very large persons.
With HNSW the neighbour lists, and so the floors, are approximate: that can change the merge
order, never the rule that every merge is exact.

Determinism: HNSW is built single-threaded (FAISS's multi-threaded HNSW add is order-dependent),
and FAISS search is deterministic, so the same vectors give the same graph.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import faiss
import numpy as np

from facesim.geometry import distance_from_inner_product
from facesim.model_card import is_same_person

DEFAULT_K = 40
EXACT_SEARCH_MAX_FACES = 20_000
HNSW_LINKS = 24
HNSW_EF_CONSTRUCTION = 60
HNSW_MIN_EF_SEARCH = 64
_BLOCK_ELEMENTS = 1 << 22  # float32 products per block: 16 MiB
_UNIT_TOLERANCE = 1e-3


@dataclass(frozen=True)
class NeighbourGraph:
    """Undirected under-threshold kNN edges (first < second) and each face's distance floor.

    floor[i] is a lower bound on the distance from face i to any face it has no edge with.
    """

    first: np.ndarray
    second: np.ndarray
    distance: np.ndarray
    floor: np.ndarray


def checked_vectors(vectors: np.ndarray, threshold: float, k: int) -> np.ndarray:
    """Refuse input the distance arithmetic would silently get wrong (non-unit vectors, bad T or k)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be 2-D (faces x dims), not shape {vectors.shape}")
    if not 0.0 < threshold <= 2.0:
        raise ValueError(f"threshold must be in (0, 2] for unit vectors, not {threshold}")
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    if len(vectors):
        norms = np.linalg.norm(vectors, axis=1)
        if not np.all(np.abs(norms - 1.0) <= _UNIT_TOLERANCE):
            raise ValueError("vectors must be unit length (distances assume |v| = 1)")
    return vectors


def _knn_search(vectors: np.ndarray, wanted: int, exact_search_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Inner products and ids of each face's `wanted` nearest faces (itself usually among them)."""
    n, dim = vectors.shape
    if n <= exact_search_max:
        index = faiss.IndexFlatIP(dim)
        index.add(vectors)
    else:
        index = faiss.IndexHNSWFlat(dim, HNSW_LINKS, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            index.add(vectors)
        finally:
            faiss.omp_set_num_threads(threads)
        index.hnsw.efSearch = max(wanted, HNSW_MIN_EF_SEARCH)
    similarities, ids = index.search(vectors, wanted)
    return similarities, ids


def neighbour_graph(
    vectors: np.ndarray, threshold: float, k: int, exact_search_max: int, photo_ids: np.ndarray | None
) -> NeighbourGraph:
    """The kNN graph's under-threshold edges, minus same-photo pairs, which may never merge."""
    n = len(vectors)
    wanted = min(k + 1, n)
    similarities, ids = _knn_search(vectors, wanted, exact_search_max)
    rows = np.repeat(np.arange(n, dtype=np.int64), wanted).reshape(n, wanted)
    valid = (ids >= 0) & (ids != rows)
    distance = distance_from_inner_product(similarities.astype(np.float64))
    if wanted == n:
        # Every face was searched against every face: only pruned pairs (>= T) are missing.
        floor = np.full(n, threshold, dtype=np.float64)
    else:
        farthest = np.where(valid, distance, -np.inf).max(axis=1)
        floor = np.clip(np.minimum(farthest, threshold), 0.0, None)
    keep = valid & is_same_person(distance, threshold)
    first = np.minimum(rows[keep], ids[keep])
    second = np.maximum(rows[keep], ids[keep])
    edge_distance = distance[keep]
    if photo_ids is not None:
        different_photo = photo_ids[first] != photo_ids[second]
        first, second, edge_distance = first[different_photo], second[different_photo], edge_distance[different_photo]
    _, unique = np.unique(first * n + second, return_index=True)
    return NeighbourGraph(first[unique], second[unique], edge_distance[unique], floor)


def distance_sums(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """For each row of right, the sum of its distances to all rows of left."""
    sums = np.zeros(len(right), dtype=np.float64)
    for products in _products_in_blocks(left, right):
        sums += distance_from_inner_product(products).sum(axis=0, dtype=np.float64)
    return sums


def max_cross_distance(left: np.ndarray, right: np.ndarray) -> float:
    """The largest distance between a row of left and a row of right."""
    lowest = np.inf
    for products in _products_in_blocks(left, right):
        lowest = min(lowest, float(products.min()))
    return float(distance_from_inner_product(lowest))


def _products_in_blocks(left: np.ndarray, right: np.ndarray) -> Iterator[np.ndarray]:
    """left @ right.T, a block of left's rows at a time: two grown groups' full product could
    exceed memory, while a block holds at most _BLOCK_ELEMENTS products."""
    step = max(1, _BLOCK_ELEMENTS // max(1, len(right)))
    for start in range(0, len(left), step):
        yield left[start : start + step] @ right.T

"""Group a gallery's faces into persons: average linkage over a sparse kNN graph, with cannot-link.

Why average linkage. Single link, and Chinese whispers (label propagation over the same graph of
under-threshold pairs), chain: A~B, B~C, ..., Y~Z puts A and Z in one person although they are far
apart, and at gallery scale one run of blurry faces or lookalikes glues families together. Here two
groups merge only while the mean distance over *all* their cross pairs stays under the calibrated
threshold T, so a merge is justified by the groups as a whole, not by their closest pair.

Why cannot-link. Two faces in one photo are two people; no cluster may contain both.

Why a sparse graph. Exact average linkage needs every pairwise distance (n^2/2 = 5e9 at 100k faces).
A FAISS kNN graph (exact IndexFlatIP up to EXACT_SEARCH_MAX_FACES faces, HNSW above) says which
groups are worth comparing; only edges under T are kept, since a pair of groups whose cross pairs
are all at T or more cannot have a mean under T.

How average linkage is kept correct on a sparse graph (the design choice). Each pair of adjacent
groups carries the sum and count of the cross distances the graph knows; most cross pairs of two
grown groups are unknown. Unknown pairs are neither taken as T nor as 0. Counting them as T would
turn the rule into "the mean of the *known* pairs is under T", which lets two large groups merge
on one bridging edge, the very chaining average linkage exists to stop. Instead:

* the decision is exact: before a merge whose cross distances are not all known, the full
  |A| x |B| sum is computed from the vectors, so no merge rests on an estimate;
* the heap order uses a lower bound: known sum plus, for each unknown pair, a floor on its
  distance (a pair absent from the kNN lists is at least as far as either face's k-th neighbour,
  and a pruned pair at least T). With lower bounds as keys, a popped exact key is the smallest true
  mean (as in A* search), so merges happen in exact greedy average-linkage order, and pairs whose
  bound already reaches T are never computed.

Limits: groups never joined by a kept edge are never compared, so a person whose faces form two
sub-blobs each denser than k faces can stay split; raise k for galleries with very large persons.
With HNSW the neighbour lists, and so the floors, are approximate: that can change the merge order,
never the rule that every merge has an exact mean under T.

Determinism: same input, same labels. Ties break on face index, HNSW is built single-threaded
(FAISS's multi-threaded HNSW add is order-dependent), FAISS search is deterministic, and labels
are numbered by each cluster's first face.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import faiss
import numpy as np

DEFAULT_K = 40
EXACT_SEARCH_MAX_FACES = 20_000
HNSW_LINKS = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_MIN_EF_SEARCH = 64
CHINESE_WHISPERS_ITERATIONS = 100
_BLOCK_ROWS = 2048
_UNIT_TOLERANCE = 1e-3


@dataclass(frozen=True)
class _Graph:
    """Undirected under-threshold kNN edges (first < second) and each face's distance floor.

    floor[i] is a lower bound on the distance from face i to any face it has no edge with.
    """

    first: np.ndarray
    second: np.ndarray
    distance: np.ndarray
    floor: np.ndarray


def cluster_faces(
    vectors: np.ndarray,
    photo_ids: np.ndarray,
    threshold: float,
    k: int = DEFAULT_K,
    *,
    exact_search_max: int = EXACT_SEARCH_MAX_FACES,
) -> np.ndarray:
    """Label every face with a person cluster (0..C-1); singletons are clusters of their own.

    vectors: (n, d) unit-length float32 embeddings. photo_ids: (n,) the photo each face came
    from; faces sharing a photo id never share a cluster. threshold: the calibrated same-person
    distance T; two groups merge only if their mean cross distance is under it. k: neighbours
    per face in the candidate graph. exact_search_max: largest n searched exhaustively; above
    it HNSW is used (a parameter so tests and benchmarks can exercise both paths).
    Labels are numbered in order of each cluster's first face, so equal input gives equal output.
    """
    vectors = _checked_vectors(vectors, threshold, k)
    photo_ids = np.asarray(photo_ids)
    if photo_ids.shape != (len(vectors),):
        raise ValueError(f"photo_ids must have shape ({len(vectors)},), not {photo_ids.shape}")
    if len(vectors) == 0:
        return np.zeros(0, dtype=np.int64)
    graph = _neighbour_graph(vectors, threshold, k, exact_search_max, photo_ids)
    groups = _agglomerate(vectors, photo_ids, graph, threshold)
    raw = np.empty(len(vectors), dtype=np.int64)
    for number, members in enumerate(groups):
        raw[members] = number
    return _numbered_by_first_face(raw)


def chinese_whispers(
    vectors: np.ndarray,
    threshold: float,
    k: int = DEFAULT_K,
    iterations: int = CHINESE_WHISPERS_ITERATIONS,
    seed: int = 0,
    *,
    exact_search_max: int = EXACT_SEARCH_MAX_FACES,
) -> np.ndarray:
    """dlib's Chinese whispers, the baseline the benchmark compares cluster_faces against.

    As in dlib's chinese_whispers_clustering: faces closer than threshold are joined by an edge of
    weight 1, each face also votes for its own label (dlib's loop includes j == i), and a face
    takes the label with the highest vote, the smallest label on ties. Two differences, for
    scale: edges come from the same kNN graph as cluster_faces instead of all n^2 pairs, and
    each iteration visits every face once in a seeded random order, stopping early once a full
    pass changes nothing (a fixed point, so further passes could not change anything either).
    No cannot-link: this is the baseline as dlib ships it.
    """
    vectors = _checked_vectors(vectors, threshold, k)
    n = len(vectors)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    graph = _neighbour_graph(vectors, threshold, k, exact_search_max, None)
    neighbours: list[list[int]] = [[] for _ in range(n)]
    for a, b in zip(graph.first.tolist(), graph.second.tolist(), strict=True):
        neighbours[a].append(b)
        neighbours[b].append(a)
    labels = list(range(n))
    rng = np.random.default_rng(seed)
    for _ in range(iterations):
        changed = False
        for node in rng.permutation(n).tolist():
            adjacent = neighbours[node]
            if not adjacent:
                continue
            votes = {labels[node]: 1}
            for other in adjacent:
                votes[labels[other]] = votes.get(labels[other], 0) + 1
            best = min(votes, key=lambda label: (-votes[label], label))
            if best != labels[node]:
                labels[node] = best
                changed = True
        if not changed:
            break
    return _numbered_by_first_face(np.asarray(labels, dtype=np.int64))


def _checked_vectors(vectors: np.ndarray, threshold: float, k: int) -> np.ndarray:
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
        index.hnsw.efSearch = max(2 * wanted, HNSW_MIN_EF_SEARCH)
    similarities, ids = index.search(vectors, wanted)
    return similarities, ids


def _neighbour_graph(
    vectors: np.ndarray, threshold: float, k: int, exact_search_max: int, photo_ids: np.ndarray | None
) -> _Graph:
    """The kNN graph's under-threshold edges, minus same-photo pairs, which may never merge."""
    n = len(vectors)
    wanted = min(k + 1, n)
    similarities, ids = _knn_search(vectors, wanted, exact_search_max)
    rows = np.repeat(np.arange(n, dtype=np.int64), wanted).reshape(n, wanted)
    valid = (ids >= 0) & (ids != rows)
    distance = np.sqrt(np.clip(2.0 - 2.0 * similarities.astype(np.float64), 0.0, None))
    if wanted == n:
        # Every face was searched against every face: only pruned pairs (>= T) are missing.
        floor = np.full(n, threshold, dtype=np.float64)
    else:
        farthest = np.where(valid, distance, -np.inf).max(axis=1)
        floor = np.clip(np.minimum(farthest, threshold), 0.0, None)
    keep = valid & (distance < threshold)
    first = np.minimum(rows[keep], ids[keep])
    second = np.maximum(rows[keep], ids[keep])
    edge_distance = distance[keep]
    if photo_ids is not None:
        different_photo = photo_ids[first] != photo_ids[second]
        first, second, edge_distance = first[different_photo], second[different_photo], edge_distance[different_photo]
    _, unique = np.unique(first * n + second, return_index=True)
    return _Graph(first[unique], second[unique], edge_distance[unique], floor)


def _cross_distance_sum(vectors: np.ndarray, first: list[int], second: list[int]) -> float:
    """Exact sum of all |first| x |second| distances, in row blocks to bound memory."""
    left, right = vectors[first], vectors[second]
    total = 0.0
    for start in range(0, len(left), _BLOCK_ROWS):
        products = left[start : start + _BLOCK_ROWS] @ right.T
        total += float(np.sqrt(np.maximum(2.0 - 2.0 * products, 0.0)).sum(dtype=np.float64))
    return total


def _agglomerate(vectors: np.ndarray, photo_ids: np.ndarray, graph: _Graph, threshold: float) -> list[list[int]]:
    """Greedy average linkage over graph-adjacent groups; returns each final group's faces.

    A group is named by one of its faces. adjacency[x][y] is a [known distance sum, known pair
    count] list shared by both directions. Heap entries carry both groups' versions, so entries
    made stale by a later merge are skipped when popped.
    """
    n = len(vectors)
    size = [1] * n
    members = [[i] for i in range(n)]
    photos = [{photo} for photo in photo_ids.tolist()]
    floor = graph.floor.tolist()
    version = [0] * n
    adjacency: list[dict[int, list[float]]] = [{} for _ in range(n)]
    heap: list[tuple[float, int, int, int, int]] = []
    for a, b, d in zip(graph.first.tolist(), graph.second.tolist(), graph.distance.tolist(), strict=True):
        record = [d, 1]
        adjacency[a][b] = record
        adjacency[b][a] = record
        heap.append((d, a, b, 0, 0))
    heapq.heapify(heap)

    while heap:
        key, a, b, version_a, version_b = heapq.heappop(heap)
        if key >= threshold:
            break
        if version[a] != version_a or version[b] != version_b:
            continue
        if not photos[a].isdisjoint(photos[b]):
            # Groups only grow, so a pair that shares a photo stays forbidden.
            del adjacency[a][b], adjacency[b][a]
            continue
        record = adjacency[a][b]
        pairs = size[a] * size[b]
        if record[1] < pairs:
            record[0] = _cross_distance_sum(vectors, members[a], members[b])
            record[1] = pairs
            mean = record[0] / pairs
            if mean < threshold:
                heapq.heappush(heap, (mean, a, b, version_a, version_b))
            continue

        keep, gone = (a, b) if size[a] >= size[b] else (b, a)
        del adjacency[keep][gone], adjacency[gone][keep]
        kept = adjacency[keep]
        for other, other_record in adjacency[gone].items():
            del adjacency[other][gone]
            existing = kept.get(other)
            if existing is None:
                kept[other] = other_record
                adjacency[other][keep] = other_record
            else:
                existing[0] += other_record[0]
                existing[1] += other_record[1]
        adjacency[gone] = {}
        size[keep] += size[gone]
        members[keep].extend(members[gone])
        members[gone] = []
        photos[keep] |= photos[gone]
        photos[gone] = set()
        floor[keep] = min(floor[keep], floor[gone])
        version[keep] += 1
        version[gone] = -1

        for other, (total, known) in kept.items():
            pairs = size[keep] * size[other]
            bound = (total + (pairs - known) * max(floor[keep], floor[other])) / pairs
            if bound < threshold:
                low, high = (keep, other) if keep < other else (other, keep)
                heapq.heappush(heap, (bound, low, high, version[low], version[high]))

    return [members[x] for x in range(n) if version[x] >= 0]


def _numbered_by_first_face(raw: np.ndarray) -> np.ndarray:
    """Renumber clusters 0..C-1 in order of their first face, so labels do not depend on internals."""
    _, first_index, inverse = np.unique(raw, return_index=True, return_inverse=True)
    rank = np.empty(len(first_index), dtype=np.int64)
    rank[np.argsort(first_index, kind="stable")] = np.arange(len(first_index))
    return rank[inverse.reshape(-1)]

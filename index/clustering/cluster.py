"""Group a gallery's faces into persons: complete (default) or average linkage over a sparse kNN
graph, with cannot-link; or, over the same graph, another of the rules calibration compares
(single linkage, Chinese whispers, DBSCAN, HDBSCAN, two-stage: facesim/config.py CLUSTER_RULES).

Why not chaining. Single link, and Chinese whispers (label propagation over the same graph of
under-threshold pairs), chain: A~B, B~C, ..., Y~Z puts A and Z in one person although they are far
apart, and at gallery scale one run of blurry faces or lookalikes glues families together.

Why complete linkage by default. Two groups merge only if *every* cross pair is under the
calibrated threshold T, so every two faces of a person would pass `verify`: the card's one
threshold means the same thing in clusters as in verification. Average linkage (the mean cross
distance under T) lets one tight pair of look-alikes pull a third face in; on real faces it
over-merged (BCubed precision 0.74 against 0.93, F 0.84 against 0.92, BENCHMARKS.md).

Why cannot-link. Two faces in one photo are two people; no cluster may contain both.

Why a sparse graph. Exact linkage needs every pairwise distance (n^2/2 = 5e9 at 100k faces).
A FAISS kNN graph (exact IndexFlatIP up to EXACT_SEARCH_MAX_FACES faces, HNSW above) says which
groups are worth comparing; only edges under T are kept, since a pair of groups whose cross pairs
are all at T or more cannot have a mean (let alone a maximum) under T.

How average linkage is kept correct on a sparse graph (complete linkage is simpler: see
_agglomerate_complete). Each pair of adjacent groups carries the sum and count of the cross
distances known so far; most cross pairs of two grown groups are unknown. Unknown pairs are
neither taken as T nor as 0. Counting them as T would turn the rule into "the mean of the *known*
pairs is under T", which lets two large groups merge on one bridging edge, the very chaining
average linkage exists to stop. Instead:

* the decision is exact: before a merge whose cross distances are not all known, the missing
  part of the |A| x |B| sum is computed from the vectors, so no merge rests on an estimate;
* the order uses lower bounds: known sum plus, for each unknown pair, a floor on its distance (a
  pair absent from the kNN lists is at least as far as either face's k-th neighbour, and a
  pruned pair at least T). The smallest bound is taken first, re-keyed if it rose since it was
  queued, and pairs whose bound reaches T are never computed. A merge re-keys only the pairs of
  the absorbed group; a pair whose bound fell because its other group grew is decided when its
  older entry surfaces rather than re-queued at once (re-queuing would cost a pass over a big
  person's neighbours at every merge). When every pair is searched (n <= k + 1) the floors are
  T, bounds can only rise, and the result is textbook greedy average linkage (the tests check
  this against an O(n^3) reference).

Cost: exact sums are matrix products over per-group vector buffers, and a pair's exactly known
block is kept as its groups grow, so a person of m faces costs O(m^2) distances, not O(m^3).

Limits: groups never joined by a kept edge are never compared, so a person whose faces form two
sub-blobs each denser than k faces can stay split; raise k for galleries with very large persons.
A pair whose bound reached T is looked at again only when a merge touches it through the absorbed
group. With HNSW the neighbour lists, and so the floors, are approximate: that can change the
merge order, never the rule that every merge has an exact mean under T.

Determinism: same input, same labels. Ties break on face index, HNSW is built single-threaded
(FAISS's multi-threaded HNSW add is order-dependent), FAISS search is deterministic, and labels
are numbered by each cluster's first face.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, replace

import faiss
import numpy as np

from facesim.config import CLUSTER_RULE_PARAMS, CLUSTER_RULES, DEFAULT_LINKAGE
from facesim.model_card import is_same_person
from index.clustering.dbscan import dbscan
from index.clustering.hdbscan import hdbscan
from index.clustering.single_linkage import single_linkage
from index.clustering.two_stage import attach_to_cores
from index.clustering.whispers import CHINESE_WHISPERS_ITERATIONS, whisper

DEFAULT_K = 40
EXACT_SEARCH_MAX_FACES = 20_000
HNSW_LINKS = 24
HNSW_EF_CONSTRUCTION = 60
HNSW_MIN_EF_SEARCH = 64
_BLOCK_ELEMENTS = 1 << 22  # float32 products per block: 16 MiB
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
    linkage: str = DEFAULT_LINKAGE,
    params: Mapping[str, float] | None = None,
    exact_search_max: int = EXACT_SEARCH_MAX_FACES,
) -> np.ndarray:
    """Label every face with a person cluster (0..C-1); singletons are clusters of their own.

    vectors: (n, d) unit-length float32 embeddings. photo_ids: (n,) the photo each face came
    from; faces sharing a photo id never share a cluster. threshold: the rule's cut. linkage: the
    rule, one of CLUSTER_RULES: "complete" merges two groups only if every cross pair is under
    the cut (every two faces of a person would pass `verify`); "average" if their mean cross
    distance is; the others are described in their modules. params: the rule's own parameters
    (CLUSTER_RULE_PARAMS): (H)DBSCAN's min_samples, two-stage's core_cut (at most the cut). k: neighbours per
    face in the candidate graph. exact_search_max: largest n searched exhaustively; above it HNSW
    is used (a parameter so tests and benchmarks can exercise both).
    Labels are numbered in order of each cluster's first face, so equal input gives equal output.
    """
    if linkage not in CLUSTER_RULES:
        raise ValueError(f"linkage must be one of {', '.join(CLUSTER_RULES)}, not {linkage!r}")
    params = dict(params or {})
    if sorted(params) != sorted(CLUSTER_RULE_PARAMS.get(linkage, ())):
        wanted = ", ".join(CLUSTER_RULE_PARAMS.get(linkage, ())) or "none"
        raise ValueError(f"{linkage} takes parameters: {wanted}; given {', '.join(params) or 'none'}")
    vectors = _checked_vectors(vectors, threshold, k)
    photo_ids = np.asarray(photo_ids)
    if photo_ids.shape != (len(vectors),):
        raise ValueError(f"photo_ids must have shape ({len(vectors)},), not {photo_ids.shape}")
    if linkage == "two-stage" and not 0.0 < params["core_cut"] <= threshold:
        raise ValueError(f"core_cut must be in (0, cut {threshold}], not {params['core_cut']}")
    if len(vectors) == 0:
        return np.zeros(0, dtype=np.int64)
    graph = _neighbour_graph(vectors, threshold, k, exact_search_max, photo_ids)
    edges = graph.first, graph.second
    if linkage == "single":
        raw = single_linkage(photo_ids, *edges, graph.distance)
    elif linkage == "whispers":
        raw = whisper(vectors, *edges, photo_ids)
    elif linkage == "dbscan":
        raw = dbscan(photo_ids, *edges, graph.distance, int(params["min_samples"]))
    elif linkage == "hdbscan":
        raw = hdbscan(photo_ids, *edges, graph.distance, threshold, int(params["min_samples"]))
    elif linkage == "two-stage":
        core_cut = float(params["core_cut"])
        tight = is_same_person(graph.distance, core_cut)
        core_graph = replace(
            graph,
            first=graph.first[tight],
            second=graph.second[tight],
            distance=graph.distance[tight],
        )
        cores = _labelled(len(vectors), _agglomerate_complete(vectors, photo_ids, core_graph, core_cut))
        raw = attach_to_cores(vectors, photo_ids, cores, *edges, threshold)
    else:
        merge = _agglomerate if linkage == "average" else _agglomerate_complete
        raw = _labelled(len(vectors), merge(vectors, photo_ids, graph, threshold))
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
    """dlib's Chinese whispers as dlib ships it, without cannot-link: the baseline the benchmarks
    compare against (index/clustering/whispers.py; `linkage="whispers"` is the candidate with cannot-link).

    One difference from dlib, for scale: edges come from the same kNN graph as cluster_faces
    instead of all n^2 pairs.
    """
    vectors = _checked_vectors(vectors, threshold, k)
    if len(vectors) == 0:
        return np.zeros(0, dtype=np.int64)
    graph = _neighbour_graph(vectors, threshold, k, exact_search_max, None)
    return _numbered_by_first_face(whisper(vectors, graph.first, graph.second, None, iterations, seed))


def _labelled(n: int, groups: list[list[int]]) -> np.ndarray:
    """A group number per face, from each group's faces."""
    raw = np.empty(n, dtype=np.int64)
    for number, members in enumerate(groups):
        raw[members] = number
    return raw


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
        index.hnsw.efSearch = max(wanted, HNSW_MIN_EF_SEARCH)
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
    keep = valid & is_same_person(distance, threshold)
    first = np.minimum(rows[keep], ids[keep])
    second = np.maximum(rows[keep], ids[keep])
    edge_distance = distance[keep]
    if photo_ids is not None:
        different_photo = photo_ids[first] != photo_ids[second]
        first, second, edge_distance = first[different_photo], second[different_photo], edge_distance[different_photo]
    _, unique = np.unique(first * n + second, return_index=True)
    return _Graph(first[unique], second[unique], edge_distance[unique], floor)


def _distance_sums(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """For each row of right, the sum of its distances to all rows of left (in blocks, to bound memory)."""
    sums = np.zeros(len(right), dtype=np.float64)
    step = max(1, _BLOCK_ELEMENTS // max(1, len(right)))
    for start in range(0, len(left), step):
        products = left[start : start + step] @ right.T
        sums += np.sqrt(np.maximum(2.0 - 2.0 * products, 0.0)).sum(axis=0, dtype=np.float64)
    return sums


def _agglomerate(vectors: np.ndarray, photo_ids: np.ndarray, graph: _Graph, threshold: float) -> list[list[int]]:
    """Greedy average linkage over graph-adjacent groups; returns each final group's faces.

    A group is named by one of its faces and keeps its vectors in one append-only, doubling
    buffer (the absorbed group's rows go after the survivor's), so exact sums are matrix
    products with no gathering, and a pair summed exactly over the buffers' first rows stays
    exact there after either group grows: a later verification computes only the new rows.

    adjacency[x][y] is the pair's record, shared by both directions:
    [rect sum, extra sum, extra pairs, queued key, side, side rows, other rows], meaning: the
    first `side rows` rows of group `side` against the first `other rows` rows of the other group
    sum exactly to `rect sum`; `extra` holds further known pairs outside that rectangle; `queued
    key` is the key of the pair's one live candidate entry (None when it has none), so an entry
    whose key differs, or whose groups are no longer adjacent, is stale and skipped.

    Keys are lower bounds (known sums plus floors) and are refreshed lazily: a merge re-keys only
    the pairs it touched (the absorbed group's, so total work follows the smaller side of each
    merge); a pair whose bound moved is re-keyed when its entry surfaces, and decided exactly
    whatever its key. Candidates come from two sorted sources: the initial edges as one pre-sorted
    list, and a heap for pairs re-keyed since.
    """
    n, dim = vectors.shape
    size = [1] * n
    members = [[i] for i in range(n)]
    rows = [vectors[i : i + 1] for i in range(n)]  # views until a group grows, then its own buffer
    no_rows = np.empty((0, dim), dtype=np.float32)
    photos = [{photo} for photo in photo_ids.tolist()]
    floor = graph.floor.tolist()
    alive = [True] * n
    adjacency: list[dict[int, list]] = [{} for _ in range(n)]
    order = np.lexsort((graph.second, graph.first, graph.distance))
    edges = list(
        zip(graph.distance[order].tolist(), graph.first[order].tolist(), graph.second[order].tolist(), strict=True)
    )
    for d, a, b in edges:
        record = [d, 0.0, 0, d, a, 1, 1]
        adjacency[a][b] = record
        adjacency[b][a] = record
    heap: list[tuple[float, int, int]] = []
    next_edge = 0

    def queue(x: int, y: int, record: list, key: float) -> None:
        record[3] = key
        heapq.heappush(heap, (key, x, y) if x < y else (key, y, x))

    while True:
        if next_edge < len(edges) and (not heap or edges[next_edge] < heap[0]):
            key, a, b = edges[next_edge]
            next_edge += 1
        elif heap:
            key, a, b = heapq.heappop(heap)
        else:
            break
        if not is_same_person(key, threshold):
            break
        record = adjacency[a].get(b)
        if record is None or record[3] != key:
            continue
        record[3] = None
        if not photos[a].isdisjoint(photos[b]):
            # Groups only grow, so a pair that shares a photo stays forbidden.
            del adjacency[a][b], adjacency[b][a]
            continue
        pairs = size[a] * size[b]
        known = record[5] * record[6] + record[2]
        current = (record[0] + record[1] + (pairs - known) * max(floor[a], floor[b])) / pairs
        if current > key:
            if current < threshold:
                queue(a, b, record, current)
            continue
        if known < pairs:
            side, other = (a, b) if record[4] == a else (b, a)
            side_rows, other_rows = rows[side][: size[side]], rows[other][: size[other]]
            done_side, done_other = record[5], record[6]
            total = record[0]
            if done_side < size[side] and done_other:
                total += float(_distance_sums(side_rows[done_side:], other_rows[:done_other]).sum())
            if done_other < size[other]:
                total += float(_distance_sums(side_rows, other_rows[done_other:]).sum())
            record[:] = [total, 0.0, 0, None, side, size[side], size[other]]
            if is_same_person(total / pairs, threshold):
                queue(a, b, record, total / pairs)
            continue

        keep, gone = (a, b) if size[a] >= size[b] else (b, a)
        keep_size, gone_size = size[keep], size[gone]
        merged_size = keep_size + gone_size
        if len(rows[keep]) < merged_size:
            grown = np.empty((max(merged_size, 2 * len(rows[keep])), dim), dtype=np.float32)
            grown[:keep_size] = rows[keep][:keep_size]
            rows[keep] = grown
        rows[keep][keep_size:merged_size] = rows[gone][:gone_size]
        rows[gone] = no_rows
        size[keep] = merged_size
        members[keep].extend(members[gone])
        members[gone] = []
        photos[keep] |= photos[gone]
        photos[gone] = set()
        floor[keep] = min(floor[keep], floor[gone])
        alive[gone] = False

        del adjacency[keep][gone], adjacency[gone][keep]
        kept = adjacency[keep]
        for other, moved in adjacency[gone].items():
            del adjacency[other][gone]
            # The absorbed rows now sit mid-buffer, so what was known about them becomes "extra".
            moved_sum, moved_pairs = moved[0] + moved[1], moved[5] * moved[6] + moved[2]
            record = kept.get(other)
            if record is None:
                record = [0.0, moved_sum, moved_pairs, None, keep, 0, 0]
                kept[other] = record
                adjacency[other][keep] = record
            else:
                record[1] += moved_sum
                record[2] += moved_pairs
            pairs = merged_size * size[other]
            known = record[5] * record[6] + record[2]
            new_key = (record[0] + record[1] + (pairs - known) * max(floor[keep], floor[other])) / pairs
            if new_key < threshold and (record[3] is None or new_key < record[3]):
                queue(keep, other, record, new_key)
        adjacency[gone] = {}

    return [members[x] for x in range(n) if alive[x]]


def _max_cross_distance(left: np.ndarray, right: np.ndarray) -> float:
    """The largest distance between a row of left and a row of right (in blocks, to bound memory)."""
    lowest = np.inf
    step = max(1, _BLOCK_ELEMENTS // max(1, len(right)))
    for start in range(0, len(left), step):
        lowest = min(lowest, float((left[start : start + step] @ right.T).min()))
    return float(np.sqrt(max(2.0 - 2.0 * lowest, 0.0)))


def _agglomerate_complete(
    vectors: np.ndarray, photo_ids: np.ndarray, graph: _Graph, threshold: float
) -> list[list[int]]:
    """Greedy complete linkage over graph-adjacent groups; returns each final group's faces.

    adjacency[x][y] is the pair's record, shared by both directions: [bound, covered, queued key].
    bound is the largest cross distance known, a lower bound on the pair's complete-linkage
    distance (inf once the pair is ruled out); covered counts the cross pairs behind it, so the
    bound is exact when covered == size[x] * size[y]. Unlike average linkage, complete linkage
    is monotone: a pair ruled out (a cross pair at T or more, or a shared photo) stays ruled out
    whatever either group absorbs, so a merge just takes the max of the two records it joins.
    Candidates surface in order of their bound; an inexact one is computed from the vectors and
    re-queued, so every merge is the true closest pair and every merged pair is under T.
    """
    n = len(vectors)
    size = [1] * n
    members = [[i] for i in range(n)]
    photos = [{photo} for photo in photo_ids.tolist()]
    alive = [True] * n
    adjacency: list[dict[int, list]] = [{} for _ in range(n)]
    heap: list[tuple[float, int, int]] = []
    for d, a, b in zip(graph.distance.tolist(), graph.first.tolist(), graph.second.tolist(), strict=True):
        record = [d, 1, d]
        adjacency[a][b] = record
        adjacency[b][a] = record
        heap.append((d, a, b))
    heapq.heapify(heap)

    def queue(x: int, y: int, record: list) -> None:
        record[2] = record[0]
        heapq.heappush(heap, (record[0], x, y) if x < y else (record[0], y, x))

    while heap:
        key, a, b = heapq.heappop(heap)
        if not is_same_person(key, threshold):
            break
        record = adjacency[a].get(b)
        if record is None or record[2] != key:
            continue
        record[2] = None
        if not photos[a].isdisjoint(photos[b]):
            record[0] = np.inf
            continue
        if record[0] > key:
            if record[0] < threshold:
                queue(a, b, record)
            continue
        if record[1] < size[a] * size[b]:
            record[0] = _max_cross_distance(vectors[members[a]], vectors[members[b]])
            record[1] = size[a] * size[b]
            if is_same_person(record[0], threshold):
                queue(a, b, record)
            else:
                record[0] = np.inf
            continue

        keep, gone = (a, b) if size[a] >= size[b] else (b, a)
        size[keep] += size[gone]
        members[keep].extend(members[gone])
        members[gone] = []
        photos[keep] |= photos[gone]
        photos[gone] = set()
        alive[gone] = False
        del adjacency[keep][gone], adjacency[gone][keep]
        kept = adjacency[keep]
        for other, moved in adjacency[gone].items():
            del adjacency[other][gone]
            record = kept.get(other)
            if record is None:
                # Its queued entry named the absorbed group, so it is stale now.
                record = [moved[0], moved[1], None]
                kept[other] = record
                adjacency[other][keep] = record
            else:
                # A live entry of the kept pair surfaces at its old key and re-queues if the bound rose.
                record[0] = max(record[0], moved[0])
                record[1] += moved[1]
            if record[0] < threshold and record[2] is None:
                queue(keep, other, record)
        adjacency[gone] = {}

    return [members[x] for x in range(n) if alive[x]]


def _numbered_by_first_face(raw: np.ndarray) -> np.ndarray:
    """Renumber clusters 0..C-1 in order of their first face, so labels do not depend on internals."""
    _, first_index, inverse = np.unique(raw, return_index=True, return_inverse=True)
    rank = np.empty(len(first_index), dtype=np.int64)
    rank[np.argsort(first_index, kind="stable")] = np.arange(len(first_index))
    return rank[inverse.reshape(-1)]

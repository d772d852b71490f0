"""The agglomerative linkages over the neighbour graph (index.clustering.graph), both with
cannot-link: complete linkage, the default, and average linkage.

How average linkage is kept correct on a sparse graph (complete linkage is simpler: see
complete_linkage). Each pair of adjacent groups carries the sum and count of the cross
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

Limits: a pair whose bound reached T is looked at again only when a merge touches it through the
absorbed group. With HNSW the floors are approximate: that can change the merge order, never the
rule that every merge has an exact mean under T.

Determinism: ties break on face index.
"""

from __future__ import annotations

import heapq

import numpy as np

from facesim.model_card import is_same_person
from index.clustering.graph import NeighbourGraph, distance_sums, max_cross_distance


def complete_linkage(vectors: np.ndarray, photo_ids: np.ndarray, graph: NeighbourGraph, threshold: float) -> np.ndarray:
    """Greedy complete linkage over graph-adjacent groups: a group number per face (not yet
    numbered by first face).

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
            record[0] = max_cross_distance(vectors[members[a]], vectors[members[b]])
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

    return _labelled(n, [members[x] for x in range(n) if alive[x]])


def average_linkage(vectors: np.ndarray, photo_ids: np.ndarray, graph: NeighbourGraph, threshold: float) -> np.ndarray:
    """Greedy average linkage over graph-adjacent groups: a group number per face (not yet
    numbered by first face).

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
                total += float(distance_sums(side_rows[done_side:], other_rows[:done_other]).sum())
            if done_other < size[other]:
                total += float(distance_sums(side_rows, other_rows[done_other:]).sum())
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

    return _labelled(n, [members[x] for x in range(n) if alive[x]])


def _labelled(n: int, groups: list[list[int]]) -> np.ndarray:
    """A group number per face, from each group's faces."""
    raw = np.empty(n, dtype=np.int64)
    for number, members in enumerate(groups):
        raw[members] = number
    return raw

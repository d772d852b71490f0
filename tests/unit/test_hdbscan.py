"""HDBSCAN's tree, stability and selection against a top-down reading of Campello et al.: a
cluster lives while its faces stay connected by edges shorter than 1 / lambda; as lambda grows,
edges drop out one by one, parts smaller than the minimum cluster size fall out, and a cluster
that breaks into two large enough parts ends, each part a new cluster born at that lambda. The
clusters kept are those at least as stable as their descendants' best (excess of mass); a face
belongs to the kept cluster at or above the one it fell out of, and is noise without one.

The reference works on sets and recursion, not on the merge forest and index arithmetic that
index/clustering/hdbscan.py uses, so a slip in either shows as a different partition. Random distinct
distances keep lambda free of ties, where the binary merge tree would have to pick an order."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from index.clustering import hdbscan as hdbscan_module
from index.clustering.hdbscan import core_distances, hdbscan

from support.unit_vectors import together


def _components(live: set[int], edges: list[tuple[int, int, float]], under: float) -> list[set[int]]:
    parts = {face: {face} for face in live}
    for a, b, d in edges:
        if d < under and a in live and b in live and parts[a] is not parts[b]:
            joined = parts[a] | parts[b]
            for face in joined:
                parts[face] = joined
    return list({id(part): part for part in parts.values()}.values())


def reference_hdbscan(n: int, edges: list[tuple[int, int, float]], cut: float, min_size: int) -> list[set[int]]:
    """Persons as sets of faces, with min_samples 1 (reachability is distance) and no cannot-link."""
    parent: list[int] = []
    birth: list[float] = []
    stability: list[float] = []
    fell_from = [-1] * n

    def new(up: int, born: float) -> int:
        parent.append(up)
        birth.append(born)
        stability.append(0.0)
        return len(parent) - 1

    todo = [(part, new(-1, 1 / cut)) for part in _components(set(range(n)), edges, cut) if len(part) >= min_size]
    while todo:
        live, cluster = todo.pop()
        for under in sorted({d for a, b, d in edges if a in live and b in live and d < cut}, reverse=True):
            lam = 1 / under
            parts = _components(live, edges, under)
            large = [part for part in parts if len(part) >= min_size]
            if len(large) == 2:
                stability[cluster] += len(live) * (lam - birth[cluster])
                todo += [(part, new(cluster, lam)) for part in parts]
                break
            for part in parts:
                if len(part) < min_size:
                    stability[cluster] += len(part) * (lam - birth[cluster])
                    for face in part:
                        fell_from[face] = cluster
            if not large:
                break
            live = large[0]

    def selected(cluster: int) -> tuple[float, set[int]]:
        kids = [kid for kid, up in enumerate(parent) if up == cluster]
        if not kids:
            return stability[cluster], {cluster}
        below = [selected(kid) for kid in kids]
        total = sum(stable for stable, _ in below)
        if total > stability[cluster]:
            return total, set().union(*(chosen for _, chosen in below))
        return stability[cluster], {cluster}

    kept = set().union(*(selected(top)[1] for top, up in enumerate(parent) if up == -1)) if parent else set()

    def person(face: int) -> int | None:
        cluster = fell_from[face]
        while cluster >= 0 and cluster not in kept:
            cluster = parent[cluster]
        return cluster if cluster >= 0 else None

    persons: dict[object, set[int]] = {}
    for face in range(n):
        key = person(face)
        persons.setdefault(("person", key) if key is not None else ("noise", face), set()).add(face)
    return list(persons.values())


@st.composite
def graphs(draw: st.DrawFn) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, float]:
    """Up to 14 faces with random edges of distinct random lengths, and a cut among them."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = int(rng.integers(2, 15))
    pairs = np.array([(a, b) for a in range(n) for b in range(a + 1, n)])
    pairs = pairs[rng.random(len(pairs)) < rng.uniform(0.15, 0.8)]
    distance = rng.uniform(0.05, 1.0, len(pairs))
    cut = float(rng.uniform(0.3, 1.1))
    return (
        n,
        pairs[:, 0] if len(pairs) else np.zeros(0, int),
        pairs[:, 1] if len(pairs) else np.zeros(0, int),
        distance,
        cut,
    )


@pytest.mark.parametrize("min_size", [2, 3])
@given(graph=graphs())
def test_hdbscan_is_the_top_down_definition(graph, min_size: int) -> None:
    n, first, second, distance, cut = graph
    under = distance < cut  # hdbscan is given the under-cut edges, as cluster_faces gives it
    edges = list(zip(first[under].tolist(), second[under].tolist(), distance[under].tolist(), strict=True))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hdbscan_module, "HDBSCAN_MIN_CLUSTER_SIZE", min_size)
        labels = hdbscan(np.arange(n), first[under], second[under], distance[under], cut, 1)
    assert together(labels) == {frozenset(person) for person in reference_hdbscan(n, edges, cut, min_size)}


def test_an_exact_tie_in_stability_keeps_the_parent() -> None:
    """Two pairs 0.25 apart inside, 0.4 across, cut 1: the top lives from lambda 1 to 2.5 with four
    faces (stability 6), each pair from 2.5 to 4 with two (3 each). On a tie the parent stays,
    as in scikit-learn: one person, not two."""
    first, second = np.array([0, 2, 1]), np.array([1, 3, 2])
    distance = np.array([0.25, 0.25, 0.4])
    assert 4 * (1 / 0.4 - 1) == 2 * 2 * (4 - 1 / 0.4)  # the tie is exact in floating point
    assert hdbscan(np.arange(4), first, second, distance, 1.0, 1).tolist() == [4, 4, 4, 4]
    # A hair farther across, the top is less stable than the pairs: two persons.
    closer = hdbscan(np.arange(4), first, second, np.array([0.25, 0.25, 0.41]), 1.0, 1)
    assert together(closer) == {frozenset({0, 1}), frozenset({2, 3})}


def test_core_distance_is_the_distance_to_the_min_samples_minus_one_th_neighbour() -> None:
    """Face 0's edges are 0.1, 0.2 and 0.3 long; faces 1 to 3 have one edge each; face 4 none."""
    first, second = np.array([0, 0, 0]), np.array([2, 1, 3])
    distance = np.array([0.2, 0.1, 0.3])
    assert core_distances(5, first, second, distance, 1).tolist() == [0.0] * 5
    assert core_distances(5, first, second, distance, 2).tolist() == [0.1, 0.1, 0.2, 0.3, np.inf]
    assert core_distances(5, first, second, distance, 3).tolist() == [0.2, np.inf, np.inf, np.inf, np.inf]
    assert core_distances(5, first, second, distance, 4).tolist() == [0.3, np.inf, np.inf, np.inf, np.inf]
    with pytest.raises(ValueError, match="min_samples must be at least 1, not 0"):
        core_distances(5, first, second, distance, 0)

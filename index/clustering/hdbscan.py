"""HDBSCAN (Campello, Moulavi and Sander, 2013) over the under-cut kNN graph, with cannot-link.

Why a candidate: it keeps density's defence against chaining (DBSCAN's) without one fixed eps.
Each face's core distance is the distance to its (min_samples - 1)-th nearest other face; two
faces are as far apart as the larger of their distance and both core distances (the mutual
reachability distance), so a face in a sparse region is far from everyone. Single linkage over
those distances gives a tree; walking it from the top, a group that splits into two parts of at
least HDBSCAN_MIN_CLUSTER_SIZE faces makes two new clusters, and smaller parts fall out. Each
cluster's stability is the sum over its faces of how long (in 1 / distance) they stayed in it; the
clusters kept are those more stable than all their descendants together (excess of mass). A face
in no kept cluster is noise, a person of its own, as `clusters` shows any face that matches nobody.

How it fits facesim: only pairs under the cut are edges, so the tree is a forest, one tree per
group connected under the cut; each tree's top is a cluster born at the cut, and may be kept
(scikit-learn keeps its single root only with allow_single_cluster; here a small person is often
a tree of its own). Merges that would put two faces of one photo together are refused, so no
cluster holds two. Merges go by reachability, then distance (ties between faces that share a core
distance), so the tree, and the persons, do not depend on the order faces are listed in.
"""

from __future__ import annotations

import numpy as np

from facesim.config import HDBSCAN_MIN_CLUSTER_SIZE
from facesim.model_card import is_same_person
from index.clustering.photo_sets import PhotoDisjointSets

# Reachability 0 (duplicate faces) would be lambda infinity; this caps lambda at 1e6.
_MIN_REACH = 1e-6


def core_distances(n: int, first: np.ndarray, second: np.ndarray, distance: np.ndarray, min_samples: int) -> np.ndarray:
    """Each face's distance to its (min_samples - 1)-th nearest neighbour among the edges (the
    face itself counts as the first, as in scikit-learn); infinity where it has fewer edges."""
    if min_samples < 1:
        raise ValueError(f"min_samples must be at least 1, not {min_samples}")
    core = np.full(n, np.inf)
    if min_samples == 1:
        return np.zeros(n)
    faces = np.concatenate([first, second])
    lengths = np.concatenate([distance, distance])
    order = np.lexsort((lengths, faces))
    faces, lengths = faces[order], lengths[order]
    start = np.searchsorted(faces, np.arange(n))
    count = np.bincount(faces, minlength=n)
    has = count >= min_samples - 1
    core[has] = lengths[start[has] + min_samples - 2]
    return core


def hdbscan(
    photo_ids: np.ndarray, first: np.ndarray, second: np.ndarray, distance: np.ndarray, cut: float, min_samples: int
) -> np.ndarray:
    """A group number per face. first, second, distance: the under-cut edges between faces of
    different photos."""
    n = len(photo_ids)
    core = core_distances(n, first, second, distance, min_samples)
    reach = np.maximum(np.maximum(core[first], core[second]), distance)
    keep = is_same_person(reach, cut)
    first, second, distance, reach = first[keep], second[keep], distance[keep], reach[keep]
    children, lambdas, sizes = _tree(photo_ids, first, second, distance, reach)
    return _labels(n, children, lambdas, sizes, 1.0 / cut)


def _tree(
    photo_ids: np.ndarray, first: np.ndarray, second: np.ndarray, distance: np.ndarray, reach: np.ndarray
) -> tuple[list[tuple[int, int]], list[float], list[int]]:
    """Kruskal over reachability with cannot-link: node i < n is face i, node n + j the j-th merge
    with its two children and lambda (1 / reachability); sizes count faces under each node."""
    n = len(photo_ids)
    sets = PhotoDisjointSets(photo_ids)
    node = list(range(n))
    children: list[tuple[int, int]] = []
    lambdas: list[float] = []
    sizes = [1] * n
    order = np.lexsort((distance, reach))
    for a, b, r in zip(first[order].tolist(), second[order].tolist(), reach[order].tolist(), strict=True):
        joined = sets.union(a, b)
        if joined is None:
            continue
        keep, gone = joined
        children.append((node[keep], node[gone]))
        lambdas.append(1.0 / max(r, _MIN_REACH))
        sizes.append(sizes[node[keep]] + sizes[node[gone]])
        node[keep] = n + len(children) - 1
    return children, lambdas, sizes


def _labels(
    n: int, children: list[tuple[int, int]], lambdas: list[float], sizes: list[int], birth: float
) -> np.ndarray:
    """Condense the forest, keep the most stable clusters (excess of mass), label faces by them."""
    has_parent = np.zeros(n + len(children), dtype=bool)
    for pair in children:
        has_parent[list(pair)] = True
    tops = np.flatnonzero(~has_parent)
    clusters_parent: list[int] = []
    clusters_birth: list[float] = []
    stability: list[float] = []
    last = np.full(n, -1)  # the last cluster each face was in before it fell out

    def new_cluster(parent: int, born: float) -> int:
        clusters_parent.append(parent)
        clusters_birth.append(born)
        stability.append(0.0)
        return len(stability) - 1

    def fall_out(top: int, cluster: int) -> None:
        stack = [top]
        while stack:
            at = stack.pop()
            if at < n:
                last[at] = cluster
            else:
                stack.extend(children[at - n])

    stack = [(int(top), new_cluster(-1, birth)) for top in tops.tolist() if sizes[top] >= HDBSCAN_MIN_CLUSTER_SIZE]
    while stack:
        at, cluster = stack.pop()
        lam = lambdas[at - n]
        parts = children[at - n]
        big = [part for part in parts if sizes[part] >= HDBSCAN_MIN_CLUSTER_SIZE]
        if len(big) == 2:
            stability[cluster] += sizes[at] * (lam - clusters_birth[cluster])
            stack.extend((part, new_cluster(cluster, lam)) for part in parts)
            continue
        for part in parts:
            if part not in big:
                stability[cluster] += sizes[part] * (lam - clusters_birth[cluster])
                fall_out(part, cluster)
        if big:
            stack.append((big[0], cluster))

    count = len(stability)
    kids: list[list[int]] = [[] for _ in range(count)]
    for cluster, parent in enumerate(clusters_parent):
        if parent >= 0:
            kids[parent].append(cluster)
    kept = [True] * count
    total = list(stability)
    for cluster in range(count - 1, -1, -1):
        if not kids[cluster]:
            continue
        below = sum(total[kid] for kid in kids[cluster])
        if below > total[cluster]:
            total[cluster], kept[cluster] = below, False
        else:
            descendants = list(kids[cluster])
            while descendants:
                kid = descendants.pop()
                kept[kid] = False
                descendants.extend(kids[kid])
    chosen = [-1] * count
    for cluster in range(count):  # a parent is numbered before its children
        parent = clusters_parent[cluster]
        chosen[cluster] = cluster if kept[cluster] else (chosen[parent] if parent >= 0 else -1)
    labels = np.arange(n, dtype=np.int64)  # noise: a person of its own
    for face in np.flatnonzero(last >= 0).tolist():
        if chosen[last[face]] >= 0:
            labels[face] = n + chosen[last[face]]
    return labels

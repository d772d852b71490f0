"""Group a gallery's faces into persons: complete (default) or average linkage over a sparse kNN
graph, with cannot-link; or, over the same graph, another of the rules calibration compares
(single linkage, Chinese whispers, DBSCAN, HDBSCAN, two-stage: facesim/config.py CLUSTER_RULES).
This module checks the input, builds the graph (index.clustering.graph), runs the chosen rule
(index.clustering.linkages, or the rule's own module) and numbers the persons.

Why not chaining. Single link, and Chinese whispers (label propagation over the same graph of
under-threshold pairs), chain: A~B, B~C, ..., Y~Z puts A and Z in one person although they are far
apart, and at gallery scale one run of blurry faces or lookalikes glues families together.

Why complete linkage by default. Two groups merge only if *every* cross pair is under the
calibrated threshold T, so every two faces of a person would pass `verify`: the card's one
threshold means the same thing in clusters as in verification. Average linkage (the mean cross
distance under T) lets one tight pair of look-alikes pull a third face in; on real faces it
over-merged (BCubed precision 0.74 against 0.93, F 0.84 against 0.92, BENCHMARKS.md).

Why cannot-link. Two faces in one photo are two people; no cluster may contain both.

Determinism: same input, same labels. The graph is deterministic, the rules break ties on face
index, and labels are numbered by each cluster's first face.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from facesim.config import CLUSTER_RULE_PARAMS, CLUSTER_RULES, DEFAULT_LINKAGE
from facesim.model_card import is_same_person
from index.clustering.dbscan import dbscan
from index.clustering.graph import DEFAULT_K, EXACT_SEARCH_MAX_FACES, checked_vectors, neighbour_graph
from index.clustering.hdbscan import hdbscan
from index.clustering.linkages import average_linkage, complete_linkage
from index.clustering.single_linkage import single_linkage
from index.clustering.two_stage import attach_to_cores
from index.clustering.whispers import CHINESE_WHISPERS_ITERATIONS, whisper


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
    vectors = checked_vectors(vectors, threshold, k)
    photo_ids = np.asarray(photo_ids)
    if photo_ids.shape != (len(vectors),):
        raise ValueError(f"photo_ids must have shape ({len(vectors)},), not {photo_ids.shape}")
    if linkage == "two-stage" and not 0.0 < params["core_cut"] <= threshold:
        raise ValueError(f"core_cut must be in (0, cut {threshold}], not {params['core_cut']}")
    if len(vectors) == 0:
        return np.zeros(0, dtype=np.int64)
    graph = neighbour_graph(vectors, threshold, k, exact_search_max, photo_ids)
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
        cores = complete_linkage(vectors, photo_ids, core_graph, core_cut)
        raw = attach_to_cores(vectors, photo_ids, cores, *edges, threshold)
    else:
        merge = average_linkage if linkage == "average" else complete_linkage
        raw = merge(vectors, photo_ids, graph, threshold)
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
    vectors = checked_vectors(vectors, threshold, k)
    if len(vectors) == 0:
        return np.zeros(0, dtype=np.int64)
    graph = neighbour_graph(vectors, threshold, k, exact_search_max, None)
    return _numbered_by_first_face(whisper(vectors, graph.first, graph.second, None, iterations, seed))


def _numbered_by_first_face(raw: np.ndarray) -> np.ndarray:
    """Renumber clusters 0..C-1 in order of their first face, so labels do not depend on internals."""
    _, first_index, inverse = np.unique(raw, return_index=True, return_inverse=True)
    rank = np.empty(len(first_index), dtype=np.int64)
    rank[np.argsort(first_index, kind="stable")] = np.arange(len(first_index))
    return rank[inverse.reshape(-1)]

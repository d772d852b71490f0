"""Chooses `facesim clusters`' rule the way the verification threshold is chosen: on people the
encoder never saw, never by hand.

Each candidate (a rule of CLUSTER_RULES at a cut, the cut a multiple of the verification
threshold, with the rule's own parameters from a small grid) clusters every validation face of
each labelled source as one gallery, and is scored by BCubed F. The candidate with the best mean
F over the sources wins; a tie goes to the higher precision, because a merge of two people costs
a user more than a split. Every rule's best candidate is kept too, so a user who names another
rule (`clusters --linkage`) gets it at its own calibrated cut and parameters.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from facesim.config import (
    CLUSTER_CUT_FRACTIONS,
    CLUSTER_RULES,
    DBSCAN_MIN_SAMPLES,
    HDBSCAN_MIN_SAMPLES,
    TWO_STAGE_CORE_FRACTIONS,
)
from index.clustering.cluster import cluster_faces
from index.clustering.metrics import bcubed


def _galleries(sources: list[str]) -> dict[str, np.ndarray]:
    names = np.array(sources)
    return {source: np.flatnonzero(names == source) for source in dict.fromkeys(sources)}


def rule_grid(threshold: float) -> list[tuple[str, float, float, dict[str, float]]]:
    """Every candidate as (rule, cut fraction, cut, params). Two-stage's core cut lies under its
    attach cut, or the second stage would have no lone faces to attach."""
    grid = []
    for rule in CLUSTER_RULES:
        for fraction in CLUSTER_CUT_FRACTIONS:
            cut = round(threshold * fraction, 4)
            if rule == "dbscan":
                options = [{"min_samples": m} for m in DBSCAN_MIN_SAMPLES]
            elif rule == "hdbscan":
                options = [{"min_samples": m} for m in HDBSCAN_MIN_SAMPLES]
            elif rule == "two-stage":
                options = [{"core_cut": round(threshold * c, 4)} for c in TWO_STAGE_CORE_FRACTIONS if c < fraction]
            else:
                options = [{}]
            grid.extend((rule, fraction, cut, params) for params in options)
    return grid


def calibrate_clustering(
    sources: list[str], labels: list[str], vectors: np.ndarray, threshold: float
) -> dict[str, Any]:
    """sources, labels, vectors: the validation faces (one photo each). Returns the model card's
    `clustering` section: the chosen rule ("linkage"), its cut and parameters; each rule's best
    cut ("cuts") and parameters ("params", for rules that have any), used when a user names
    another rule; and every candidate's scores."""
    galleries = _galleries(sources)
    truth = np.array(labels)
    candidates = []
    for rule, fraction, cut, params in rule_grid(threshold):
        scores = {}
        for source, rows in galleries.items():
            predicted = cluster_faces(vectors[rows], np.arange(len(rows)), cut, linkage=rule, params=params)
            score = bcubed(truth[rows], predicted)
            scores[source] = {key: round(value, 4) for key, value in score._asdict().items()}
        candidates.append(
            {
                "linkage": rule,
                "cut_fraction": fraction,
                "cut": cut,
                "params": params,
                "mean_f1": round(float(np.mean([s["f1"] for s in scores.values()])), 4),
                "mean_precision": round(float(np.mean([s["precision"] for s in scores.values()])), 4),
                "galleries": scores,
            }
        )

    def rank(candidate: dict[str, Any]) -> tuple[float, float]:
        return candidate["mean_f1"], candidate["mean_precision"]

    best_of = {rule: max((c for c in candidates if c["linkage"] == rule), key=rank) for rule in CLUSTER_RULES}
    chosen = max(best_of.values(), key=rank)
    return {
        "method": "rule, cut (a multiple of the threshold) and the rule's parameters maximising mean BCubed F over "
        "galleries of every labelled source's validation people; ties go to higher precision",
        "linkage": chosen["linkage"],
        "cut": chosen["cut"],
        "cuts": {rule: candidate["cut"] for rule, candidate in best_of.items()},
        "params": {rule: candidate["params"] for rule, candidate in best_of.items() if candidate["params"]},
        "galleries": {
            source: {"faces": len(rows), "people": len(set(truth[rows]))} for source, rows in galleries.items()
        },
        "at_chosen": chosen["galleries"],
        "candidates": candidates,
    }

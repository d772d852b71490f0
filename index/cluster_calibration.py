"""Chooses `facesim clusters`' rule the way the verification threshold is chosen: on people the
encoder never saw, never by hand.

Each candidate (a linkage at a cut, the cut a multiple of the verification threshold) clusters
every validation face of each labelled source as one gallery, and is scored by BCubed F. The
rule with the best mean F over the sources wins; a tie goes to the higher precision, because a
merge of two people costs a user more than a split.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from facesim.config import CLUSTER_LINKAGES
from index.cluster_metrics import bcubed
from index.clustering import cluster_faces

CUT_FRACTIONS = tuple(float(f) for f in np.round(np.arange(0.70, 1.101, 0.05), 2))


def _galleries(sources: list[str]) -> dict[str, np.ndarray]:
    names = np.array(sources)
    return {source: np.flatnonzero(names == source) for source in dict.fromkeys(sources)}


def calibrate_clustering(
    sources: list[str], labels: list[str], vectors: np.ndarray, threshold: float
) -> dict[str, Any]:
    """sources, labels, vectors: the validation faces (one photo each). Returns the model card's
    `clustering` section: the chosen linkage and cut, the best cut of each linkage (used when a
    user asks for another linkage), and every candidate's scores."""
    galleries = _galleries(sources)
    truth = np.array(labels)
    candidates = []
    for linkage in CLUSTER_LINKAGES:
        for fraction in CUT_FRACTIONS:
            cut = threshold * fraction
            scores = {}
            for source, rows in galleries.items():
                predicted = cluster_faces(vectors[rows], np.arange(len(rows)), cut, linkage=linkage)
                score = bcubed(truth[rows], predicted)
                scores[source] = {key: round(value, 4) for key, value in score._asdict().items()}
            mean_f = float(np.mean([s["f1"] for s in scores.values()]))
            mean_p = float(np.mean([s["precision"] for s in scores.values()]))
            candidates.append(
                {
                    "linkage": linkage,
                    "cut_fraction": fraction,
                    "cut": round(cut, 4),
                    "mean_f1": round(mean_f, 4),
                    "mean_precision": round(mean_p, 4),
                    "galleries": scores,
                }
            )

    def rank(candidate: dict[str, Any]) -> tuple[float, float]:
        return candidate["mean_f1"], candidate["mean_precision"]

    best_of = {
        linkage: max((c for c in candidates if c["linkage"] == linkage), key=rank) for linkage in CLUSTER_LINKAGES
    }
    chosen = max(best_of.values(), key=rank)
    return {
        "method": "linkage and cut (a multiple of the threshold) maximising mean BCubed F over galleries of every "
        "labelled source's validation people; ties go to higher precision",
        "linkage": chosen["linkage"],
        "cut": chosen["cut"],
        "cuts": {linkage: candidate["cut"] for linkage, candidate in best_of.items()},
        "galleries": {
            source: {"faces": len(rows), "people": len(set(truth[rows]))} for source, rows in galleries.items()
        },
        "at_chosen": chosen["galleries"],
        "candidates": candidates,
    }

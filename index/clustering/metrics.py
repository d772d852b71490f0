"""BCubed precision, recall and F: how well a face clustering matches the true persons.

Why BCubed rather than pair counting or purity: it scores every face by its own cluster, so one
big person does not drown out the many small ones, and it penalises both failure modes a user
sees: strangers in a person's cluster (precision) and a person scattered over clusters (recall).
(Amigo et al., 2009, "A comparison of extrinsic clustering evaluation metrics".)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class BCubed(NamedTuple):
    precision: float
    recall: float
    f1: float


def bcubed(true_labels: np.ndarray, predicted_labels: np.ndarray) -> BCubed:
    """Mean over faces of |own cluster ∩ own person| / |own cluster| (precision) and / |own person| (recall).

    Computed from the cluster x person contingency counts: a cell of c faces contributes c faces
    each scoring c / |cluster| (precision) and c / |person| (recall). Labels may be any hashable
    values; -1 is an ordinary label here, not "unclustered".
    """
    true_labels = np.asarray(true_labels)
    predicted_labels = np.asarray(predicted_labels)
    if true_labels.shape != predicted_labels.shape or true_labels.ndim != 1:
        raise ValueError(f"label arrays must be 1-D and equal length: {true_labels.shape} vs {predicted_labels.shape}")
    n = len(true_labels)
    if n == 0:
        raise ValueError("BCubed is undefined for zero faces")
    _, person = np.unique(true_labels, return_inverse=True)
    _, cluster = np.unique(predicted_labels, return_inverse=True)
    person, cluster = person.reshape(-1), cluster.reshape(-1)
    cells, cell_of_face = np.unique(np.stack([cluster, person], axis=1), axis=0, return_inverse=True)
    cell_size = np.bincount(cell_of_face.reshape(-1)).astype(np.float64)
    cluster_size = np.bincount(cluster).astype(np.float64)
    person_size = np.bincount(person).astype(np.float64)
    precision = float(np.sum(cell_size**2 / cluster_size[cells[:, 0]]) / n)
    recall = float(np.sum(cell_size**2 / person_size[cells[:, 1]]) / n)
    f1 = 2 * precision * recall / (precision + recall)
    return BCubed(precision, recall, f1)

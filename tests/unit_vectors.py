"""Unit vectors at chosen distances, for tests that place faces just under or over a cut."""

from __future__ import annotations

import numpy as np


def at_distance(anchor: np.ndarray, distance: float, seed: int) -> np.ndarray:
    """A unit vector at the given Euclidean distance from the unit vector `anchor`."""
    other = np.random.default_rng(seed).normal(size=anchor.shape)
    other -= other.dot(anchor) * anchor
    other /= np.linalg.norm(other)
    angle = 2 * np.arcsin(distance / 2)
    return (np.cos(angle) * anchor + np.sin(angle) * other).astype(np.float32)

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


def on_circle(angles: np.ndarray | list[float], dim: int = 16) -> np.ndarray:
    """Unit vectors at the given angles in the plane of the first two axes: faces a and b are
    chord(|a - b|) apart, so distances can be worked by hand."""
    vectors = np.zeros((len(angles), dim), dtype=np.float32)
    vectors[:, 0], vectors[:, 1] = np.cos(angles), np.sin(angles)
    return vectors


def chord(angle: np.ndarray | float) -> np.ndarray | float:
    """The distance between unit vectors `angle` radians apart."""
    return 2 * np.sin(np.asarray(angle) / 2)


def together(labels: np.ndarray) -> set[frozenset[int]]:
    """A clustering as the sets of faces it puts together, whatever the labels' names."""
    return {frozenset(np.flatnonzero(labels == label).tolist()) for label in np.unique(labels)}

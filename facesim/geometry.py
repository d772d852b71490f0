"""Box and vector arithmetic shared by the face model, the gallery and the benchmarks, kept free of
dlib and torch so that commands which embed nothing can use it without loading either."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

from facesim.config import SAME_FACE_IOU

T = TypeVar("T")


def box_iou(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """Intersection over union of two (left, top, right, bottom) boxes; 0 when they do not overlap."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def most_overlapping(box: tuple[int, ...], candidates: Sequence[T], box_of: Callable[[T], tuple[int, ...]]) -> T | None:
    """The candidate that is the face in `box`: the one whose box overlaps it most, if by at least
    SAME_FACE_IOU; None when no candidate does."""
    best = max(candidates, key=lambda candidate: box_iou(box_of(candidate), box), default=None)
    return best if best is not None and box_iou(box_of(best), box) >= SAME_FACE_IOU else None


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to unit length, as float32: the form every distance and threshold here
    assumes, whatever length a teacher's or a model's raw vectors have."""
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def distance_from_inner_product(products: np.ndarray | float) -> np.ndarray | np.floating:
    """Euclidean distance between unit vectors from their inner product: |a - b|^2 = 2 - 2 a.b, so
    one matrix product (or FAISS's inner-product search) gives a whole block of distances.

    Rounding can take 2 - 2 a.b a hair below 0 for a vector and itself, where sqrt would give NaN,
    hence the clamp at 0. The input's float type is kept: each caller chooses its precision."""
    return np.sqrt(np.maximum(2.0 - 2.0 * products, 0.0))

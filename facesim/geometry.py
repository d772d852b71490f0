"""Box arithmetic shared by the gallery and the benchmarks, kept free of dlib and torch so that
commands which embed nothing can use it without loading either."""

from __future__ import annotations


def box_iou(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """Intersection over union of two (left, top, right, bottom) boxes; 0 when they do not overlap."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)

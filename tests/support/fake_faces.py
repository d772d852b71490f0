"""Faces made up around a chosen vector, for the tests that store, search, cluster or correct
faces without running the face model: the vector is what those tests decide on, so the box,
score and landmarks only need to be valid, unless a test asks for its own."""

from __future__ import annotations

import numpy as np

from facesim.detection import DetectedFace
from facesim.pipeline import Face

Box = tuple[int, int, int, int]
Landmarks = tuple[tuple[int, int], ...]

BOX: Box = (10, 10, 50, 50)
# Five (x, y) points, as many as the detector gives; where they lie matters to none of these tests.
LANDMARKS: Landmarks = ((1, 1), (2, 2), (3, 3), (4, 4), (5, 5))


def fake_face(embedding: np.ndarray, box: Box = BOX, *, score: float = 1.0, landmarks: Landmarks = LANDMARKS) -> Face:
    """A `Face` as the pipeline returns it, with `embedding` as given (not normalised here, so a
    test can store a vector exactly as it built it)."""
    return Face(DetectedFace(box, score, landmarks), embedding)

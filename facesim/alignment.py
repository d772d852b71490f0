"""Turns five landmarks into an aligned face chip, the encoder's (and dlib teacher's) input."""

from __future__ import annotations

import dlib
import numpy as np

from facesim.config import CHIP_PADDING, CHIP_SIZE
from facesim.detection import DetectedFace


def _shape(face: DetectedFace) -> dlib.full_object_detection:
    rect = dlib.rectangle(*face.box)
    return dlib.full_object_detection(rect, [dlib.point(x, y) for x, y in face.landmarks])


def align_face(rgb: np.ndarray, face: DetectedFace) -> np.ndarray:
    """A CHIP_SIZE x CHIP_SIZE x 3 uint8 chip, eyes and nose at fixed positions."""
    return np.asarray(dlib.get_face_chip(rgb, _shape(face), size=CHIP_SIZE, padding=CHIP_PADDING))

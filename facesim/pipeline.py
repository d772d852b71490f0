"""Photo in, faces with vectors out: the one path that index, match and verify all share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from facesim.alignment import align_face
from facesim.config import DEFAULT_DETECTOR
from facesim.detection import DetectedFace, Detector, detect_faces, primary_face_and_count
from facesim.errors import NoFaceError
from facesim.images import load_rgb

# The encoder (ONNX Runtime) comes with the embedder, on first use: unpickling a Face (the
# indexer's parent receives them from its workers) must not load it into a process that never embeds.
if TYPE_CHECKING:
    from facesim.embedder import Embedder


@dataclass(frozen=True)
class Face:
    detection: DetectedFace
    embedding: np.ndarray  # unit length, float32


def _or_default(embedder: Embedder | None) -> Embedder:
    if embedder is not None:
        return embedder
    from facesim.embedder import default_embedder

    return default_embedder()


def embed_faces(rgb: np.ndarray, detections: list[DetectedFace], embedder: Embedder | None = None) -> list[Face]:
    """The detected faces of one photo, aligned and embedded in one batch."""
    if not detections:
        return []
    vectors = _or_default(embedder).embed([align_face(rgb, detection) for detection in detections])
    return [Face(detection, vector) for detection, vector in zip(detections, vectors, strict=True)]


def faces_in_rgb(
    rgb: np.ndarray, detector: Detector = DEFAULT_DETECTOR, embedder: Embedder | None = None
) -> list[Face]:
    """Every face in the photo, largest first, each with its vector."""
    return embed_faces(rgb, detect_faces(rgb, detector), embedder)


def faces_in_photo(
    path: str | Path, detector: Detector = DEFAULT_DETECTOR, embedder: Embedder | None = None
) -> list[Face]:
    return faces_in_rgb(load_rgb(path), detector, embedder)


def locate_faces(
    path: str | Path, detector: Detector = DEFAULT_DETECTOR, every_face: bool = False
) -> tuple[np.ndarray, list[DetectedFace], int]:
    """The photo, the faces a question about it compares (its main face, or every face), and how
    many faces it shows; an error when there is none. No encoder here: a command that checks all
    its photos first reports a bad one before the encoder loads."""
    rgb = load_rgb(path)
    if every_face:
        chosen = detect_faces(rgb, detector)
        count = len(chosen)
    else:
        primary, count = primary_face_and_count(rgb, detector)
        chosen = [primary] if primary is not None else []
    if not chosen:
        raise NoFaceError(f"{path}: no face found")
    return rgb, chosen, count


def main_face(path: str | Path, detector: Detector = DEFAULT_DETECTOR, embedder: Embedder | None = None) -> Face:
    """The face a one-face question (verify, match) is about; an error when there is none."""
    rgb, chosen, _ = locate_faces(path, detector)
    return embed_faces(rgb, chosen, embedder)[0]


def face_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between unit vectors: 0 identical, 2 opposite."""
    return float(np.linalg.norm(np.asarray(a, dtype=np.float32) - np.asarray(b, dtype=np.float32)))

"""Photo in, faces with vectors out: the one path that index, match and verify all share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from facesim.alignment import align_face
from facesim.detection import DetectedFace, Detector, detect_faces, find_primary_face
from facesim.errors import NoFaceError
from facesim.images import load_rgb

# torch comes with the embedder, on first use: unpickling a Face (the indexer's parent receives
# them from its workers) must not load 0.5 GB of torch into a process that never embeds.
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


def faces_in_rgb(rgb: np.ndarray, detector: Detector = "hog", embedder: Embedder | None = None) -> list[Face]:
    """Every face in the photo, largest first, each with its vector."""
    detections = detect_faces(rgb, detector)
    if not detections:
        return []
    chips = [align_face(rgb, detection) for detection in detections]
    vectors = _or_default(embedder).embed(chips)
    return [Face(detection, vector) for detection, vector in zip(detections, vectors, strict=True)]


def faces_in_photo(path: str | Path, detector: Detector = "hog", embedder: Embedder | None = None) -> list[Face]:
    return faces_in_rgb(load_rgb(path), detector, embedder)


def main_face(path: str | Path, detector: Detector = "hog", embedder: Embedder | None = None) -> Face:
    """The face a one-face question (verify, match) is about; an error when there is none."""
    return embed_face(*main_detection(path, detector), embedder)


def main_detection(path: str | Path, detector: Detector = "hog") -> tuple[np.ndarray, DetectedFace]:
    """main_face without the encoder: a command with several photos finds every face first, so
    a bad photo is reported before torch (most of a cold start) is loaded."""
    rgb = load_rgb(path)
    chosen = find_primary_face(rgb, detector)
    if chosen is None:
        raise NoFaceError(f"{path}: no face found")
    return rgb, chosen


def embed_face(rgb: np.ndarray, detection: DetectedFace, embedder: Embedder | None = None) -> Face:
    return Face(detection, _or_default(embedder).embed([align_face(rgb, detection)])[0])


def face_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between unit vectors: 0 identical, 2 opposite."""
    return float(np.linalg.norm(np.asarray(a, dtype=np.float32) - np.asarray(b, dtype=np.float32)))

"""Distances for verification pairs, from photos through the full detect-align-embed path.

LFW's DevTest and a user's CSV of pairs go through the same code as `facesim verify`, so the
reported accuracy is the accuracy users get.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facesim.alignment import align_face
from facesim.detection import face_from_box, find_primary_face
from facesim.images import load_rgb
from facesim.pairs_csv import PhotoPair
from facesim.training.lfw import Pair


@dataclass
class PairChips:
    chips: dict[Path, np.ndarray]
    undetected: list[Path]


def central_box(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """Where a cropped portrait (LFW-style) has its face, for photos the detector misses, so
    every pair still gets a distance instead of silently dropping the hard ones."""
    height, width = shape[:2]
    side = 0.45 * min(height, width)
    cx, cy = width / 2, height / 2
    return int(cx - side / 2), int(cy - side / 2), int(cx + side / 2), int(cy + side / 2)


def chips_for_pairs(pairs: Sequence[Pair | PhotoPair]) -> PairChips:
    paths = sorted({p for pair in pairs for p in (pair.path_a, pair.path_b)})
    chips, undetected = {}, []
    for path in paths:
        rgb = load_rgb(path)
        face = find_primary_face(rgb)
        if face is None:
            undetected.append(path)
            face = face_from_box(rgb, central_box(rgb.shape))
        chips[path] = align_face(rgb, face)
    return PairChips(chips, undetected)


def pair_distances(
    pairs: Sequence[Pair | PhotoPair], chips: PairChips, embed: Callable[[list[np.ndarray]], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    paths = list(chips.chips)
    vectors = embed([chips.chips[p] for p in paths])
    row = {p: i for i, p in enumerate(paths)}
    a = vectors[[row[p.path_a] for p in pairs]]
    b = vectors[[row[p.path_b] for p in pairs]]
    distances = np.linalg.norm(a - b, axis=1)
    return distances, np.array([p.same for p in pairs])

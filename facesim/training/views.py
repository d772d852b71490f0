"""Augmented views of a training photo, each a new sample that the teachers label.

A teacher labels any image, so a damaged view (small, turned, blurred, JPEG-broken, dark,
grey, half hidden) costs one teacher pass and teaches the student what the teachers make of
such a face, where training-time augmentation (augment.py) can only ask the student to keep its
vector of the clean chip. The damage is done to the photo, before either crop is cut, and the
face is found on the damaged photo again, as the shipped pipeline would find it (its landmarks
as unsure as the damage makes them: an aligned chip undoes a turn exactly only with exact
landmarks); where detection loses it, its landmarks are moved with the pixels instead. Both
teachers and the student see the same damaged face, each through its own alignment. Each view
is fixed by the image's path and the view's number, so a chunk rebuilt after a killed run holds
the same views.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import cv2
import numpy as np

from facesim.detection import DetectedFace, detect_faces
from facesim.geometry import most_overlapping
from facesim.training.chipset import VIEW_MARK
from facesim.yunet import YunetFace

VIEW_KINDS = ("scale", "rotation", "blur", "jpeg", "low_light", "grayscale", "occlusion")


@dataclass(frozen=True)
class View:
    rgb: np.ndarray
    face: DetectedFace  # dlib's box and five landmarks, moved with the pixels
    yunet: YunetFace | None  # YuNet's face, moved likewise; None where the photo had none


def view_path(path: str, index: int) -> str:
    return f"{path}{VIEW_MARK}{index}-{view_kind(path, index)}"


def view_kind(path: str, index: int) -> str:
    """Consecutive views of one photo take consecutive kinds, from a start fixed by its path."""
    return VIEW_KINDS[(zlib.crc32(path.encode()) + index) % len(VIEW_KINDS)]


def make_view(rgb: np.ndarray, face: DetectedFace, yunet: YunetFace | None, path: str, index: int) -> View:
    """The view's photo with the face found on it again (`yunet` is only moved: the SFace
    teacher finds its own face on the view)."""
    rng = np.random.default_rng([zlib.crc32(path.encode()), index])
    kind = view_kind(path, index)
    if kind in ("scale", "rotation"):
        view = _moved(rgb, face, yunet, kind, rng)
    else:
        view = View(_damaged(rgb, face, kind, rng), face, yunet)
    found = _found_again(view.rgb, view.face)
    return View(view.rgb, found, view.yunet) if found is not None else view


def _found_again(rgb: np.ndarray, face: DetectedFace) -> DetectedFace | None:
    """The face the shipped detection finds where `face` lies on the view, searched down to half
    its size (a shrunk view's face is small)."""
    width = face.box[2] - face.box[0]
    found = detect_faces(rgb, min_face=max(1.0, width / 2))
    return most_overlapping(face.box, found, lambda candidate: candidate.box)


def _moved(rgb: np.ndarray, face: DetectedFace, yunet: YunetFace | None, kind: str, rng: np.random.Generator) -> View:
    """scale: the photo shrunk to 35-60%, so the face is small and its chip blurry, as in a group
    photo; rotation: turned 6-15 degrees either way about the face's centre."""
    height, width = rgb.shape[:2]
    if kind == "scale":
        factor = float(rng.uniform(0.35, 0.6))
        size = (max(2, round(width * factor)), max(2, round(height * factor)))
        moved = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        matrix = np.array([[size[0] / width, 0, 0], [0, size[1] / height, 0]])
    else:
        angle = float(rng.uniform(6, 15) * rng.choice([-1, 1]))
        left, top, right, bottom = face.box
        matrix = cv2.getRotationMatrix2D(((left + right) / 2, (top + bottom) / 2), angle, 1.0)
        moved = cv2.warpAffine(rgb, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return View(moved, _moved_face(face, matrix), _moved_yunet(yunet, matrix) if yunet is not None else None)


def _apply(matrix: np.ndarray, points: list[tuple[float, float]]) -> np.ndarray:
    return np.hstack([np.asarray(points, dtype=np.float64), np.ones((len(points), 1))]) @ matrix.T


def _moved_face(face: DetectedFace, matrix: np.ndarray) -> DetectedFace:
    left, top, right, bottom = face.box
    corners = _apply(matrix, [(left, top), (right, top), (left, bottom), (right, bottom)])
    (x0, y0), (x1, y1) = corners.min(axis=0), corners.max(axis=0)
    landmarks = tuple((round(x), round(y)) for x, y in _apply(matrix, list(face.landmarks)))
    return DetectedFace((round(x0), round(y0), round(x1), round(y1)), face.score, landmarks)


def _moved_yunet(face: YunetFace, matrix: np.ndarray) -> YunetFace:
    left, top, width, height = face.box
    corners = _apply(matrix, [(left, top), (left + width, top), (left, top + height), (left + width, top + height)])
    (x0, y0), (x1, y1) = corners.min(axis=0), corners.max(axis=0)
    points = tuple((float(x), float(y)) for x, y in _apply(matrix, list(face.points)))
    return YunetFace((float(x0), float(y0), float(x1 - x0), float(y1 - y0)), face.score, points)


def _damaged(rgb: np.ndarray, face: DetectedFace, kind: str, rng: np.random.Generator) -> np.ndarray:
    """The photo with its pixels damaged in place; the face stays where it was."""
    if kind == "blur":
        return cv2.GaussianBlur(rgb, (0, 0), float(rng.uniform(1.2, 3.0)))
    if kind == "jpeg":
        quality = int(rng.integers(8, 36))
        _, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        return cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    if kind == "low_light":
        dark = (rgb / 255.0) ** float(rng.uniform(1.8, 2.8)) * 255
        grain = rng.normal(0, float(rng.uniform(3, 8)), rgb.shape)
        return np.clip(dark + grain, 0, 255).astype(np.uint8)
    if kind == "grayscale":
        return np.repeat(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2)
    if kind == "occlusion":
        return _occluded(rgb, face, rng)
    raise ValueError(f"unknown view kind {kind!r}")


def _occluded(rgb: np.ndarray, face: DetectedFace, rng: np.random.Generator) -> np.ndarray:
    """Dark glasses over both eyes, or a hand over the mouth and chin, placed by dlib's five
    landmarks (eye corners, nose base)."""
    points = np.asarray(face.landmarks, dtype=np.float64)
    eyes, nose = points[:4], points[4]
    span = max(1.0, float(eyes[:, 0].max() - eyes[:, 0].min()))
    out = rgb.copy()
    if rng.random() < 0.5:
        centre = eyes.mean(axis=0)
        axes = (round(span * 0.75), round(span * 0.22))
        colour = (int(rng.integers(0, 40)),) * 3
    else:
        centre = nose + np.array([rng.uniform(-0.15, 0.15) * span, 0.65 * span])
        axes = (round(span * rng.uniform(0.6, 0.85)), round(span * rng.uniform(0.4, 0.55)))
        colour = tuple(int(c) for c in rng.integers((150, 100, 80), (240, 190, 160)))
    cv2.ellipse(out, (round(centre[0]), round(centre[1])), axes, 0, 0, 360, colour, thickness=-1)
    return out

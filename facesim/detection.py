"""Finds faces and their five landmarks: YuNet (the default) or dlib's detectors, each on a copy
scaled to the smallest face sought; the landmarks are always dlib's 5-point model's, fitted at
full resolution, because they place the chip the encoder was trained on."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import dlib
import numpy as np
from PIL import Image

from facesim.config import (
    CHIP_PADDING,
    CHIP_SIZE,
    CNN_FALLBACK_MAX_SIDE,
    DEFAULT_DETECTOR,
    DETECTOR_WINDOW_PX,
    DETECTORS,
    HOG_DETECTOR_PATH,
    MIN_FACE_FRACTION,
    MIN_FACE_PX,
    YUNET_BOX_SCALE,
    YUNET_MIN_FACE_PX,
    YUNET_MIN_FACE_SLACK,
    YUNET_SCORE_THRESHOLD,
)
from facesim.dlib_models import MMOD_DETECTOR, SHAPE_PREDICTOR_5, dlib_model_path

Detector = Literal["yunet", "hog", "cnn", "thorough"]


@dataclass(frozen=True)
class DetectedFace:
    """A face in full-resolution pixel coordinates of the upright photo."""

    box: tuple[int, int, int, int]  # left, top, right, bottom
    score: float
    landmarks: tuple[tuple[int, int], ...]  # five (x, y) points, dlib's order

    @property
    def area(self) -> int:
        left, top, right, bottom = self.box
        return max(0, right - left) * max(0, bottom - top)

    def contains(self, x: float, y: float) -> bool:
        left, top, right, bottom = self.box
        return left <= x <= right and top <= y <= bottom


@lru_cache(maxsize=1)
def _hog() -> dlib.fhog_object_detector:
    """dlib builds its frontal detector by decoding a copy compiled into the library, which costs
    a sixth of a `facesim verify`; the same detector saved to a file loads in milliseconds. The
    built-in one remains the fallback: a missing file only costs time, never a different answer."""
    if HOG_DETECTOR_PATH.is_file():
        return dlib.fhog_object_detector(str(HOG_DETECTOR_PATH))
    return dlib.get_frontal_face_detector()


@lru_cache(maxsize=1)
def _mmod() -> dlib.cnn_face_detection_model_v1:
    return dlib.cnn_face_detection_model_v1(str(dlib_model_path(MMOD_DETECTOR)))


@lru_cache(maxsize=1)
def landmark_predictor() -> dlib.shape_predictor:
    return dlib.shape_predictor(str(dlib_model_path(SHAPE_PREDICTOR_5)))


def min_face_size(width: int, height: int, floor: float = MIN_FACE_PX) -> float:
    """The smallest face worth finding, in the photo's pixels (see MIN_FACE_PX in config; YuNet
    looks from YUNET_MIN_FACE_PX)."""
    return max(floor, MIN_FACE_FRACTION * max(width, height))


@dataclass(frozen=True)
class DetectionScale:
    """How a photo is scaled so that the smallest face sought fills the detector's window: a
    resized copy (`zoom` copy pixels per photo pixel), then `upsample` of dlib's own 2x steps.
    dlib's step is kept wherever the zoom is a whole doubling, so that small photos are scanned
    exactly as face_recognition scans them."""

    zoom: float
    upsample: int

    @property
    def smallest_face(self) -> float:
        return DETECTOR_WINDOW_PX / (self.zoom * 2**self.upsample)


def detection_scale(width: int, height: int, min_face: float | None = None) -> DetectionScale:
    zoom = DETECTOR_WINDOW_PX / (min_face_size(width, height) if min_face is None else min_face)
    upsample = 0
    while zoom >= 2:
        zoom /= 2
        upsample += 1
    return DetectionScale(zoom, upsample)


def detection_copy(rgb: np.ndarray, zoom: float) -> np.ndarray:
    """Box filter down (alias-free, and Pillow reduces by whole steps first, so a 12 MP photo
    takes tens of milliseconds), bilinear up (HOG finds the same small faces on it as on dlib's
    own upsampling, on LFW faces shrunk to 44-56 px)."""
    if zoom == 1:
        return rgb
    height, width = rgb.shape[:2]
    size = (max(1, round(width * zoom)), max(1, round(height * zoom)))
    if zoom < 1:
        image = Image.fromarray(rgb).resize(size, Image.Resampling.BOX, reducing_gap=1.0)
    else:
        image = Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR)
    return np.asarray(image)


def _grey(rgb: np.ndarray) -> np.ndarray:
    """HOG on one luminance channel instead of three: dlib's gradients then cost a third, the
    scan 1.44x less in all, and on 150 LFW photos at 400-1,000 px it found 150 of the 151 faces it
    finds in colour (IoU >= 0.5), and nothing else."""
    return np.asarray(Image.fromarray(rgb).convert("L"))


def _yunet_boxes(rgb: np.ndarray, min_face: float) -> list[tuple[tuple[float, float, float, float], float]]:
    """YuNet's faces as the box dlib's detectors would draw (YUNET_BOX_SCALE in config), so that
    the 5-point model, trained on dlib's boxes, fits the landmarks that make the chips encoder 4
    learnt from (on validation people this matched HOG's accuracy, where YuNet's own five points
    on a template lost 0.55 points on CelebA: benchmarks/alignment.py), and so that boxes of one face agree
    across detectors (a re-index with another detector keeps persons by box overlap)."""
    from facesim.yunet import yunet_faces

    faces = yunet_faces(rgb, min_face * YUNET_MIN_FACE_SLACK / YUNET_BOX_SCALE)
    return [(face.dlib_box(), face.score) for face in faces]


def detect_faces(
    rgb: np.ndarray, detector: Detector = DEFAULT_DETECTOR, min_face: float | None = None
) -> list[DetectedFace]:
    """Every face of at least `min_face` pixels (default: min_face_size), largest first; boxes
    are in the photo's pixels and landmarks are fitted at full resolution."""
    height, width = rgb.shape[:2]
    if detector not in DETECTORS:
        raise ValueError(f"unknown detector {detector!r}; choose one of {DETECTORS}")
    if detector == "thorough":
        return detect_faces(rgb, "hog", min_face) or detect_faces(rgb, "cnn", _fallback_min_face(rgb.shape))
    if detector == "yunet":
        sought = min_face_size(width, height, YUNET_MIN_FACE_PX) if min_face is None else min_face
        return _with_landmarks(rgb, _yunet_boxes(rgb, sought), 1.0, 1.0)
    scale = detection_scale(width, height, min_face)
    if detector == "hog":
        copy = detection_copy(_grey(rgb), scale.zoom)
        rects, scores, _ = _hog().run(copy, scale.upsample, 0.0)
        found = list(zip(rects, scores, strict=True))
    else:
        copy = detection_copy(rgb, scale.zoom)
        found = [(d.rect, d.confidence) for d in _mmod()(copy, scale.upsample)]
    boxes = [((rect.left(), rect.top(), rect.right(), rect.bottom()), score) for rect, score in found]
    return _with_landmarks(rgb, boxes, width / copy.shape[1], height / copy.shape[0])


def _with_landmarks(
    rgb: np.ndarray, found: list[tuple[tuple[float, float, float, float], float]], back_x: float, back_y: float
) -> list[DetectedFace]:
    """Boxes found on a scaled copy, back in the photo's pixels and clipped to it, each with dlib's
    five landmarks fitted on the full-resolution photo; largest first."""
    height, width = rgb.shape[:2]
    predictor = landmark_predictor()
    faces = []
    for (left, top, right, bottom), score in found:
        box = (
            max(0, int(round(left * back_x))),
            max(0, int(round(top * back_y))),
            min(width - 1, int(round(right * back_x))),
            min(height - 1, int(round(bottom * back_y))),
        )
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        shape = predictor(rgb, dlib.rectangle(*box))
        points = tuple((shape.part(i).x, shape.part(i).y) for i in range(shape.num_parts))
        faces.append(DetectedFace(box=box, score=float(score), landmarks=points))
    faces.sort(key=lambda face: face.area, reverse=True)
    return faces


def detection_key(detector: Detector = DEFAULT_DETECTOR) -> str:
    """Every setting that decides which faces a photo gives and where their chips are cut, so a
    cache of chips names the detection that made it and is never read back as another's."""
    return (
        f"{detector}; yunet {YUNET_SCORE_THRESHOLD} {YUNET_BOX_SCALE} {YUNET_MIN_FACE_PX} {YUNET_MIN_FACE_SLACK}; "
        f"min face {MIN_FACE_PX} {MIN_FACE_FRACTION}; chip {CHIP_SIZE} {CHIP_PADDING}"
    )


def primary_face(faces: list[DetectedFace], image_shape: tuple[int, ...]) -> DetectedFace | None:
    """The face a one-face question is about: the largest one covering the photo's centre,
    else the largest. This picks the subject in portrait crops like LFW and in ordinary photos."""
    if not faces:
        return None
    centre_y, centre_x = image_shape[0] / 2, image_shape[1] / 2
    central = [face for face in faces if face.contains(centre_x, centre_y)]
    return max(central or faces, key=lambda face: face.area)


def find_primary_face(rgb: np.ndarray, detector: Detector = DEFAULT_DETECTOR) -> DetectedFace | None:
    """For one-face questions a miss is costly, so HOG is always backed up by the CNN, as with
    `thorough`."""
    return primary_face_and_count(rgb, detector)[0]


def primary_face_and_count(rgb: np.ndarray, detector: Detector = DEFAULT_DETECTOR) -> tuple[DetectedFace | None, int]:
    """find_primary_face, and how many faces the detector that found it saw: an answer about one
    face of a group photo should say that there were others."""
    detections = detect_faces(rgb, "thorough" if detector == "hog" else detector)
    return primary_face(detections, rgb.shape), len(detections)


def _fallback_min_face(shape: tuple[int, ...]) -> float:
    """The smallest face the CNN looks for as a fallback: what HOG looked for, but never below
    what a copy of CNN_FALLBACK_MAX_SIDE, not upsampled, can show."""
    height, width = shape[:2]
    longest = max(height, width)
    bounded = DETECTOR_WINDOW_PX * max(1.0, longest / CNN_FALLBACK_MAX_SIDE)
    return max(bounded, min_face_size(width, height))


def face_from_box(rgb: np.ndarray, box: tuple[int, int, int, int]) -> DetectedFace:
    """Landmarks for a box given by the caller, for photos the detector misses (e.g. LFW's
    fixed central crop in evaluation, where every pair must get a distance)."""
    shape = landmark_predictor()(rgb, dlib.rectangle(*box))
    points = tuple((shape.part(i).x, shape.part(i).y) for i in range(shape.num_parts))
    return DetectedFace(box=box, score=0.0, landmarks=points)

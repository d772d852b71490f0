"""OpenCV's YuNet, the default face detector: a 232 KB CNN that finds turned heads HOG misses, at a
fraction of HOG's cost, through OpenCV's own `cv2.FaceDetectorYN` (no hand-written decoding).

YuNet was trained on faces of about 10 to 300 pixels, so a photo is scanned on a copy scaled to
put the faces facesim looks for in that range: big photos are shrunk until the smallest face
sought is YUNET_SMALLEST_FACE_PX, small ones are scanned as they are. The file is checked against
its published sha256 before it is loaded (facesim did not train it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from facesim.config import (
    YUNET_BOX_SCALE,
    YUNET_MAX_SIDE,
    YUNET_NMS_THRESHOLD,
    YUNET_PATH,
    YUNET_SCORE_THRESHOLD,
    YUNET_SHA256,
    YUNET_SMALLEST_FACE_PX,
)
from facesim.model_files import verified_bytes

# Candidates kept before non-maximum suppression; a crowd photo has far fewer faces.
_TOP_K = 5000


@dataclass(frozen=True)
class YunetFace:
    """A face as YuNet reports it, in the photo's pixels: a box, a score and five points (the
    centres of the right and left eye, the nose tip, the right and left mouth corner)."""

    box: tuple[float, float, float, float]  # left, top, width, height
    score: float
    points: tuple[tuple[float, float], ...]

    def dlib_box(self) -> tuple[float, float, float, float]:
        """The box dlib's detectors would draw around this face (left, top, right, bottom): the
        same centre, YUNET_BOX_SCALE times YuNet's width a side (see config)."""
        left, top, width, height = self.box
        centre_x, centre_y = left + width / 2, top + height / 2
        half = YUNET_BOX_SCALE * width / 2
        return centre_x - half, centre_y - half, centre_x + half, centre_y + half

    def row(self) -> np.ndarray:
        """The face as `cv2.FaceDetectorYN` reports it (box, five points, score: 15 floats), the
        form `cv2.FaceRecognizerSF.alignCrop` takes to cut SFace's own crop."""
        points = [coordinate for point in self.points for coordinate in point]
        return np.asarray([*self.box, *points, self.score], dtype=np.float32)


@lru_cache(maxsize=1)
def _detector() -> cv2.FaceDetectorYN:
    # OpenCV's DNN module warns on stderr that its new graph engine ignores target settings: noise
    # in every command's output, about nothing facesim asks for.
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    model = np.frombuffer(verified_bytes(YUNET_PATH, YUNET_SHA256), dtype=np.uint8)
    return cv2.FaceDetectorYN.create(
        "onnx", model, np.zeros(0, np.uint8), (320, 320), YUNET_SCORE_THRESHOLD, YUNET_NMS_THRESHOLD, _TOP_K
    )


def scan_zoom(width: int, height: int, min_face: float) -> float:
    """Copy pixels per photo pixel: never enlarged; shrunk until the longest side is
    YUNET_MAX_SIDE, but never so far that the smallest face sought falls under
    YUNET_SMALLEST_FACE_PX (the lesser shrink wins)."""
    longest = max(width, height)
    return min(1.0, max(YUNET_MAX_SIDE / longest, YUNET_SMALLEST_FACE_PX / min_face))


def yunet_faces(rgb: np.ndarray, min_face: float) -> list[YunetFace]:
    """Every face YuNet scores at or over YUNET_SCORE_THRESHOLD whose box is at least `min_face`
    wide, in the photo's own pixels."""
    height, width = rgb.shape[:2]
    zoom = scan_zoom(width, height, min_face)
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if zoom < 1:
        size = (max(1, round(width * zoom)), max(1, round(height * zoom)))
        bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
    detector = _detector()
    detector.setInputSize((bgr.shape[1], bgr.shape[0]))
    _, rows = detector.detect(bgr)
    if rows is None:
        return []
    back_x, back_y = width / bgr.shape[1], height / bgr.shape[0]
    faces = []
    for row in rows:
        left, top, box_w, box_h = row[0] * back_x, row[1] * back_y, row[2] * back_x, row[3] * back_y
        if box_w < min_face:
            continue
        points = tuple((float(row[4 + 2 * i] * back_x), float(row[5 + 2 * i] * back_y)) for i in range(5))
        faces.append(YunetFace((float(left), float(top), float(box_w), float(box_h)), float(row[14]), points))
    return faces

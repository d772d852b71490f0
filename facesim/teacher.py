"""The dlib ResNet (face_recognition's model): the baseline we benchmark against and the
teacher we distil from during training. Inference in facesim never needs it."""

from __future__ import annotations

import dlib
import numpy as np

from facesim.dlib_models import DLIB_RESNET, dlib_model_path


class DlibTeacher:
    def __init__(self) -> None:
        self._model = dlib.face_recognition_model_v1(str(dlib_model_path(DLIB_RESNET)))

    def embed_chips(self, chips: list[np.ndarray]) -> np.ndarray:
        """Vectors for 150x150 chips aligned the dlib way; no jitter, as face_recognition's default."""
        return np.asarray(self._model.compute_face_descriptor(chips), dtype=np.float32)

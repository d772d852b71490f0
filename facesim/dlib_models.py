"""Locates the dlib model files shipped by the `face_recognition_models` wheel.

The package's own `__init__` imports `pkg_resources`, which newer setuptools no longer ship,
so we find its folder through the import system without executing it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from facesim.errors import FacesimError

SHAPE_PREDICTOR_5 = "shape_predictor_5_face_landmarks.dat"
MMOD_DETECTOR = "mmod_human_face_detector.dat"
DLIB_RESNET = "dlib_face_recognition_resnet_model_v1.dat"


def dlib_model_path(filename: str) -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FacesimError("face_recognition_models is not installed (pip install face_recognition_models)")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / filename
    if not path.is_file():
        raise FacesimError(f"dlib model file missing: {path}")
    return path

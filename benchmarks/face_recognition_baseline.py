"""The baseline the speed targets are measured against: exactly the dlib calls that
face_recognition makes for `face_encodings(load_image_file(path))`, with its defaults.

face_recognition itself is not a dependency (its package imports pkg_resources and loads five
models at import), so this repeats its calls one for one: PIL decode to RGB, the HOG frontal
face detector with one upsample, the 5-point shape predictor ("small"), and the dlib ResNet's
compute_face_descriptor with num_jitters=1. Detection runs once per photo, as when the caller
passes no known locations. Nothing is stored, which if anything flatters the baseline.

    python benchmarks/face_recognition_baseline.py FOLDER   # JSON: faces and boxes per photo, timings
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import dlib
import numpy as np
import PIL.Image
from PIL import ImageFile

from facesim.dlib_models import DLIB_RESNET, SHAPE_PREDICTOR_5, dlib_model_path

UPSAMPLE = 1  # face_recognition's number_of_times_to_upsample default
NUM_JITTERS = 1  # face_recognition's num_jitters default


class FaceRecognitionPipeline:
    """face_recognition's models, loaded once as its module does at import."""

    def __init__(self) -> None:
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(dlib_model_path(SHAPE_PREDICTOR_5)))
        self.encoder = dlib.face_recognition_model_v1(str(dlib_model_path(DLIB_RESNET)))

    @staticmethod
    def load(path: Path) -> np.ndarray:
        """face_recognition.load_image_file: no EXIF rotation, truncated files accepted."""
        with PIL.Image.open(path) as image:
            return np.array(image.convert("RGB"))

    def locations(self, rgb: np.ndarray) -> list[dlib.rectangle]:
        return list(self.detector(rgb, UPSAMPLE))

    def encodings(self, rgb: np.ndarray, rects: list[dlib.rectangle]) -> list[np.ndarray]:
        shapes = [self.predictor(rgb, rect) for rect in rects]
        return [np.array(self.encoder.compute_face_descriptor(rgb, shape, NUM_JITTERS)) for shape in shapes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    ImageFile.LOAD_TRUNCATED_IMAGES = True  # as face_recognition sets it at import
    started = time.perf_counter()
    pipeline = FaceRecognitionPipeline()
    loaded = time.perf_counter()
    photos = sorted(path for path in args.folder.iterdir() if path.suffix.lower() in (".jpg", ".jpeg", ".png"))
    boxes = {}
    for path in photos:
        rgb = pipeline.load(path)
        rects = pipeline.locations(rgb)
        pipeline.encodings(rgb, rects)
        boxes[path.name] = [(rect.left(), rect.top(), rect.right(), rect.bottom()) for rect in rects]
    done = time.perf_counter()
    faces = {name: len(found) for name, found in boxes.items()}
    print(json.dumps({"faces": faces, "boxes": boxes, "model_load_s": loaded - started, "loop_s": done - loaded}))


if __name__ == "__main__":
    main()

"""What a student shape costs to embed a face, against the dlib ResNet on the same core in the
same run: issue 23's budget is at most 1/4 of dlib's time per face.

Each shape is a freshly initialised facesim encoder (weights do not change its cost), exported
as the shipped graph is (uint8 chips in, the unit vector of chip plus mirror out) and run by
ONNX Runtime on one thread, batched as `facesim index` batches; dlib's ResNet embeds the same
150 px chips one by one, as face_recognition does. Chips are the sample gallery's faces.

    python benchmarks/student_cost.py [--shape '{"widths": [80, 160, 320]}' ...] [--repeats 5]
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import time
from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from speedkit import markdown_table

from facesim.alignment import align_face
from facesim.config import CHIP_SIZE, ONNX_INPUT_NAME, ONNX_OPSET, ONNX_OUTPUT_NAME
from facesim.detection import detect_faces
from facesim.embedder import EMBED_BATCH
from facesim.encoder import FaceEncoder
from facesim.images import load_rgb
from facesim.model_card import read_card
from facesim.teacher import DlibTeacher
from facesim.training.export_onnx import ChipsToVectors

SAMPLE_PHOTOS = Path(__file__).resolve().parent.parent / "sample_data" / "photos"
# The shipped shape first, then wider and deeper ones a GPU run might try.
DEFAULT_SHAPES = (
    {},
    {"widths": [80, 160, 320], "stem_width": 40},
    {"blocks": [2, 2, 2]},
    {"blocks": [2, 3, 3]},
    {"widths": [96, 192, 384], "stem_width": 48},
)


def sample_chips() -> np.ndarray:
    """Every face of the sample gallery, aligned as `facesim index` aligns it."""
    chips = []
    for photo in sorted(SAMPLE_PHOTOS.glob("*.jpg")):
        try:
            rgb = load_rgb(photo)
        except Exception:  # the gallery's deliberately broken files
            continue
        chips += [align_face(rgb, face) for face in detect_faces(rgb)]
    return np.stack(chips)


def onnx_session(shape: dict) -> tuple[ort.InferenceSession, int]:
    """The shape as the shipped graph, on one thread; and its parameter count."""
    encoder = FaceEncoder(**{**_shipped_shape(), **shape}).eval()
    graph = ChipsToVectors(encoder).eval()
    buffer = io.BytesIO()
    example = torch.zeros((2, CHIP_SIZE, CHIP_SIZE, 3), dtype=torch.uint8)
    torch.onnx.export(
        graph,
        (example,),
        buffer,
        input_names=[ONNX_INPUT_NAME],
        output_names=[ONNX_OUTPUT_NAME],
        dynamic_axes={ONNX_INPUT_NAME: {0: "faces"}, ONNX_OUTPUT_NAME: {0: "faces"}},
        opset_version=ONNX_OPSET,
        dynamo=False,
    )
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
    return session, sum(p.numel() for p in encoder.parameters())


def _shipped_shape() -> dict:
    architecture = read_card()["architecture"]
    keys = ("stem_width", "widths", "blocks", "embedding_dim", "input_size")
    return {key: architecture[key] for key in keys}


def run_batched(session: ort.InferenceSession, chips: np.ndarray) -> None:
    for start in range(0, len(chips), EMBED_BATCH):
        session.run(None, {ONNX_INPUT_NAME: chips[start : start + EMBED_BATCH]})


def per_face_ms(embed: Callable[[], object], faces: int, repeats: int) -> float:
    """The best of `repeats` timed passes over every chip, per face: the least disturbed by
    whatever else the machine runs."""
    embed()  # warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        embed()
        best = min(best, time.perf_counter() - start)
    return 1000 * best / faces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", action="append", type=json.loads, help="FaceEncoder options (JSON); repeatable")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    chips = sample_chips()
    teacher = DlibTeacher()
    dlib_ms = per_face_ms(lambda: [teacher.embed_chips([chip]) for chip in chips], len(chips), args.repeats)
    rows = [["dlib ResNet (29 conv layers, 150 px chips)", "-", f"{dlib_ms:.1f}", "1.00"]]
    for shape in args.shape or DEFAULT_SHAPES:
        session, parameters = onnx_session(shape)
        ms = per_face_ms(partial(run_batched, session, chips), len(chips), args.repeats)
        name = json.dumps(shape) if shape else "shipped shape " + json.dumps(_shipped_shape())
        rows.append([name, f"{parameters / 1e6:.1f} M", f"{ms:.1f}", f"{ms / dlib_ms:.2f}"])
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"{len(chips)} sample faces, one thread, {platform.processor() or platform.machine()}, {when}")
    print(markdown_table(["model", "parameters", "ms a face", "of dlib's time"], rows))


if __name__ == "__main__":
    main()

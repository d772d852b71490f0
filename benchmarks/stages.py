"""Where indexing time goes, stage by stage, and what cheaper detection would cost in recall.

On the same seeded LFW sample as index_speed.py, in one process, it times (CPU seconds, so a
shared core does not distort the split) each stage of facesim's per-photo path and of the
face_recognition baseline, then several HOG variants against the current detector (RGB, one
upsample): how many of its faces each variant finds (box IoU >= 0.5), how many it adds, and its
cost. A variant only keeps "equal detection recall" if it misses none of the current faces.
The last table projects facesim's per-photo CPU cost with each change; it is arithmetic on the
measured stage costs, not a measured end-to-end run.

    python benchmarks/stages.py --lfw ../shared/data/lfw [--photos 300] [--quick]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dlib
import numpy as np
from face_recognition_baseline import FaceRecognitionPipeline
from PIL import Image
from speedkit import DEFAULT_LFW, lfw_sample, markdown_table, print_header

from facesim.alignment import align_face
from facesim.detection import DetectedFace, detect_faces
from facesim.embedder import default_embedder
from facesim.geometry import box_iou
from facesim.images import load_rgb

Box = tuple[int, int, int, int]  # left, top, right, bottom
MATCH_IOU = 0.5
CROSS_PHOTO_BATCH = 64

CURRENT = "HOG: RGB, upsample 1 (current)"
DECODE = "decode: facesim load_rgb"
DECODE_BASELINE = "decode: face_recognition"
LANDMARKS = "5-point landmarks"
ALIGN = "align (dlib get_face_chip)"
EMBED_TODAY = "embed: facesim, one encoder call per photo"
EMBED_BATCHED = f"embed: facesim, batches of {CROSS_PHOTO_BATCH} across photos"
EMBED_DLIB = "embed: dlib ResNet (baseline)"


@dataclass
class Clock:
    """CPU seconds per named stage, summed over photos."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.process_time()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.process_time() - started

    def ms(self, name: str, count: int) -> float:
        return self.seconds.get(name, 0.0) / max(count, 1) * 1000


def _boxes(rects: dlib.rectangles, scale: float = 1.0) -> list[Box]:
    return [
        (int(r.left() / scale), int(r.top() / scale), int(r.right() / scale), int(r.bottom() / scale)) for r in rects
    ]


def _grey(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).convert("L"))


def detection_variants(hog: dlib.fhog_object_detector) -> dict[str, Callable[[np.ndarray], list[Box]]]:
    """Each takes the RGB photo and returns boxes in its pixel coordinates. The first is what
    facesim (and face_recognition) run today; the others are candidate speed-ups."""

    def current(rgb: np.ndarray) -> list[Box]:
        return _boxes(hog.run(rgb, 1, 0.0)[0])

    def grey(rgb: np.ndarray) -> list[Box]:
        return _boxes(hog.run(_grey(rgb), 1, 0.0)[0])

    def no_upsample(rgb: np.ndarray) -> list[Box]:
        return _boxes(hog.run(rgb, 0, 0.0)[0])

    def cascade(rgb: np.ndarray) -> list[Box]:
        return no_upsample(rgb) or current(rgb)

    def grey_pil_upsample(rgb: np.ndarray) -> list[Box]:
        # The 2x upsample done by Pillow's SIMD resize instead of dlib's pyramid_up.
        image = Image.fromarray(rgb).convert("L")
        big = np.asarray(image.resize((image.width * 2, image.height * 2), Image.Resampling.BILINEAR))
        return _boxes(hog.run(big, 0, 0.0)[0], scale=2.0)

    return {
        CURRENT: current,
        "HOG: grey, upsample 1": grey,
        "HOG: grey, Pillow 2x bilinear + upsample 0": grey_pil_upsample,
        "HOG: RGB, upsample 0": no_upsample,
        "HOG: RGB, upsample 0, upsample 1 only if no face": cascade,
    }


def matched(reference: list[Box], candidate: list[Box]) -> int:
    """Greedy one-to-one matching: how many reference faces the candidate also found."""
    left = list(candidate)
    hits = 0
    for box in reference:
        best = max(left, key=lambda other: box_iou(box, other), default=None)
        if best is not None and box_iou(box, best) >= MATCH_IOU:
            left.remove(best)
            hits += 1
    return hits


def profile(photos: list[Path]) -> tuple[Clock, dict[str, list[list[Box]]], int]:
    """Runs every stage and variant on every photo; returns the clock, each variant's boxes per
    photo, and the number of faces the current detector found."""
    baseline = FaceRecognitionPipeline()
    embedder = default_embedder()
    variants = detection_variants(baseline.detector)
    clock = Clock()
    found: dict[str, list[list[Box]]] = {name: [] for name in variants}
    all_chips: list[np.ndarray] = []
    # One untimed photo first: lazy model loads and allocator warm-up are not a per-photo cost.
    warm = load_rgb(photos[0])
    embedder.embed([align_face(warm, face) for face in detect_faces(warm)] or [np.zeros((150, 150, 3), np.uint8)])

    for path in photos:
        with clock.stage(DECODE):
            rgb = load_rgb(path)
        with clock.stage(DECODE_BASELINE):
            baseline.load(path)
        for name, detect in variants.items():
            with clock.stage(name):
                boxes = detect(rgb)
            found[name].append(boxes)
        current = found[CURRENT][-1]
        with clock.stage(LANDMARKS):
            shapes = [baseline.predictor(rgb, dlib.rectangle(*box)) for box in current]
        faces = [
            DetectedFace(box, 0.0, tuple((shape.part(i).x, shape.part(i).y) for i in range(shape.num_parts)))
            for box, shape in zip(current, shapes, strict=True)
        ]
        with clock.stage(ALIGN):
            chips = [align_face(rgb, face) for face in faces]
        if not chips:
            continue
        all_chips += chips
        with clock.stage(EMBED_TODAY):
            embedder.embed(chips)
        with clock.stage(EMBED_DLIB):
            for shape in shapes:
                baseline.encoder.compute_face_descriptor(rgb, shape, 1)
    for start in range(0, len(all_chips), CROSS_PHOTO_BATCH):
        with clock.stage(EMBED_BATCHED):
            embedder.embed(all_chips[start : start + CROSS_PHOTO_BATCH])
    return clock, found, len(all_chips)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    parser.add_argument("--photos", type=int, default=300, help="LFW photos (the first of index_speed's sample)")
    parser.add_argument("--quick", action="store_true", help="60 photos")
    args = parser.parse_args()
    count = 60 if args.quick else args.photos
    print_header(f"Indexing stages and detection variants, {count} LFW photos, CPU time")
    clock, found, n_faces = profile(lfw_sample(args.lfw, count))

    print(f"{count} photos, {n_faces} faces found by the current detector\n")
    stage_rows = [
        [name, f"{clock.ms(name, count):.1f}", f"{clock.ms(name, n_faces):.1f}" if name.startswith("embed") else ""]
        for name in clock.seconds
        if name not in found or name == CURRENT
    ]
    print(markdown_table(["stage", "CPU ms per photo", "CPU ms per face"], stage_rows))

    reference = found[CURRENT]
    total = sum(len(boxes) for boxes in reference)
    detect_rows = []
    kept: dict[str, bool] = {}
    for name, boxes in found.items():
        hits = [matched(ref, got) for ref, got in zip(reference, boxes, strict=True)]
        faces_found = sum(len(got) for got in boxes)
        kept[name] = sum(hits) == total
        missed_photos = sum(1 for ref, hit in zip(reference, hits, strict=True) if hit < len(ref))
        detect_rows.append(
            [
                name,
                f"{clock.ms(name, count):.1f}",
                faces_found,
                f"{sum(hits)}/{total}",
                faces_found - sum(hits),
                missed_photos,
                "yes" if kept[name] else "no",
            ]
        )
    print("\nHOG variants, each against the current detector's faces:\n")
    headers = ["detector", "CPU ms/photo", "faces", "current faces found", "extra", "photos with a miss", "recall kept"]
    print(markdown_table(headers, detect_rows))

    today = sum(clock.ms(name, count) for name in (DECODE, CURRENT, LANDMARKS, ALIGN, EMBED_TODAY))
    baseline = sum(clock.ms(name, count) for name in (DECODE_BASELINE, CURRENT, LANDMARKS, EMBED_DLIB))
    batched = today - clock.ms(EMBED_TODAY, count) + clock.ms(EMBED_BATCHED, count)
    projections = [
        ("facesim, one encoder call per photo", today, True),
        (f"facesim, chips of {CROSS_PHOTO_BATCH} photos per call (the indexer batches too)", batched, True),
    ]
    for name in found:
        if name != CURRENT:
            cost = batched - clock.ms(CURRENT, count) + clock.ms(name, count)
            projections.append((f"+ batched embed + detector '{name}'", cost, kept[name]))
    print(
        f"\nProjected facesim CPU per photo from the stage costs above (no hashing, SQLite or start-up);"
        f" the baseline's stages sum to {baseline:.1f} ms:\n"
    )
    rows = [[name, f"{ms:.1f}", f"{baseline / ms:.2f}x", "yes" if ok else "no"] for name, ms, ok in projections]
    print(markdown_table(["facesim pipeline", "CPU ms/photo", "speed-up over baseline", "recall kept"], rows))


if __name__ == "__main__":
    main()

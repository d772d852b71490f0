"""Builds and loads the cache of aligned chips and dlib-teacher vectors for training.

Detection and the teacher cost about 0.1 s an image, far more than a training step, so they run
once, in parallel, and land under the cache dir (never the repo). Images whose subject HOG
misses are left out of training rather than guessed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from facesim.alignment import align_face
from facesim.detection import detect_faces, primary_face
from facesim.errors import FacesimError
from facesim.images import load_rgb
from facesim.teacher import DlibTeacher
from facesim.training.lfw import LfwLayout, assert_no_devtest

CACHE_VERSION = "pool-v1"


@dataclass
class ChipSet:
    chips: np.ndarray  # N x CHIP x CHIP x 3 uint8
    teacher: np.ndarray  # N x 128, teacher on the chip
    teacher_flipped: np.ndarray  # N x 128, teacher on the mirrored chip
    labels: list[str]
    paths: list[str]

    def subset(self, keep: np.ndarray) -> ChipSet:
        return ChipSet(
            self.chips[keep],
            self.teacher[keep],
            self.teacher_flipped[keep],
            [self.labels[i] for i in keep],
            [self.paths[i] for i in keep],
        )


_teacher: DlibTeacher | None = None


def _init_worker() -> None:
    global _teacher
    _teacher = DlibTeacher()


def _process(path: str) -> tuple[str, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    rgb = load_rgb(path)
    face = primary_face(detect_faces(rgb), rgb.shape)
    if face is None:
        return path, None, None, None
    chip = align_face(rgb, face)
    assert _teacher is not None
    vectors = _teacher.embed_chips([chip, np.ascontiguousarray(chip[:, ::-1])])
    return path, chip, vectors[0], vectors[1]


def build_pool_cache(layout: LfwLayout, out_dir: Path, workers: int = 2) -> Path:
    pool = layout.training_pool()
    assert_no_devtest(list(pool), layout)
    jobs = [(str(path), name) for name, paths in pool.items() for path in paths]
    label_of = dict(jobs)
    chips, teacher, flipped, labels, paths = [], [], [], [], []
    with Pool(workers, initializer=_init_worker) as pool_workers:
        for done, (path, chip, vec, vec_flip) in enumerate(
            pool_workers.imap(_process, [p for p, _ in jobs], chunksize=16), 1
        ):
            if chip is not None:
                chips.append(chip)
                teacher.append(vec)
                flipped.append(vec_flip)
                labels.append(label_of[path])
                paths.append(path)
            if done % 500 == 0:
                print(f"chips: {done}/{len(jobs)} images, {len(chips)} faces", flush=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    np.save(out_dir / "chips.npy", np.stack(chips))
    np.save(out_dir / "teacher.npy", np.stack(teacher).astype(np.float32))
    np.save(out_dir / "teacher_flipped.npy", np.stack(flipped).astype(np.float32))
    (out_dir / "meta.json").write_text(
        json.dumps({"version": CACHE_VERSION, "labels": labels, "paths": paths, "images_seen": len(jobs)})
    )
    return out_dir


def load_pool_cache(cache: Path, layout: LfwLayout) -> ChipSet:
    meta_path = cache / "meta.json"
    if not meta_path.is_file():
        raise FacesimError(f"{cache}: no chip cache; run `facesim train` once to build it")
    meta = json.loads(meta_path.read_text())
    assert_no_devtest(set(meta["labels"]), layout)
    return ChipSet(
        np.load(cache / "chips.npy", mmap_mode="r"),
        np.load(cache / "teacher.npy"),
        np.load(cache / "teacher_flipped.npy"),
        meta["labels"],
        meta["paths"],
    )


def pool_cache_dir(base: Path) -> Path:
    return base / "lfw" / CACHE_VERSION

"""Builds and loads the cache of aligned chips and dlib-teacher vectors for training.

The teacher costs about 0.08 s a chip on one core, far more than a training step, so it runs
once and lands under the cache dir (never the repo). The build goes in chunks of
CHUNK_IMAGES images, each written atomically, on every core: hours of work survive a killed
session, and the next run only builds the chunks that are missing. Images whose subject HOG
misses are left out of training rather than guessed.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from facesim.alignment import align_face
from facesim.detection import detection_key
from facesim.errors import FacesimError
from facesim.images import load_rgb
from facesim.teacher import DlibTeacher
from facesim.training.chipset import UNLABELLED_PREFIX, ChipSet
from facesim.training.sources import FaceSource, mirrored_for_teacher

CACHE_VERSION = "pool-v2"
CHUNK_IMAGES = 256


# The source being built, set before the worker pool forks so workers inherit it (its locate
# function need not be picklable), and the teacher each worker loads once.
_source: FaceSource | None = None
_teacher: DlibTeacher | None = None


def _init_worker() -> None:
    global _teacher
    _teacher = DlibTeacher()


def _chip_and_vectors(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    assert _source is not None and _teacher is not None
    rgb, face = _source.locate(load_rgb(path))
    if face is None:
        return None
    chip = align_face(rgb, face)
    mirrored = np.ascontiguousarray(chip[:, ::-1])
    if _source.both_orientations:
        vectors = _teacher.embed_chips([chip, mirrored])
        return chip, vectors[0], vectors[1]
    if mirrored_for_teacher(path):
        chip = mirrored
    return chip, _teacher.embed_chips([chip])[0], np.full(128, np.nan, dtype=np.float32)


def _build_chunk(task: tuple[int, Path]) -> tuple[int, int, int]:
    index, out_dir = task
    assert _source is not None
    jobs = _source.jobs[index * CHUNK_IMAGES : (index + 1) * CHUNK_IMAGES]
    chips, teacher, flipped, paths, labels = [], [], [], [], []
    for job in jobs:
        try:
            found = _chip_and_vectors(job.path)
        except FacesimError:  # an unreadable file in a public data set is skipped, not fatal
            found = None
        if found is not None:
            chips.append(found[0])
            teacher.append(found[1])
            flipped.append(found[2])
            paths.append(job.path)
            labels.append(job.label if job.label is not None else UNLABELLED_PREFIX + job.path)
    tmp = out_dir / f"chunk-{index:05d}.tmp.npz"
    np.savez(
        tmp,
        chips=np.stack(chips) if chips else np.zeros((0, 150, 150, 3), np.uint8),
        teacher=np.asarray(teacher, np.float32).reshape(-1, 128),
        teacher_flipped=np.asarray(flipped, np.float32).reshape(-1, 128),
        paths=np.asarray(paths, dtype=str),
        labels=np.asarray(labels, dtype=str),
    )
    tmp.replace(_chunk_path(out_dir, index))
    return index, len(jobs), len(chips)


def chunk_count(images: int) -> int:
    return (images + CHUNK_IMAGES - 1) // CHUNK_IMAGES


def _chunk_path(out_dir: Path, index: int) -> Path:
    return out_dir / f"chunk-{index:05d}.npz"


def jobs_digest(source: FaceSource) -> str:
    """The images and the detection that found their faces (a cache of HOG's chips is refused
    when YuNet's are wanted)."""
    text = detection_key() + "\n" + "\n".join(f"{job.path}\t{job.label}" for job in source.jobs)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def source_cache_dir(base: Path, source_name: str) -> Path:
    return base / CACHE_VERSION / source_name


def build_source_cache(source: FaceSource, out_dir: Path, workers: int = 2, log: Callable[[str], None] = print) -> dict:
    """Builds the chunks still missing and returns the manifest. A cache made from a different
    file list is refused rather than mixed."""
    global _source
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / "manifest.json"
    n_chunks = chunk_count(len(source.jobs))
    manifest = {"version": CACHE_VERSION, "source": source.name, "images": len(source.jobs)}
    manifest["jobs_digest"] = jobs_digest(source)
    if manifest_path.is_file():
        old = json.loads(manifest_path.read_text())
        if old.get("jobs_digest") != manifest["jobs_digest"]:
            raise FacesimError(
                f"{out_dir}: cache built from other {source.name} files or by another detection; delete it to rebuild"
            )
    manifest_path.write_text(json.dumps(manifest))
    missing = [i for i in range(n_chunks) if not _chunk_path(out_dir, i).is_file()]
    if missing:
        log(f"{source.name}: {len(missing)} of {n_chunks} chunks to build on {workers} processes")
        _source = source
        started = time.time()
        try:
            context = multiprocessing.get_context("fork")
            with context.Pool(workers, initializer=_init_worker) as pool:
                for done, (index, images, faces) in enumerate(
                    pool.imap_unordered(_build_chunk, [(i, out_dir) for i in missing]), 1
                ):
                    each = (time.time() - started) / done
                    log(f"{source.name}: chunk {index} ({faces}/{images} faces), {done}/{len(missing)}, {each:.0f} s")
        finally:
            _source = None
    return manifest


def load_source_cache(out_dir: Path, source_name: str) -> ChipSet:
    manifest_path = out_dir / "manifest.json"
    if not manifest_path.is_file():
        raise FacesimError(f"{out_dir}: no chip cache; run `facesim train` once to build it")
    manifest = json.loads(manifest_path.read_text())
    n_chunks = chunk_count(manifest["images"])
    parts = []
    for index in range(n_chunks):
        path = _chunk_path(out_dir, index)
        if not path.is_file():
            raise FacesimError(f"{out_dir}: chunk {index} missing; run `facesim train` to finish the cache")
        with np.load(path) as chunk:
            labels = [str(x) for x in chunk["labels"]]
            parts.append(
                ChipSet(
                    chunk["chips"],
                    chunk["teacher"],
                    chunk["teacher_flipped"],
                    labels,
                    [str(x) for x in chunk["paths"]],
                    [source_name] * len(labels),
                )
            )
    return ChipSet.concatenate(parts)

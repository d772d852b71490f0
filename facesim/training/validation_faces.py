"""The held-out people's faces alone, without the whole training pool: what the match rule is
calibrated on when the rest of the card stays (`facesim calibrate --match-only`).

split_pool finds the same people, but builds the chip cache of every training face and runs the
dlib teacher on each first (most of an hour on two cores). Here only the validation people of each
labelled source are read, found and aligned as the chip cache finds them (the source's own locate
rule), so the people and chips are the ones split_pool would give. Chips are cached per source,
and each model's vectors of them per model id, under the cache dir: a rerun on new weights only
embeds, and a rerun on the same weights reads three small files.
"""

from __future__ import annotations

import hashlib
import multiprocessing
from collections.abc import Callable
from pathlib import Path

import numpy as np

from facesim.alignment import align_face
from facesim.config import CHIP_SIZE, cache_dir
from facesim.detection import DetectedFace, detection_key
from facesim.errors import FacesimError
from facesim.images import load_rgb
from facesim.training.sources import FaceJob, FaceSource, validation_people

CACHE_FOLDER = "validation-faces"
# These chips carry no teacher's vectors, so they stay where they were when the training cache
# moved on to two teachers (chip_cache.CACHE_VERSION); their file names hold the detection.
CACHE_VERSION = "pool-v2"
_PROCESSES = 2

_locate: Callable | None = None  # the source being read, inherited by the forked workers


def validation_jobs(source: FaceSource) -> list[FaceJob]:
    """The images of the people split_pool holds out of this source (the frozen validation people)."""
    people = validation_people(source, {job.label for job in source.jobs if job.label})
    return [job for job in source.jobs if job.label in people]


def _chip(path: str) -> np.ndarray | None:
    assert _locate is not None
    try:
        rgb, face = _locate(load_rgb(path))
    except FacesimError:  # an unreadable file in a public data set is skipped, as the chip cache does
        return None
    return None if face is None else align_face(rgb, face)


def _digest(jobs: list[FaceJob]) -> str:
    """Names a cache file by the images and by how their faces are found: chips of another
    detector (or its settings) are never read back as this one's."""
    text = detection_key() + "\n" + "\n".join(f"{job.path}\t{job.label}" for job in jobs)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def validation_chips(
    source: FaceSource, cache: Path | None = None, log: Callable[[str], None] = print
) -> tuple[np.ndarray, list[str], list[str]]:
    """(chips, labels, paths) of the source's validation people whose face was found."""
    return face_chips(source.name, validation_jobs(source), source.locate, cache, log)


def face_chips(
    name: str,
    jobs: list[FaceJob],
    locate: Callable[[np.ndarray], tuple[np.ndarray, DetectedFace | None]],
    cache: Path | None = None,
    log: Callable[[str], None] = print,
) -> tuple[np.ndarray, list[str], list[str]]:
    """(chips, labels, paths) of the jobs' images whose face `locate` found, on two processes;
    built once, then read from the cache (another file list gets its own file, never a mix)."""
    global _locate
    path = (cache or cache_dir()) / CACHE_VERSION / CACHE_FOLDER / f"{name}-{_digest(jobs)}.npz"
    if path.is_file():
        with np.load(path) as stored:
            return stored["chips"], [str(x) for x in stored["labels"]], [str(x) for x in stored["paths"]]
    log(f"{name}: finding the faces of {len(jobs)} images")
    _locate = locate
    try:
        with multiprocessing.get_context("fork").Pool(_PROCESSES) as pool:
            chips = pool.map(_chip, [job.path for job in jobs], chunksize=16)
    finally:
        _locate = None
    found = [i for i, chip in enumerate(chips) if chip is not None]
    stacked = np.stack([chips[i] for i in found]) if found else np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), np.uint8)
    labels, paths = [jobs[i].label or "" for i in found], [jobs[i].path for i in found]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, chips=stacked, labels=np.asarray(labels, dtype=str), paths=np.asarray(paths, dtype=str))
    tmp.replace(path)
    return stacked, labels, paths


def cached_vectors(
    chips: np.ndarray, key: str, embed: Callable[[np.ndarray], np.ndarray], cache: Path | None = None
) -> np.ndarray:
    """embed(chips), kept under `key` plus a digest of the chips, so a model's vectors of a
    validation set are computed once (key: the model id, or "dlib" for the baseline)."""
    digest = hashlib.sha256(np.ascontiguousarray(chips).tobytes()).hexdigest()[:16]
    path = (cache or cache_dir()) / CACHE_VERSION / CACHE_FOLDER / f"vectors-{key}-{digest}.npy"
    if path.is_file():
        return np.load(path)
    vectors = np.asarray(embed(chips), dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, vectors)
    tmp.replace(path)
    return vectors

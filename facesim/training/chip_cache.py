"""Builds and loads the cache of aligned chips and their teachers' vectors for training.

The teachers cost more than a training step (the dlib ResNet about 0.08 s a chip on one core,
SFace about 0.01 s), so they run once and land under the cache dir (never the repo). The build
goes in chunks of CHUNK_IMAGES images, each written atomically, on every core: hours of work
survive a killed session, and the next run only builds the chunks that are missing. Images whose
subject the detector misses are left out of training rather than guessed. The manifest records
which teachers labelled the chips and how many augmented views of each photo they labelled
(teacher_set.py); a cache labelled otherwise than asked is rebuilt, never mixed.
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
from facesim.detection import DetectedFace, detection_key
from facesim.errors import FacesimError
from facesim.images import load_rgb
from facesim.teacher import DlibTeacher
from facesim.training.chipset import TEACHER_DIM, UNLABELLED_PREFIX, ChipSet
from facesim.training.sface_teacher import SFaceTeacher, sface_model_bytes
from facesim.training.sources import FaceSource, mirrored_for_teacher
from facesim.training.teacher_set import DLIB_ALONE, TeacherSet, labelling_name, serves
from facesim.training.views import make_view, view_path
from facesim.yunet import YunetFace

CACHE_VERSION = "pool-v3"
CHUNK_IMAGES = 256
# One cache row: path, chip, dlib's vector and its mirror's, SFace's and its mirror's (NaN: not computed).
Row = tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


# The source being built, set before the worker pool forks so workers inherit it (its locate
# function need not be picklable), and the teachers each worker loads once.
_source: FaceSource | None = None
_teacher: DlibTeacher | None = None
_sface: SFaceTeacher | None = None
_views = 0
# Why this worker could not load its teachers, raised with its first chunk: a pool replaces a
# worker whose initializer raises, again and again, so a failure there would hang the build.
_start_failure: Exception | None = None


def _init_worker(teachers: TeacherSet) -> None:
    global _teacher, _sface, _views, _start_failure
    try:
        _teacher = DlibTeacher()
        _sface = SFaceTeacher(teachers.sface_dir) if teachers.sface_dir is not None else None
    except Exception as exc:
        _start_failure = exc
    _views = teachers.views


def _nan() -> np.ndarray:
    return np.full(TEACHER_DIM, np.nan, dtype=np.float32)


def _labelled(path: str, rgb: np.ndarray, face: DetectedFace, yunet: YunetFace | None, both_orientations: bool) -> Row:
    """The chip of one face with every teacher's vectors: of the chip and its mirror image, or of
    one orientation picked by the path (mirrored_for_teacher)."""
    assert _teacher is not None
    chip = align_face(rgb, face)
    mirrored = np.ascontiguousarray(chip[:, ::-1])
    crop = _sface.crop(rgb, yunet) if _sface is not None and yunet is not None else None
    if both_orientations:
        dlib = _teacher.embed_chips([chip, mirrored])
        sface = _sface.embed_crops([crop, crop[:, ::-1]]) if crop is not None else [_nan(), _nan()]
        return path, chip, dlib[0], dlib[1], sface[0], sface[1]
    if mirrored_for_teacher(path):
        chip = mirrored
        crop = crop[:, ::-1] if crop is not None else None
    sface = _sface.embed_crops([crop])[0] if crop is not None else _nan()
    return path, chip, _teacher.embed_chips([chip])[0], _nan(), sface, _nan()


def _rows(path: str) -> list[Row]:
    """The photo's face, then each of its augmented views (single orientation, half mirrored)."""
    assert _source is not None
    rgb, face = _source.locate(load_rgb(path))
    if face is None:
        return []
    yunet = _sface.find_face(rgb, face) if _sface is not None else None
    rows = [_labelled(path, rgb, face, yunet, _source.both_orientations)]
    for index in range(_views):
        view = make_view(rgb, face, yunet, path, index)
        # SFace's face found on the view as on a photo; its points moved with the pixels where YuNet loses it.
        view_yunet = (_sface.find_face(view.rgb, view.face) or view.yunet) if _sface is not None else None
        rows.append(_labelled(view_path(path, index), view.rgb, view.face, view_yunet, both_orientations=False))
    return rows


def _build_chunk(task: tuple[int, Path]) -> tuple[int, int, int]:
    index, out_dir = task
    if _start_failure is not None:
        raise _start_failure
    assert _source is not None
    jobs = _source.jobs[index * CHUNK_IMAGES : (index + 1) * CHUNK_IMAGES]
    rows, labels = [], []
    for job in jobs:
        try:
            found = _rows(job.path)
        except FacesimError:  # an unreadable file in a public data set is skipped, not fatal
            found = []
        rows += found
        labels += [job.label if job.label is not None else UNLABELLED_PREFIX + job.path] * len(found)
    paths, chips, teacher, flipped, sface, sface_flipped = zip(*rows, strict=True) if rows else ([],) * 6
    tmp = out_dir / f"chunk-{index:05d}.tmp.npz"
    np.savez(
        tmp,
        chips=np.stack(chips) if chips else np.zeros((0, 150, 150, 3), np.uint8),
        teacher=np.asarray(teacher, np.float32).reshape(-1, TEACHER_DIM),
        teacher_flipped=np.asarray(flipped, np.float32).reshape(-1, TEACHER_DIM),
        sface=np.asarray(sface, np.float32).reshape(-1, TEACHER_DIM),
        sface_flipped=np.asarray(sface_flipped, np.float32).reshape(-1, TEACHER_DIM),
        paths=np.asarray(paths, dtype=str),
        labels=np.asarray(labels, dtype=str),
    )
    tmp.replace(_chunk_path(out_dir, index))
    return index, len(jobs), len(rows)


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


def build_source_cache(
    source: FaceSource,
    out_dir: Path,
    workers: int = 2,
    log: Callable[[str], None] = print,
    teachers: TeacherSet = DLIB_ALONE,
) -> dict:
    """Builds the chunks still missing and returns the manifest. A cache made from a different
    file list is refused rather than mixed; one labelled by other teachers, or with another
    number of views, is emptied and built again (its chunks are worth nothing to this request)."""
    global _source
    # Checked before anything is written: a cache labelled otherwise is emptied below, and a bad
    # model folder must not cost it its chunks.
    if teachers.with_sface:
        sface_model_bytes(teachers.sface_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / "manifest.json"
    n_chunks = chunk_count(len(source.jobs))
    manifest = {"version": CACHE_VERSION, "source": source.name, "images": len(source.jobs)}
    manifest["jobs_digest"] = jobs_digest(source)
    manifest["labelling"] = teachers.labelling()
    if manifest_path.is_file():
        old = json.loads(manifest_path.read_text())
        if old.get("jobs_digest") != manifest["jobs_digest"]:
            raise FacesimError(
                f"{out_dir}: cache built from other {source.name} files or by another detection; delete it to rebuild"
            )
        labelled = old.get("labelling", DLIB_ALONE.labelling())
        if serves(labelled, manifest["labelling"]):
            manifest["labelling"] = labelled  # a fuller cache stays as full as it is
        else:
            asked = labelling_name(manifest["labelling"])
            log(f"{source.name}: cache labelled by {labelling_name(labelled)}, {asked} asked: rebuilding")
            # Chunks go before the manifest changes, so a build killed in between is still seen as stale.
            for chunk in out_dir.glob("chunk-*.npz"):
                chunk.unlink()
    missing = [i for i in range(n_chunks) if not _chunk_path(out_dir, i).is_file()]
    if missing and manifest["labelling"] != teachers.labelling():
        raise FacesimError(
            f"{out_dir}: an unfinished cache labelled by {labelling_name(manifest['labelling'])}; finish it "
            "with the same teachers (--sface, --views) or delete it"
        )
    manifest_path.write_text(json.dumps(manifest))
    if missing:
        log(f"{source.name}: {len(missing)} of {n_chunks} chunks to build on {workers} processes")
        _source = source
        started = time.time()
        try:
            context = multiprocessing.get_context("fork")
            with context.Pool(workers, initializer=_init_worker, initargs=(teachers,)) as pool:
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
            # A chunk of a cache labelled by dlib alone has no SFace arrays.
            no_sface = np.full((len(labels), TEACHER_DIM), np.nan, np.float32)
            parts.append(
                ChipSet(
                    chunk["chips"],
                    chunk["teacher"],
                    chunk["teacher_flipped"],
                    chunk["sface"] if "sface" in chunk.files else no_sface,
                    chunk["sface_flipped"] if "sface_flipped" in chunk.files else no_sface,
                    labels,
                    [str(x) for x in chunk["paths"]],
                    [source_name] * len(labels),
                )
            )
    return ChipSet.concatenate(parts)

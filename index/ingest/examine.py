"""What both index engines do to a photo: hash it, and if it changed, decode, detect, align and
embed it, turning every failure into a one-line error for that photo alone.

One module for both engines, so that a gallery does not depend on the engine that built it: the
local engine (index.ingest.indexer, in this process or its worker processes) and the Ray engine
(index.ingest.ray_engine, in Ray actors) hand it the same tasks and get the same outcomes back.
It imports neither engine. The encoder, OpenCV and dlib are imported where a photo is examined,
so that a process which only plans and writes (the indexer's parent, Ray's driver) never loads
them, and `facesim doctor` can share the file hash without them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from facesim.errors import FacesimError, first_line

if TYPE_CHECKING:
    import numpy as np

    from facesim.detection import DetectedFace, Detector
    from facesim.pipeline import Face

# Chips in, one unit vector per chip out: Embedder.embed, or a stand-in that loads it on first use.
EmbedChips = Callable[[list["np.ndarray"]], "np.ndarray"]

_HASH_CHUNK = 1 << 20
# Shown for an exception without a message, so that a failed photo never has an empty error.
_NO_MESSAGE = "unknown error"


@dataclass(frozen=True)
class Task:
    """A photo the run's plan sends to an engine."""

    path: str
    size: int | None  # None when the file could not even be stat'ed
    mtime_ns: int | None
    photo_id: int | None
    known_hash: str | None  # the stored hash when a match means "unchanged"


@dataclass(frozen=True)
class Outcome:
    """What an engine found in one photo, for the indexer to commit."""

    content_hash: str | None
    unchanged: bool = False
    faces: tuple[Face, ...] = ()
    error: str | None = None
    # (size, mtime_ns) of the bytes actually read, which the scan's stat may predate: a file
    # truncated or rewritten in between is recorded with the stat of what was hashed, so the
    # next run sees any later change. None: the scan's stat stands.
    stat: tuple[int, int] | None = None
    vanished: bool = False  # gone between the scan and the read: reported, not recorded


def missing(path: str) -> Outcome:
    """A photo gone since the scan: reported as unreadable but not recorded, since the next run
    finds it gone, or back."""
    return Outcome(None, error=f"{path}: cannot read (No such file or directory)", vanished=True)


def cannot_read(path: str, exc: OSError) -> str:
    """The error of a file the system would not read, with the system's reason."""
    return f"{path}: cannot read ({exc.strerror or type(exc).__name__})"


class _ChangedWhileRead(Exception):
    """The file's size or mtime moved while it was being hashed: the bytes are no one version."""


def _digest(handle: IO[bytes]) -> str:
    digest = hashlib.blake2b(digest_size=32)
    while chunk := handle.read(_HASH_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def _hash_as_read(path: str) -> tuple[str, tuple[int, int]]:
    """The file's hash and the (size, mtime_ns) of the very bytes hashed, taken from the open
    file before and after reading; a file changed meanwhile raises _ChangedWhileRead."""
    with open(path, "rb") as handle:
        before = os.fstat(handle.fileno())
        digest = _digest(handle)
        after = os.fstat(handle.fileno())
    stat = (after.st_size, after.st_mtime_ns)
    if (before.st_size, before.st_mtime_ns) != stat:
        raise _ChangedWhileRead
    return digest, stat


def file_hash(path: str | Path) -> str:
    """A photo's identity: the same bytes under any path or name are the same photo. The indexer,
    which records it, and the doctor, which checks it, both use this one."""
    with open(path, "rb") as handle:
        return _digest(handle)


def examine_photos(
    photos: Sequence[tuple[str, str | None]], detector: Detector, embed: EmbedChips
) -> list[Outcome | None]:
    """An outcome per (path, known hash), in order; None where the file is not there at all,
    which each engine reads differently. Each photo is hashed, then (if changed) decoded,
    detected and aligned on its own, and all their chips go through one encoder call, which
    costs less per photo than a call per photo. Every failure becomes a one-line error for its
    photo alone, because one bad file must not end a run over thousands."""
    paths = [path for path, _ in photos]
    return _embed_all(paths, [_detect(path, known_hash, detector) for path, known_hash in photos], embed)


@dataclass(frozen=True)
class _Found:
    """A photo detected and aligned, waiting for its chunk's one encoder call."""

    content_hash: str
    detections: tuple[DetectedFace, ...]
    chips: tuple[np.ndarray, ...]
    stat: tuple[int, int] | None = None


def _detect(path: str, known_hash: str | None, detector: Detector) -> _Found | Outcome | None:
    from facesim.alignment import align_face
    from facesim.detection import detect_faces
    from facesim.images import load_rgb

    try:
        digest, stat = _hash_as_read(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return Outcome(None, error=cannot_read(path, exc))
    except _ChangedWhileRead:
        # Recorded without a hash and with the scan's stat, which the change made stale: the
        # next run reads it again.
        return Outcome(None, error=f"{path}: changed while being read; the next run reads it again")
    if digest == known_hash:
        return Outcome(digest, unchanged=True, stat=stat)
    try:
        rgb = load_rgb(path)
        detections = tuple(detect_faces(rgb, detector))
        chips = tuple(align_face(rgb, detection) for detection in detections)
    except Exception as exc:  # a decoder bug on one photo: record it, keep going
        if not os.path.lexists(path):
            # Gone between the hash and the decode (an unplugged drive): not a bad file, so not
            # recorded as one, or the next run would skip it as known-bad once it is back.
            return None
        return Outcome(digest, error=_photo_error(path, exc), stat=stat)
    return _Found(digest, detections, chips, stat)


def _photo_error(path: str, exc: Exception) -> str:
    """A FacesimError (an unreadable image; the weights missing, on first use) already says what
    is wrong; anything else is a bug of a decoder or the model on this photo, so the message
    names the photo and the exception's type."""
    if isinstance(exc, FacesimError):
        return first_line(exc, _NO_MESSAGE)
    return f"{path}: {type(exc).__name__}: {first_line(exc, _NO_MESSAGE)}"


def _embed_all(paths: list[str], found: list[_Found | Outcome | None], embed: EmbedChips) -> list[Outcome | None]:
    """One encoder call for every chip of the chunk. Should it fail, each photo is embedded on
    its own, so that only a photo that breaks the model is recorded as failed."""
    with_chips = [item for item in found if isinstance(item, _Found) and item.chips]
    vectors: np.ndarray | None = None
    if len(with_chips) > 1:
        # On failure, retried photo by photo below, which names the photo at fault.
        with suppress(Exception):
            vectors = embed([chip for item in with_chips for chip in item.chips])
    outcomes: list[Outcome | None] = []
    start = 0
    for path, item in zip(paths, found, strict=True):
        if not isinstance(item, _Found):
            outcomes.append(item)
        elif not item.chips:
            outcomes.append(Outcome(item.content_hash, stat=item.stat))
        elif vectors is not None:
            end = start + len(item.chips)
            outcomes.append(_with_faces(item, vectors[start:end]))
            start = end
        else:
            outcomes.append(_embed_one(path, item, embed))
    return outcomes


def _embed_one(path: str, item: _Found, embed: EmbedChips) -> Outcome:
    try:
        vectors = embed(list(item.chips))
    except Exception as exc:  # the model failed on this photo: record it like any photo's failure
        return Outcome(item.content_hash, error=_photo_error(path, exc), stat=item.stat)
    return _with_faces(item, vectors)


def _with_faces(item: _Found, vectors: np.ndarray) -> Outcome:
    from facesim.pipeline import Face

    faces = tuple(Face(detection, vector) for detection, vector in zip(item.detections, vectors, strict=True))
    return Outcome(item.content_hash, faces=faces, stat=item.stat)

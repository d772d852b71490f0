"""The rows the store hands out: plain values, so no caller needs to know the tables behind them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from index.store.columns import path_of

PhotoStatus = Literal["indexed", "no_face", "error", "gone"]
STATUSES: tuple[PhotoStatus, ...] = ("indexed", "no_face", "error", "gone")


@dataclass(frozen=True)
class PhotoRow:
    id: int
    path: str
    content_hash: str | None
    size: int | None
    mtime_ns: int | None
    status: PhotoStatus
    error: str | None
    n_faces: int
    model_id: str | None
    indexed_at: str | None
    detector: str | None = None  # None: examined before facesim recorded its detector


def photo_row(row: dict[str, Any]) -> PhotoRow:
    return PhotoRow(**{**row, "path": path_of(row["path"])})


@dataclass(frozen=True)
class Location:
    """Another path holding a photo's exact bytes, with the stat that lets a rerun skip it unread."""

    path: str
    photo_id: int
    size: int | None
    mtime_ns: int | None


@dataclass(frozen=True)
class FaceHit:
    """What search needs to show a face: where it is and whether its photo still counts."""

    face_id: int
    photo_id: int
    path: str
    box: tuple[int, int, int, int]
    status: PhotoStatus
    model_id: str


@dataclass(frozen=True)
class RunRow:
    """One indexing run; without finished_at it was interrupted."""

    id: int
    root: str | None  # None only in a row written by hand: the column allows it
    started_at: str
    finished_at: str | None

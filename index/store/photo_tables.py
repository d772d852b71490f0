"""The photos and their further locations (tables photos and photo_paths): what the indexer
records, and what `info`, `photos` and the doctor count.

A photo's row and its faces are always written together, so a run killed at any point leaves
whole photos or nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from facesim.wording import printable
from index.ingest.scan import is_inside
from index.store.columns import VECTOR_DTYPE, db_path, path_of, utc_now
from index.store.rows import STATUSES, Location, PhotoRow, PhotoStatus, photo_row
from index.store.sql import in_chunks

if TYPE_CHECKING:  # the pipeline imports the encoder and dlib, which readers like `facesim info` never need
    from sqlite_utils import Database

    from facesim.pipeline import Face


class PhotoTables:
    """Queries of the photos and photo_paths tables (a part of Store)."""

    db: Database

    def photo(self, path: str | Path) -> PhotoRow | None:
        rows = list(self.db["photos"].rows_where("path = ?", [db_path(path)]))
        return photo_row(rows[0]) if rows else None

    def photos_by_path(self) -> dict[str, PhotoRow]:
        """Every photo at once: the indexer compares a whole folder against it without a query
        per file."""
        photos = (photo_row(row) for row in self.db["photos"].rows)
        return {photo.path: photo for photo in photos}

    def record_photo(
        self,
        path: str | Path,
        *,
        status: PhotoStatus,
        content_hash: str | None,
        size: int | None,
        mtime_ns: int | None,
        model_id: str,
        faces: Sequence[Face] = (),
        error: str | None = None,
        detector: str | None = None,
    ) -> int:
        """Writes a photo's row and replaces its faces in one transaction; returns the photo id.

        The old faces are deleted rather than updated so that new vectors always get new ids.
        """
        if status == "indexed" and not faces:
            raise ValueError("an indexed photo needs at least one face")
        if status != "indexed" and faces:
            raise ValueError(f"a photo with status {status!r} cannot have faces")
        record = {
            "path": db_path(path),
            "content_hash": content_hash,
            "size": size,
            "mtime_ns": mtime_ns,
            "status": status,
            "error": None if error is None else printable(error),  # it may quote a non-UTF-8 name
            "n_faces": len(faces),
            "model_id": model_id,
            "indexed_at": utc_now(),
            "detector": detector,
        }
        photos = self.db["photos"]
        with self.db.atomic():
            existing = self.photo(path)
            if existing is None:
                photos.insert(record)
                photo_id = int(photos.last_pk)
            else:
                photo_id = existing.id
                photos.update(photo_id, record)
                self.db["faces"].delete_where("photo_id = ?", [photo_id])
            if faces:
                self.db["faces"].insert_all(_face_record(photo_id, face, model_id) for face in faces)
        return photo_id

    def touch_photo(self, photo_id: int, *, size: int, mtime_ns: int) -> None:
        """A file whose bytes are unchanged: remember its new stat so the next run skips it
        without reading."""
        self.db["photos"].update(photo_id, {"size": size, "mtime_ns": mtime_ns})

    def mark_gone(self, photo_ids: Sequence[int]) -> int:
        """Files no longer on disk keep their row (so `info` can say so) but lose their faces,
        which takes them out of search."""
        with self.db.atomic():
            in_chunks(self.db, "DELETE FROM faces WHERE photo_id IN ({ids})", photo_ids)
            gone = "UPDATE photos SET status = 'gone', n_faces = 0, error = NULL WHERE id IN ({ids})"
            in_chunks(self.db, gone, photo_ids)
        return len(photo_ids)

    def photos_by_hash(self) -> dict[str, PhotoRow]:
        """Photos still in the gallery by content: how a file under a new path is recognised as a
        photo moved or copied, so it is not embedded again."""
        rows = self.db["photos"].rows_where("status != 'gone' AND content_hash IS NOT NULL", order_by="id")
        found: dict[str, PhotoRow] = {}
        for row in rows:
            found.setdefault(row["content_hash"], photo_row(row))
        return found

    def photo_with_hash(self, content_hash: str) -> PhotoRow | None:
        rows = self.db["photos"].rows_where("status != 'gone' AND content_hash = ?", [content_hash], order_by="id")
        return next((photo_row(row) for row in rows), None)

    def photos_under(self, folder: str | Path) -> list[PhotoRow]:
        """Photos whose main path is `folder` itself (a file) or inside it."""
        return [row for path, row in self.photos_by_path().items() if is_inside(path, os.fspath(folder))]

    def move_photo(self, photo_id: int, path: str | Path, *, size: int, mtime_ns: int) -> None:
        """The photo's bytes now live at `path`: its faces, vectors and persons stay as they are.
        A row left at `path` by a photo gone from there is only a tombstone and makes way."""
        with self.db.atomic():
            self.db.execute("DELETE FROM photos WHERE path = ? AND status = 'gone'", [db_path(path)])
            self.db.execute("DELETE FROM photo_paths WHERE path = ?", [db_path(path)])
            self.db["photos"].update(photo_id, {"path": db_path(path), "size": size, "mtime_ns": mtime_ns})

    def locations(self) -> dict[str, Location]:
        rows = self.db.execute("SELECT path, photo_id, size, mtime_ns FROM photo_paths").fetchall()
        return {path_of(path): Location(path_of(path), photo_id, size, mtime) for path, photo_id, size, mtime in rows}

    def add_location(self, photo_id: int, path: str | Path, *, size: int | None, mtime_ns: int | None) -> None:
        """A path is one photo's main path or a location, never both: a tombstone there makes way."""
        with self.db.atomic():
            self.db.execute("DELETE FROM photos WHERE path = ? AND status = 'gone'", [db_path(path)])
            self.db["photo_paths"].upsert(
                {"path": db_path(path), "photo_id": photo_id, "size": size, "mtime_ns": mtime_ns}, pk="path"
            )

    def touch_location(self, path: str | Path, *, size: int, mtime_ns: int) -> None:
        sql = "UPDATE photo_paths SET size = ?, mtime_ns = ? WHERE path = ?"
        self.db.execute(sql, [size, mtime_ns, db_path(path)])

    def remove_locations(self, paths: Sequence[str | Path]) -> None:
        with self.db.atomic():
            for path in paths:
                self.db.execute("DELETE FROM photo_paths WHERE path = ?", [db_path(path)])

    def promote_location(self, location: Location) -> None:
        """The main path is gone but a copy remains: the copy becomes the main path, so the photo
        keeps its faces and persons."""
        with self.db.atomic():
            self.db.execute("DELETE FROM photo_paths WHERE path = ?", [db_path(location.path)])
            self.db["photos"].update(
                location.photo_id,
                {"path": db_path(location.path), "size": location.size, "mtime_ns": location.mtime_ns},
            )

    def retire_photos(self, photo_ids: Sequence[int]) -> tuple[int, int]:
        """Photos whose main path is gone from disk: each lives on at a copy that is still there
        (its faces and persons kept), or is marked gone. Returns (moved to a copy, marked gone)."""
        leaving = dict.fromkeys(photo_ids)
        copies: dict[int, Location] = {}
        for location in sorted(self.locations().values(), key=lambda location: location.path) if leaving else ():
            if location.photo_id in leaving and location.photo_id not in copies and os.path.exists(location.path):
                copies[location.photo_id] = location
        with self.db.atomic():
            for location in copies.values():
                self.promote_location(location)
            gone = self.mark_gone([photo_id for photo_id in leaving if photo_id not in copies])
        return len(copies), gone

    def other_paths(self, photo_ids: Sequence[int]) -> dict[int, list[str]]:
        """photo id -> its further locations, sorted; photos without any are absent."""
        found: dict[int, list[str]] = {}
        sql = "SELECT photo_id, path FROM photo_paths WHERE photo_id IN ({ids}) ORDER BY path"
        for photo_id, path in in_chunks(self.db, sql, photo_ids):
            found.setdefault(photo_id, []).append(path_of(path))
        return found

    def forget_photos(self, photo_ids: Sequence[int]) -> None:
        """Takes photos out of the gallery altogether: rows, faces and locations (by cascade)."""
        with self.db.atomic():
            in_chunks(self.db, "DELETE FROM photos WHERE id IN ({ids})", photo_ids)

    def status_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for status, count in self.db.execute("SELECT status, count(*) FROM photos GROUP BY status"):
            counts[status] = count
        return counts

    def detector_counts(self) -> dict[str, int]:
        """Photos examined (indexed or without a face) by each detector; "unrecorded" for photos
        examined before the gallery recorded detectors."""
        sql = (
            "SELECT coalesce(detector, 'unrecorded'), count(*) FROM photos "
            "WHERE status IN ('indexed', 'no_face') GROUP BY 1"
        )
        return dict(self.db.execute(sql).fetchall())

    def count_stale(self, model_id: str) -> int:
        """Indexed photos whose vectors some other model made; a re-embed is done at zero."""
        sql = "SELECT count(*) FROM photos WHERE status = 'indexed' AND model_id IS NOT ?"
        return self.db.execute(sql, [model_id]).fetchone()[0]


def _face_record(photo_id: int, face: Face, model_id: str) -> dict[str, Any]:
    left, top, right, bottom = (int(value) for value in face.detection.box)
    vector = np.asarray(face.embedding, dtype=VECTOR_DTYPE).reshape(-1)
    return {
        "photo_id": photo_id,
        "left": left,
        "top": top,
        "right": right,
        "bottom": bottom,
        "landmarks": json.dumps([[int(x), int(y)] for x, y in face.detection.landmarks]),
        "score": float(face.detection.score),
        "embedding": vector.tobytes(),
        "model_id": model_id,
    }

"""The gallery's SQLite database: the source of truth that the FAISS file is rebuilt from.

Every write goes through a transaction, and a photo's row and its faces are always written
together, so a run killed at any point leaves whole photos or nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from facesim.config import SQLITE_BUSY_TIMEOUT_MS
from facesim.errors import FacesimError
from index.ingest.scan import is_inside

# sqlite_utils imports pandas whenever it is installed, only to give pd.Timestamp a column type;
# facesim stores none, and pandas (with pyarrow) costs every gallery command about 0.3 s of CPU
# and 70 MB. Unless pandas is already loaded, it reads as absent while sqlite_utils is imported.
_hide_pandas = "pandas" not in sys.modules
if _hide_pandas:
    sys.modules["pandas"] = None  # `import pandas` now raises ImportError
try:
    from sqlite_utils import Database
finally:
    if _hide_pandas:
        del sys.modules["pandas"]

if TYPE_CHECKING:  # the pipeline imports the encoder and dlib, which readers like `facesim info` never need
    from facesim.pipeline import Face

PhotoStatus = Literal["indexed", "no_face", "error", "gone"]
STATUSES: tuple[PhotoStatus, ...] = ("indexed", "no_face", "error", "gone")

# Bumped whenever the schema below (or the meaning of the tables index.persons.persons and
# index.persons.constraints keep beside it) changes; a newer database is refused rather than misread, an
# older one is migrated when opened (_create_schema).
SCHEMA_VERSION = 4

# AUTOINCREMENT matters: face ids are never reused, so a set of ids names one set of vectors and
# the FAISS fingerprint cannot mistake new faces for deleted ones that had the same ids.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS photos (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    content_hash TEXT,
    size INTEGER,
    mtime_ns INTEGER,
    status TEXT NOT NULL CHECK (status IN ('indexed', 'no_face', 'error', 'gone')),
    error TEXT,
    n_faces INTEGER NOT NULL DEFAULT 0,
    model_id TEXT,
    indexed_at TEXT,
    detector TEXT
);
CREATE INDEX IF NOT EXISTS photos_status ON photos (status);
CREATE INDEX IF NOT EXISTS photos_content ON photos (content_hash);
-- A photo is its content: byte-identical copies are further locations of one photo, not photos
-- of their own, so they are embedded once and listed once. photos.path is the main location.
CREATE TABLE IF NOT EXISTS photo_paths (
    path TEXT PRIMARY KEY,
    photo_id INTEGER NOT NULL REFERENCES photos (id) ON DELETE CASCADE,
    size INTEGER,
    mtime_ns INTEGER
);
CREATE INDEX IF NOT EXISTS photo_paths_photo ON photo_paths (photo_id);
CREATE TABLE IF NOT EXISTS faces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    photo_id INTEGER NOT NULL REFERENCES photos (id) ON DELETE CASCADE,
    "left" INTEGER NOT NULL,
    "top" INTEGER NOT NULL,
    "right" INTEGER NOT NULL,
    "bottom" INTEGER NOT NULL,
    landmarks TEXT NOT NULL,
    score REAL NOT NULL,
    embedding BLOB NOT NULL,
    model_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS faces_photo ON faces (photo_id);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    root TEXT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    counts TEXT
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

# Vectors are stored little-endian so a gallery copied between machines reads the same.
_VECTOR_DTYPE = np.dtype("<f4")
# SQLite's limit on bound parameters is 32766 in current builds; stay well below it.
_CHUNK = 900


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


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class DamagedDatabase(FacesimError):
    """A gallery database SQLite refuses to open at all (a bad header, a truncated file)."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(message)
        self.path = path


class Store:
    """One connection to a gallery database.

    `create=False` opens an existing database without writing to it, which is how readers such
    as `match` avoid contending with a running indexer; the one exception is a gallery of an
    older facesim, whose schema is migrated once by whichever command opens it first.
    `read_only` (a gallery on a read-only file system, or in a folder this user may not write)
    opens it for reading alone, so readers still answer; see connect_read_only.
    """

    def __init__(self, path: str | Path, *, create: bool = True, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        if (read_only or not create) and not self.path.is_file():
            raise FacesimError(f"no gallery database at {self.path}; run `facesim index` first")
        try:
            connection = connect_read_only(self.path) if read_only else sqlite3.connect(self.path)
            self.db = Database(connection, execute_plugins=False)
            self.db.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_MS)}")
            self.db.execute("PRAGMA foreign_keys = ON")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise FacesimError(f"{self.path}: made by a newer facesim (schema {version}); upgrade facesim")
            if version < SCHEMA_VERSION:
                # A gallery of an older facesim is migrated by readers too, so it keeps working.
                if not create and version == 0:
                    raise FacesimError(self._not_a_gallery())
                if read_only:
                    raise FacesimError(
                        f"{self.path}: made by an older facesim and read-only here; "
                        "open it once where it is writable, which upgrades it"
                    )
                self._create_schema()
        except sqlite3.DatabaseError as exc:
            if getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
                raise DamagedDatabase(self.path, self._damaged(exc)) from None
            raise FacesimError(f"{self.path}: cannot open gallery database ({exc})") from None

    def _not_a_gallery(self) -> str:
        if self.path.stat().st_size == 0:
            # A first run killed before its first commit leaves this too; `index` carries on from it.
            return (
                f"{self.path}: the gallery database is empty (truncated?); restore it from a backup, "
                "or run `facesim index PHOTOS` again to rebuild it (the photos are untouched)"
            )
        return f"{self.path}: not a facesim gallery (schema 0)"

    def _damaged(self, exc: sqlite3.DatabaseError) -> str:
        """One line that says what to do with a file SQLite cannot read at all."""
        return (
            f"{self.path}: cannot open gallery database, it is damaged ({exc}); `facesim doctor --repair` "
            "recovers what it still holds, or restore it from a backup, or move it aside and run "
            "`facesim index PHOTOS` again to rebuild the gallery (the photos are untouched)"
        )

    def _create_schema(self) -> None:
        # WAL lets `match` read the last committed state while an indexer writes.
        self.db.enable_wal()
        # IMMEDIATE takes the write lock up front, so two processes creating the same gallery
        # queue on the busy timeout instead of failing on a lock upgrade.
        self.db.execute("BEGIN IMMEDIATE")
        try:
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version < SCHEMA_VERSION:
                self.db.executescript(_SCHEMA)
                if version == 1:
                    self._merge_copies()
                if version in (1, 2):
                    self._rejects_from_pairs()
                if version in (1, 2, 3):
                    self._add_detector_column()
                self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self.db.commit()
        except BaseException:
            self.db.rollback()
            raise

    def _merge_copies(self) -> None:
        """Schema 1 kept byte-identical copies as photos of their own, each with its own faces; the
        oldest row of each content stays the photo (with the faces its persons and names hang on)
        and the others become its locations. The FAISS file then differs from SQLite and is
        rebuilt by the next command that opens it."""
        sql = (
            "SELECT p.id, p.path, p.size, p.mtime_ns, first.id FROM photos p JOIN "
            "(SELECT content_hash, min(id) AS id FROM photos WHERE status != 'gone' AND content_hash IS NOT NULL "
            "GROUP BY content_hash HAVING count(*) > 1) first ON first.content_hash = p.content_hash "
            "WHERE p.status != 'gone' AND p.id != first.id"
        )
        for copy_id, path, size, mtime_ns, photo_id in self.db.execute(sql).fetchall():
            self.db.execute("DELETE FROM photos WHERE id = ?", [copy_id])
            self.db["photo_paths"].insert({"path": path, "photo_id": photo_id, "size": size, "mtime_ns": mtime_ns})

    def _add_detector_column(self) -> None:
        """Schema 4 records which detector examined each photo (`info` counts them, and a photo
        without a face is looked at again by another detector); older rows read as unrecorded."""
        if "detector" not in self.db["photos"].columns_dict:
            self.db.execute("ALTER TABLE photos ADD COLUMN detector TEXT")

    def _rejects_from_pairs(self) -> None:
        """Schema 2 kept `facesim reject F P` as pairs "F differs from each face P held then", so two
        faces rejected from one person one at a time could never be one person again. Schema 3
        keeps what the user said, "F is not person P" (index.persons.constraints), read back from the
        correction each pair recorded."""
        if not self.db["face_links"].exists():
            return
        from index.persons.constraints import REJECTS_SCHEMA

        for statement in REJECTS_SCHEMA.split(";"):
            if statement.strip():
                self.db.execute(statement)
        old = "FROM face_links WHERE kind = 'different' AND correction LIKE 'reject %'"
        for face, correction in self.db.execute(f"SELECT DISTINCT face_a, correction {old}").fetchall():
            person = correction.split()[-1]
            self.db["face_rejects"].insert({"face_id": face, "person_id": int(person), "correction": correction})
        self.db.execute(f"DELETE {old}")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def ensure_schema(self, script: str) -> None:
        """Tables a module keeps in the gallery (persons, corrections), created on first use. A
        read-only gallery that lacks them (never clustered, say) gets empty temporary ones
        instead, so its readers answer "none" rather than fail on a write they cannot make."""
        if not self.read_only:
            self.db.executescript(script)
            return
        existing = {name for (name,) in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for statement in script.split(";"):
            created = _CREATE_TABLE.search(statement)
            if created and created.group(1) not in existing:
                self.db.execute(statement.replace("CREATE TABLE", "CREATE TEMP TABLE", 1))

    def damage(self, *, quick: bool = False) -> list[str]:
        """What SQLite's own check finds wrong with the file, one line per damaged table or index
        in plain words; empty when the file is sound. `quick` skips the cross-check of indexes
        against their tables (still a read of every page), for commands that only need to know
        whether to trust the file."""
        pragma = "quick_check" if quick else "integrity_check"
        try:
            rows = [row[0] for row in self.db.execute(f"PRAGMA {pragma}(100)")]
        except sqlite3.DatabaseError as exc:  # the check itself trips over a page of noise
            return self._unreadable_tables() or [f"the file cannot be checked ({exc})"]
        if rows == ["ok"]:
            return []
        # A row may hold several lines, and a "*** in database main ***" heading among them.
        found = [line.strip() for row in rows for line in row.splitlines() if line.strip() and line[:3] != "***"]
        return describe_damage(found, self._page_owners())

    def _unreadable_tables(self) -> list[str]:
        """The tables a full scan cannot get through, for when SQLite's check cannot finish."""
        found = []
        try:
            tables = [name for (name,) in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        except sqlite3.DatabaseError:
            return []
        for name in tables:
            try:
                self.db.execute(f"SELECT count(*) FROM {_quoted(name)} NOT INDEXED").fetchone()
            except sqlite3.DatabaseError:
                found.append(f"{_PARTS.get(name, f'the {name} table')}: cannot be read in full")
        return found

    def _page_owners(self) -> dict[int, str]:
        """Page number -> the table or index it belongs to, as far as the intact pages tell
        (SQLite's dbstat table, where this SQLite has it)."""
        owners: dict[int, str] = {}
        try:
            for name, root in self.db.execute("SELECT name, rootpage FROM sqlite_master"):
                owners[root] = name
            for page, name in self.db.execute("SELECT pageno, name FROM dbstat"):
                owners[page] = name
        except sqlite3.DatabaseError:
            pass  # what was read before the damage still names its pages
        return owners

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """All writes inside commit together or not at all; nested blocks become savepoints."""
        with self.db.atomic():
            yield self

    # --- meta -------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        self.db["meta"].upsert({"key": key, "value": value}, pk="key")

    # --- photos -----------------------------------------------------------------------------

    def photo(self, path: str | Path) -> PhotoRow | None:
        rows = list(self.db["photos"].rows_where("path = ?", [_db_path(path)]))
        return _photo_row(rows[0]) if rows else None

    def photos_by_path(self) -> dict[str, PhotoRow]:
        """Every photo at once: the indexer compares a whole folder against it without a query
        per file."""
        photos = (_photo_row(row) for row in self.db["photos"].rows)
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
            "path": _db_path(path),
            "content_hash": content_hash,
            "size": size,
            "mtime_ns": mtime_ns,
            "status": status,
            "error": None if error is None else _db_text(error),
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
            for start in range(0, len(photo_ids), _CHUNK):
                chunk = list(photo_ids[start : start + _CHUNK])
                marks = ",".join("?" * len(chunk))
                self.db.execute(f"DELETE FROM faces WHERE photo_id IN ({marks})", chunk)
                self.db.execute(
                    f"UPDATE photos SET status = 'gone', n_faces = 0, error = NULL WHERE id IN ({marks})", chunk
                )
        return len(photo_ids)

    def photos_by_hash(self) -> dict[str, PhotoRow]:
        """Photos still in the gallery by content: how a file under a new path is recognised as a
        photo moved or copied, so it is not embedded again."""
        rows = self.db["photos"].rows_where("status != 'gone' AND content_hash IS NOT NULL", order_by="id")
        found: dict[str, PhotoRow] = {}
        for row in rows:
            found.setdefault(row["content_hash"], _photo_row(row))
        return found

    def photo_with_hash(self, content_hash: str) -> PhotoRow | None:
        rows = self.db["photos"].rows_where("status != 'gone' AND content_hash = ?", [content_hash], order_by="id")
        return next((_photo_row(row) for row in rows), None)

    def photos_under(self, folder: str | Path) -> list[PhotoRow]:
        """Photos whose main path is `folder` itself (a file) or inside it."""
        return [row for path, row in self.photos_by_path().items() if is_inside(path, os.fspath(folder))]

    def move_photo(self, photo_id: int, path: str | Path, *, size: int, mtime_ns: int) -> None:
        """The photo's bytes now live at `path`: its faces, vectors and persons stay as they are.
        A row left at `path` by a photo gone from there is only a tombstone and makes way."""
        with self.db.atomic():
            self.db.execute("DELETE FROM photos WHERE path = ? AND status = 'gone'", [_db_path(path)])
            self.db.execute("DELETE FROM photo_paths WHERE path = ?", [_db_path(path)])
            self.db["photos"].update(photo_id, {"path": _db_path(path), "size": size, "mtime_ns": mtime_ns})

    def locations(self) -> dict[str, Location]:
        rows = self.db.execute("SELECT path, photo_id, size, mtime_ns FROM photo_paths").fetchall()
        return {_path_of(path): Location(_path_of(path), photo_id, size, mtime) for path, photo_id, size, mtime in rows}

    def add_location(self, photo_id: int, path: str | Path, *, size: int | None, mtime_ns: int | None) -> None:
        """A path is one photo's main path or a location, never both: a tombstone there makes way."""
        with self.db.atomic():
            self.db.execute("DELETE FROM photos WHERE path = ? AND status = 'gone'", [_db_path(path)])
            self.db["photo_paths"].upsert(
                {"path": _db_path(path), "photo_id": photo_id, "size": size, "mtime_ns": mtime_ns}, pk="path"
            )

    def touch_location(self, path: str | Path, *, size: int, mtime_ns: int) -> None:
        sql = "UPDATE photo_paths SET size = ?, mtime_ns = ? WHERE path = ?"
        self.db.execute(sql, [size, mtime_ns, _db_path(path)])

    def remove_locations(self, paths: Sequence[str | Path]) -> None:
        with self.db.atomic():
            for path in paths:
                self.db.execute("DELETE FROM photo_paths WHERE path = ?", [_db_path(path)])

    def promote_location(self, location: Location) -> None:
        """The main path is gone but a copy remains: the copy becomes the main path, so the photo
        keeps its faces and persons."""
        with self.db.atomic():
            self.db.execute("DELETE FROM photo_paths WHERE path = ?", [_db_path(location.path)])
            self.db["photos"].update(
                location.photo_id,
                {"path": _db_path(location.path), "size": location.size, "mtime_ns": location.mtime_ns},
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
        wanted = [int(photo_id) for photo_id in photo_ids]
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT photo_id, path FROM photo_paths WHERE photo_id IN ({marks}) ORDER BY path"
            for photo_id, path in self.db.execute(sql, chunk):
                found.setdefault(photo_id, []).append(_path_of(path))
        return found

    def forget_photos(self, photo_ids: Sequence[int]) -> None:
        """Takes photos out of the gallery altogether: rows, faces and locations (by cascade)."""
        with self.db.atomic():
            for start in range(0, len(photo_ids), _CHUNK):
                chunk = list(photo_ids[start : start + _CHUNK])
                marks = ",".join("?" * len(chunk))
                self.db.execute(f"DELETE FROM photos WHERE id IN ({marks})", chunk)

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

    # --- faces ------------------------------------------------------------------------------

    def face_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM faces").fetchone()[0]

    def face_ids(self) -> np.ndarray:
        """Sorted int64 ids: the set the FAISS index must hold exactly."""
        rows = self.db.execute("SELECT id FROM faces ORDER BY id").fetchall()
        return np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))

    def face_vectors(self, ids: Sequence[int] | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, N x D float32 vectors) for the given faces, or all of them, sorted by id."""
        if ids is None:
            rows = self.db.execute("SELECT id, embedding FROM faces ORDER BY id").fetchall()
        else:
            wanted = [int(face_id) for face_id in ids]
            rows = []
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows += self.db.execute(f"SELECT id, embedding FROM faces WHERE id IN ({marks})", chunk).fetchall()
            rows.sort(key=lambda row: row[0])
        out_ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        if not rows:
            return out_ids, np.zeros((0, 0), dtype=np.float32)
        sizes = {len(row[1]) for row in rows}
        if len(sizes) != 1:
            raise FacesimError(f"{self.path}: faces of different vector sizes; re-index with --reembed")
        vectors = np.frombuffer(b"".join(row[1] for row in rows), dtype=_VECTOR_DTYPE)
        return out_ids, vectors.reshape(len(rows), -1).astype(np.float32)

    def face_hits(self, ids: Sequence[int]) -> dict[int, FaceHit]:
        """Looks up search results in one query per chunk instead of one per face."""
        wanted = [int(face_id) for face_id in ids]
        hits: dict[int, FaceHit] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            sql = (
                'SELECT f.id, f.photo_id, p.path, f."left", f."top", f."right", f."bottom", p.status, f.model_id '
                f"FROM faces f JOIN photos p ON p.id = f.photo_id WHERE f.id IN ({marks})"
            )
            for face_id, photo_id, path, left, top, right, bottom, status, model_id in self.db.execute(sql, chunk):
                box = (left, top, right, bottom)
                hits[face_id] = FaceHit(face_id, photo_id, _path_of(path), box, status, model_id)
        return hits

    def faces_of(self, photo_id: int) -> list[dict[str, Any]]:
        """A photo's faces with their boxes, landmarks and vectors, largest first as detected."""
        rows = list(self.db["faces"].rows_where("photo_id = ?", [photo_id], order_by="id"))
        for row in rows:
            row["box"] = (row.pop("left"), row.pop("top"), row.pop("right"), row.pop("bottom"))
            row["landmarks"] = tuple(tuple(point) for point in json.loads(row["landmarks"]))
            row["embedding"] = np.frombuffer(row["embedding"], dtype=_VECTOR_DTYPE).astype(np.float32)
        return rows

    # --- runs -------------------------------------------------------------------------------

    def start_run(self, root: str | Path) -> int:
        runs = self.db["runs"]
        runs.insert({"root": _db_path(root), "started_at": utc_now()})
        return int(runs.last_pk)

    def finish_run(self, run_id: int, counts: dict[str, int]) -> None:
        """A run without finished_at was interrupted; the next one resumes where it stopped."""
        self.db["runs"].update(run_id, {"finished_at": utc_now(), "counts": json.dumps(counts)})

    def last_run(self) -> dict[str, Any] | None:
        row = self.db.execute("SELECT id, root, started_at, finished_at, counts FROM runs ORDER BY id DESC LIMIT 1")
        found = row.fetchone()
        if found is None:
            return None
        run_id, root, started_at, finished_at, counts = found
        return {
            "id": run_id,
            "root": None if root is None else _path_of(root),
            "started_at": started_at,
            "finished_at": finished_at,
            "counts": json.loads(counts) if counts else None,
        }


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that never writes: `mode=ro` reads the last commit, WAL included, where the
    WAL's shared-memory file exists or can be made; on a read-only file system without one,
    `immutable=1` reads the file as it is (nothing can change it there anyway)."""
    uri = f"{path.absolute().as_uri()}?mode=ro"
    connection = sqlite3.connect(uri, uri=True)
    try:
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return connection
    except sqlite3.OperationalError:
        connection.close()
        return sqlite3.connect(uri + "&immutable=1", uri=True)


_CREATE_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)")
# What the gallery's tables hold, as the damage report names them.
_PARTS = {
    "photos": "the photos table (paths and status)",
    "faces": "the faces table (boxes and vectors)",
    "photo_paths": "the duplicates table (further paths of photos)",
    "persons": "the persons table (their names)",
    "face_persons": "the person of each face",
    "face_links": "your corrections (merge, move, reject)",
    "runs": "the history of indexing runs",
    "meta": "the gallery's settings (model id)",
    "sqlite_sequence": "the counters of ids",
    "sqlite_master": "the list of tables",
    "sqlite_schema": "the list of tables",
}
_PAGE = re.compile(r"\b(?:[Pp]age|[Tt]ree) (\d+)")
_INDEX_NAMED = re.compile(r"(?:missing from index|entries in index|in index) (\w+)")
_UNUSED = re.compile(r"[Pp]age (\d+).*never used|never used.*[Pp]age (\d+)")


def describe_damage(lines: Sequence[str], owners: dict[int, str]) -> list[str]:
    """SQLite's check lines ("Page 18: btreeInitPage() returns error code 11", "row 3 missing
    from index faces_photo") grouped into one line per damaged table or index, in words."""
    pages: dict[str, set[int]] = {}
    stale_indexes: list[str] = []
    unused: set[int] = set()
    others: list[str] = []
    for line in lines:
        if (named := _INDEX_NAMED.search(line)) is not None:
            if named.group(1) not in stale_indexes:
                stale_indexes.append(named.group(1))
        elif (free := _UNUSED.search(line)) is not None:
            unused.add(int(free.group(1) or free.group(2)))
        elif numbers := [int(number) for number in _PAGE.findall(line)]:
            owner = next((owners[number] for number in reversed(numbers) if number in owners), "")
            pages.setdefault(owner, set()).update(numbers[-1:])
        elif line != "database disk image is malformed" or len(lines) == 1:
            others.append(line)
    described = [
        f"{_PARTS.get(owner, f'index {owner}') if owner else 'pages of an unknown table'}: "
        f"{_count(len(numbers), 'damaged page')} ({', '.join(map(str, sorted(numbers)))})"
        for owner, numbers in sorted(pages.items(), key=lambda item: min(item[1]))
    ]
    described += [f"index {name}: out of step with its table (rebuilt by a repair)" for name in stale_indexes]
    if unused:
        described.append(f"{_count(len(unused), 'page')} that belong to no table (space lost, not data)")
    return described + others


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' * (number != 1)}"


@dataclass
class Salvage:
    """What a copy of a damaged database kept and lost, by table. Rows are known to exist from a
    scan of their table or from any of its indexes; `known` keeps, for each row that could not be
    read, whatever columns its indexes still hold (a photo's path, say)."""

    copied: dict[str, int] = field(default_factory=dict)
    lost: dict[str, list[int]] = field(default_factory=dict)
    known: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)


def salvage_database(damaged: Path, into: Path) -> Salvage:
    """Copies every row of `damaged` that SQLite can still read into a new database at `into`,
    with the same schema, ids and schema version; `damaged` is only read. Rows are found from
    both ends of each table, past damaged pages by seeking beyond them, and through every index,
    so one bad page costs its own rows and no others."""
    readable = _readable_copy(damaged, into.with_name(into.name + ".padded"))
    source = sqlite3.connect(f"{readable.absolute().as_uri()}?mode=ro", uri=True)
    try:
        try:
            # Indexes without SQL (those of UNIQUE and PRIMARY KEY) come with their table, and
            # still help to find rows.
            schema = source.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid").fetchall()
            version = source.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise FacesimError(
                f"{damaged}: its list of tables is damaged ({exc}), so nothing can be copied out of it; "
                "restore it from a backup, or move it aside and run `facesim index PHOTOS` again"
            ) from None
        target = sqlite3.connect(into)
        try:
            salvage = Salvage()
            tables = [(name, sql) for kind, name, _, sql in schema if kind == "table" and name != "sqlite_sequence"]
            for _, sql in tables:
                target.execute(sql)
            for name, _ in tables:
                indexes = [index for kind, index, table, _ in schema if kind == "index" and table == name]
                _salvage_table(source, target, name, indexes, salvage)
            _salvage_sequences(source, target, salvage)
            for kind, _, _, sql in schema:
                if kind in ("index", "trigger", "view") and sql is not None:
                    target.execute(sql)
            target.execute(f"PRAGMA user_version = {int(version)}")
            target.commit()
            target.execute("PRAGMA journal_mode = WAL")
        finally:
            target.close()
    finally:
        source.close()
        if readable != damaged:
            for scratch in (readable, Path(f"{readable}-wal"), Path(f"{readable}-shm")):
                scratch.unlink(missing_ok=True)
    return salvage


def _readable_copy(damaged: Path, scratch: Path) -> Path:
    """SQLite refuses a whole file cut shorter than its header says (a crash of another program,
    a copy that stopped); a copy padded with empty pages to that length reads again, up to the
    cut. Any other file is read as it is."""
    with open(damaged, "rb") as handle:
        header = handle.read(100)
    if len(header) < 100 or not header.startswith(b"SQLite format 3\0"):
        return damaged
    page_size = int.from_bytes(header[16:18], "big")
    length = (65536 if page_size == 1 else page_size) * int.from_bytes(header[28:32], "big")
    if length <= damaged.stat().st_size:
        return damaged
    shutil.copyfile(damaged, scratch)
    if Path(f"{damaged}-wal").exists():
        shutil.copyfile(f"{damaged}-wal", f"{scratch}-wal")
    os.truncate(scratch, length)
    return scratch


def _salvage_table(
    source: sqlite3.Connection, target: sqlite3.Connection, table: str, indexes: list[str], salvage: Salvage
) -> None:
    quoted = _quoted(table)
    columns = [row[1] for row in source.execute(f"PRAGMA table_info({quoted})")]
    scanned = _scan_rowids(source, table)
    known: dict[int, dict[str, Any]] = {}
    for index in indexes:
        indexed = [row[2] for row in source.execute(f"PRAGMA index_info({_quoted(index)})") if row[2] is not None]
        listed = ", ".join(map(_quoted, indexed))
        sql = f"SELECT rowid, {listed} FROM {quoted} INDEXED BY {_quoted(index)} ORDER BY {listed}"
        for row in _readable(source, sql, []):
            known.setdefault(row[0], {}).update(zip(indexed, row[1:], strict=True))
    listed = ", ".join(map(_quoted, columns))
    select = f"SELECT {listed} FROM {quoted} WHERE rowid = ?"
    insert = f"INSERT INTO {quoted} ({listed}) VALUES ({', '.join('?' * len(columns))})"
    copied, lost = 0, []
    for rowid in sorted(scanned | set(known)):
        try:
            row = source.execute(select, [rowid]).fetchone()
            if row is None and rowid not in known:
                continue  # a rowid read from a damaged page that names no row: nothing was there
            if row is not None:
                target.execute(insert, row)
                copied += 1
                continue
        except sqlite3.DatabaseError:  # unreadable, or read as values its table's rules reject
            pass
        lost.append(rowid)
    salvage.copied[table] = copied
    if lost:
        salvage.lost[table] = lost
        salvage.known[table] = {rowid: known[rowid] for rowid in lost if rowid in known}


def _scan_rowids(source: sqlite3.Connection, table: str) -> set[int]:
    """Every rowid a walk of the table reaches: upwards from the start and downwards from the
    end, each seeking past a damaged page by a gap that doubles until it lands on sound ones.
    A rowid out of order is garbage read from a damaged page, and ends the walk there too."""
    found: set[int] = set()
    for sign in (1, -1):
        order, compare = ("ASC", ">") if sign > 0 else ("DESC", "<")
        sql = f"SELECT rowid FROM {_quoted(table)} NOT INDEXED WHERE rowid {compare} ? ORDER BY rowid {order}"
        last, gap = -sign * ((1 << 63) - 1), 1
        while sign * last < 1 << 62:
            progressed = False
            try:
                for (rowid,) in source.execute(sql, [last]):
                    if sign * (rowid - last) <= 0:
                        raise sqlite3.DatabaseError("rowids out of order")
                    found.add(rowid)
                    last, progressed = rowid, True
                break
            except sqlite3.DatabaseError:
                gap = 1 if progressed else gap * 2
                last += sign * gap
    return found


def _readable(source: sqlite3.Connection, sql: str, parameters: list[Any]) -> list[tuple[Any, ...]]:
    """The rows a query returns before it meets a damaged page."""
    rows: list[tuple[Any, ...]] = []
    try:
        for row in source.execute(sql, parameters):
            rows.append(row)
    except sqlite3.DatabaseError:
        pass
    return rows


def _salvage_sequences(source: sqlite3.Connection, target: sqlite3.Connection, salvage: Salvage) -> None:
    """AUTOINCREMENT's counters, never below an id seen (copied or lost), so ids stay unused."""
    sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%AUTOINCREMENT%'"
    autoincrement = [name for (name,) in target.execute(sql)]
    if not autoincrement:
        return
    counters = dict(_readable(source, "SELECT name, seq FROM sqlite_sequence", []))
    for name in autoincrement:
        highest = target.execute(f"SELECT max(rowid) FROM {_quoted(name)}").fetchone()[0] or 0
        counters[name] = max([int(counters.get(name) or 0), highest, *salvage.lost.get(name, [])])
    target.execute("DELETE FROM sqlite_sequence")
    target.executemany("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", counters.items())


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _db_path(path: str | Path) -> str | bytes:
    """A file name as SQLite keeps it. Linux names are bytes and need not be UTF-8, which SQLite
    text must be: such a name is kept as its raw bytes (a BLOB), so it still round-trips exactly
    and one bad name cannot crash a whole run; every other name stays readable text."""
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(text)
    return text


def _path_of(value: str | bytes) -> str:
    """The inverse of _db_path."""
    return value if isinstance(value, str) else os.fsdecode(value)


def _db_text(text: str) -> str:
    """A message for people (it may quote a non-UTF-8 file name), escaped to valid UTF-8."""
    return os.fsencode(text).decode("utf-8", "backslashreplace")


def _photo_row(row: dict[str, Any]) -> PhotoRow:
    return PhotoRow(**{**row, "path": _path_of(row["path"])})


def _face_record(photo_id: int, face: Face, model_id: str) -> dict[str, Any]:
    left, top, right, bottom = (int(value) for value in face.detection.box)
    vector = np.asarray(face.embedding, dtype=_VECTOR_DTYPE).reshape(-1)
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

"""Every table and index of the gallery database, and the migrations, under one schema version.

A fresh gallery gets all its tables when its store first opens it, and an older one is migrated
once, in one transaction, by whichever command opens it first: no module creates a table of its
own on first use, so what a gallery holds is what its schema version says.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported for real by index.store.database alone, which keeps pandas out of it
    from sqlite_utils import Database

# Bumped whenever the schema below (or the meaning of a table in it) changes; a newer database is
# refused rather than misread, an older one is migrated when opened (migrate). Schema 5 made the
# persons and corrections tables part of the schema: schema 4 created them on first use, if ever.
SCHEMA_VERSION = 5
# The oldest schema a read-only gallery is served in: one of schema 4 lacks at most tables that a
# reader can do without, which it gets as empty stand-ins (stand_in_tables). Anything older needs
# its rows rewritten, so it must be opened once where it is writable.
OLDEST_READ_ONLY_SCHEMA = 4

# AUTOINCREMENT matters: face ids are never reused, so a set of ids names one set of vectors and
# the FAISS fingerprint cannot mistake new faces for deleted ones that had the same ids.
# Every statement is IF NOT EXISTS: the migration to any version runs the whole script, which
# creates exactly what the gallery lacks.
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
-- Persons live with their id, so names survive re-clustering (index.persons.persons).
CREATE TABLE IF NOT EXISTS persons (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS face_persons (
    face_id INTEGER PRIMARY KEY REFERENCES faces (id) ON DELETE CASCADE,
    person_id INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS face_persons_person ON face_persons (person_id);
-- The user's corrections (index.persons.constraints): pairs of faces that are the same person or not.
CREATE TABLE IF NOT EXISTS face_links (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('same', 'different')),
    face_a INTEGER NOT NULL REFERENCES faces (id) ON DELETE CASCADE,
    face_b INTEGER NOT NULL REFERENCES faces (id) ON DELETE CASCADE,
    correction TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS face_links_a ON face_links (face_a);
CREATE INDEX IF NOT EXISTS face_links_b ON face_links (face_b);
-- "Face F is not person P": the person, not the faces it held then, so two faces rejected from one
-- person one at a time are not thereby different from each other.
CREATE TABLE IF NOT EXISTS face_rejects (
    id INTEGER PRIMARY KEY,
    face_id INTEGER NOT NULL REFERENCES faces (id) ON DELETE CASCADE,
    person_id INTEGER NOT NULL,
    correction TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS face_rejects_face ON face_rejects (face_id);
"""
_CREATE_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)")


def migrate(db: Database) -> None:
    """Creates a fresh gallery's tables, or brings an older gallery's up to SCHEMA_VERSION, in
    one transaction."""
    # WAL lets `match` read the last committed state while an indexer writes.
    db.enable_wal()
    # IMMEDIATE takes the write lock up front, so two processes creating the same gallery
    # queue on the busy timeout instead of failing on a lock upgrade.
    db.execute("BEGIN IMMEDIATE")
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version < SCHEMA_VERSION:
            db.executescript(_SCHEMA)
            if version == 1:
                _merge_copies(db)
            if version in (1, 2):
                _rejects_from_pairs(db)
            if version in (1, 2, 3):
                _add_detector_column(db)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.commit()
    except BaseException:
        db.rollback()
        raise


def stand_in_tables(db: Database) -> None:
    """A read-only gallery cannot be migrated: the tables of the schema that it lacks (a gallery of
    schema 4 never clustered, say) are made as empty temporary ones, so its readers answer "none"
    rather than fail on a write they cannot make."""
    existing = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for statement in _SCHEMA.split(";"):
        created = _CREATE_TABLE.search(statement)
        if created and created.group(1) not in existing:
            db.execute(statement.replace("CREATE TABLE", "CREATE TEMP TABLE", 1))


def _merge_copies(db: Database) -> None:
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
    for copy_id, path, size, mtime_ns, photo_id in db.execute(sql).fetchall():
        db.execute("DELETE FROM photos WHERE id = ?", [copy_id])
        db["photo_paths"].insert({"path": path, "photo_id": photo_id, "size": size, "mtime_ns": mtime_ns})


def _add_detector_column(db: Database) -> None:
    """Schema 4 records which detector examined each photo (`info` counts them, and a photo
    without a face is looked at again by another detector); older rows read as unrecorded."""
    if "detector" not in db["photos"].columns_dict:
        db.execute("ALTER TABLE photos ADD COLUMN detector TEXT")


def _rejects_from_pairs(db: Database) -> None:
    """Schema 2 kept `facesim reject F P` as pairs "F differs from each face P held then", so two
    faces rejected from one person one at a time could never be one person again. Schema 3
    keeps what the user said, "F is not person P" (face_rejects), read back from the correction
    each pair recorded."""
    old = "FROM face_links WHERE kind = 'different' AND correction LIKE 'reject %'"
    for face, correction in db.execute(f"SELECT DISTINCT face_a, correction {old}").fetchall():
        person = correction.split()[-1]
        db["face_rejects"].insert({"face_id": face, "person_id": int(person), "correction": correction})
    db.execute(f"DELETE {old}")

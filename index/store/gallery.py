"""A gallery directory: the SQLite store, the FAISS file beside it and the writer's lock.

This is the one object the CLI opens. It imports neither the encoder nor the pipeline, so read-only
commands such as `facesim info` start quickly.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facesim.config import GALLERY_DB_NAME, GALLERY_LOCK_NAME, GALLERY_VECTORS_NAME, IVFPQ_MIN_FACES, resolve_index_dir
from facesim.errors import FacesimError
from index.store.database import Store
from index.store.lock import WriteLock
from index.store.vectors import VectorIndex, open_vectors

# Keys in the store's meta table.
META_MODEL_ID = "model_id"
META_VECTOR_INDEX = "vector_index"


@dataclass(frozen=True)
class GalleryInfo:
    directory: Path
    photos: dict[str, int]  # status -> count, every status present
    detectors: dict[str, int]  # detector -> photos it examined
    faces: int
    model_id: str | None
    vector_index: str | None
    last_run: dict[str, Any] | None


class Gallery:
    def __init__(self, directory: Path, store: Store, *, ivfpq_min_faces: int = IVFPQ_MIN_FACES) -> None:
        self.directory = directory
        self.store = store
        self.ivfpq_min_faces = ivfpq_min_faces
        self._lock = WriteLock(directory / GALLERY_LOCK_NAME)
        self._vectors: VectorIndex | None = None

    @classmethod
    def open(
        cls, index_dir: str | Path | None = None, *, create: bool = True, ivfpq_min_faces: int = IVFPQ_MIN_FACES
    ) -> Gallery:
        """`index_dir` follows the project rule (option, then $FACESIM_INDEX, then the default).
        `create=False` is for commands that only read: a missing gallery is an error, not a new
        empty one."""
        directory = resolve_index_dir(index_dir)
        if create:
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise FacesimError(f"{directory}: cannot create gallery folder ({exc.strerror})") from None
        elif not directory.is_dir():
            raise FacesimError(f"no gallery at {directory}; run `facesim index` first")
        database = directory / GALLERY_DB_NAME
        store = Store(database, create=create, read_only=not _writable(directory, database))
        return cls(directory, store, ivfpq_min_faces=ivfpq_min_faces)

    @property
    def read_only(self) -> bool:
        """On a read-only file system, or in a folder this user may not write: readers answer,
        writers refuse."""
        return self.store.read_only

    @property
    def vectors_path(self) -> Path:
        return self.directory / GALLERY_VECTORS_NAME

    def close(self) -> None:
        self._lock.release()
        self.store.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def write_lock(self) -> Iterator[Gallery]:
        """Held for a whole indexing run; a second writer fails at once with a FacesimError.
        Re-entrant within this object. A read-only gallery refuses in one line."""
        if self.read_only:
            raise FacesimError(
                f"{self.directory}: the gallery is read-only here, and this command changes it; "
                "copy the gallery folder somewhere writable and pass that folder as --index"
            )
        if self._lock.held:
            yield self
            return
        self._lock.acquire()
        try:
            yield self
        finally:
            self._lock.release()

    def try_write_lock(self) -> bool:
        """Takes the writer's lock for the rest of this Gallery's life if it is free; never waits.
        For a reader with optional upkeep, which it skips while an indexer runs, and always on
        a read-only gallery."""
        return not self.read_only and self._lock.try_acquire()

    # --- model ------------------------------------------------------------------------------

    @property
    def model_id(self) -> str | None:
        """The model whose vectors the gallery holds; None while it holds none."""
        return self.store.get_meta(META_MODEL_ID)

    def model_mismatch(self, current_model_id: str) -> str | None:
        """A message when the gallery's vectors came from another model (comparing them with the
        current model's would be meaningless), else None."""
        stored = self.model_id
        if stored is None or stored == current_model_id:
            return None
        return (
            f"{self.directory}: gallery was built with model {stored!r}, the current model is "
            f"{current_model_id!r}; re-embed it (facesim index --reembed) before matching"
        )

    # --- vectors ----------------------------------------------------------------------------

    def vectors(self) -> VectorIndex:
        """The FAISS index, loaded once per Gallery and checked against SQLite when loaded.

        A stale or damaged file is fixed from SQLite; the fixed file is written back only when
        this process can take the writer's lock, so a reader never races a running indexer.
        """
        if self._vectors is None:
            index, changed = open_vectors(
                self.store, self.vectors_path, model_id=self.model_id, ivfpq_min_faces=self.ivfpq_min_faces
            )
            self._vectors = index
            if changed and self._lock.held:
                self._save(index)
            elif changed:
                self._save_if_no_writer(index)
        return self._vectors

    def sync_vectors(self) -> VectorIndex:
        """After writing faces: brings the FAISS file up to date. Needs the writer's lock."""
        if not self._lock.held:
            raise FacesimError("sync_vectors() needs the gallery's write lock")
        self._vectors = None
        index, changed = open_vectors(
            self.store, self.vectors_path, model_id=self.model_id, ivfpq_min_faces=self.ivfpq_min_faces
        )
        if changed:
            self._save(index)
        self._vectors = index
        return index

    def _save_if_no_writer(self, index: VectorIndex) -> None:
        """Caching the repaired index is a courtesy to the next reader: skipped while a writer
        runs, and harmless to fail on a read-only gallery, where the search itself still works."""
        try:
            if not self.try_write_lock():
                return
            try:
                self._save(index)
            finally:
                self._lock.release()
        except (OSError, sqlite3.Error):
            return

    def _save(self, index: VectorIndex) -> None:
        index.save(self.vectors_path, self.model_id)
        if self.store.get_meta(META_VECTOR_INDEX) != index.kind:
            self.store.set_meta(META_VECTOR_INDEX, index.kind)

    # --- counts -----------------------------------------------------------------------------

    def person_count(self, min_size: int = 2) -> int:
        return self.store.person_count(min_size)

    def info(self, *, verify: bool = True) -> GalleryInfo:
        """The counts, once SQLite's quick check says the file is sound: counts read from the
        intact parts of a damaged file would look like a healthy gallery. The check reads every
        page (about 1 s per 100,000 faces on a 2-core VM); `verify=False` skips it for `index`,
        whose closing line reports what the run wrote, not the gallery's health."""
        damage = "; ".join(self.store.damage(quick=True)) if verify else ""
        if damage:
            raise FacesimError(
                f"{self.store.path}: the gallery database is damaged ({damage}); `facesim doctor` says what "
                "is damaged and `facesim doctor --repair` recovers what can be recovered"
            )
        return GalleryInfo(
            directory=self.directory,
            photos=self.store.status_counts(),
            detectors=self.store.detector_counts(),
            faces=self.store.face_count(),
            model_id=self.model_id,
            vector_index=self.store.get_meta(META_VECTOR_INDEX),
            last_run=self.store.last_run(),
        )


def _writable(directory: Path, database: Path) -> bool:
    """Whether SQLite may write here: the folder (for its journal files) and the database file.
    os.access asks the kernel, so a read-only mount counts for root too."""
    return os.access(directory, os.W_OK) and (not database.exists() or os.access(database, os.W_OK))

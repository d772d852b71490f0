"""The gallery's SQLite database: the source of truth that the FAISS file is rebuilt from.

Store is the one object callers hold, and the only code that touches the connection: each table
group keeps its queries in a module of its own (photo_tables, face_tables, person_tables,
correction_tables, run_table, recovery, damage), and the schema and its migrations live in
schema. Every write goes through a transaction.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from facesim.config import SQLITE_BUSY_TIMEOUT_MS
from facesim.errors import FacesimError
from index.store.correction_tables import CorrectionTables
from index.store.damage import DamageCheck
from index.store.face_tables import FaceTables
from index.store.person_tables import PersonTables
from index.store.photo_tables import PhotoTables
from index.store.recovery import RecoveryQueries
from index.store.run_table import RunTable
from index.store.schema import OLDEST_READ_ONLY_SCHEMA, SCHEMA_VERSION, migrate, stand_in_tables

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


class DamagedDatabase(FacesimError):
    """A gallery database SQLite refuses to open at all (a bad header, a truncated file)."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(message)
        self.path = path


class Store(PhotoTables, FaceTables, PersonTables, CorrectionTables, RunTable, RecoveryQueries, DamageCheck):
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
                if not read_only:
                    migrate(self.db)
                elif version >= OLDEST_READ_ONLY_SCHEMA:
                    stand_in_tables(self.db)
                else:
                    raise FacesimError(
                        f"{self.path}: made by an older facesim and read-only here; "
                        "open it once where it is writable, which upgrades it"
                    )
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

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """All writes inside commit together or not at all; nested blocks become savepoints."""
        with self.db.atomic():
            yield self

    # --- meta: the gallery's settings (model id, FAISS kind, next person id) ---------------

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        self.db["meta"].upsert({"key": key, "value": value}, pk="key")


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

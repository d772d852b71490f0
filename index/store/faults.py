"""Plain words for the faults of the storage under a gallery: a full disk, a read-only one, a
damaged database, a failing drive.

They can strike any command at any write or read, deep inside SQLite or FAISS, so they are
named once here and the CLI's safety net turns them into one line saying what happened and what
to do. Every write is a transaction or an atomic file replace, so what was committed before the
fault is kept, and the line says so.
"""

from __future__ import annotations

import errno
import sqlite3

_KEPT = "everything committed before it is kept"
_DAMAGED = (
    "the gallery database is damaged ({detail}); `facesim doctor` says what is damaged and "
    "`facesim doctor --repair` recovers what can be recovered"
)
_BY_SQLITE_CODE = {
    sqlite3.SQLITE_FULL: f"the disk holding the gallery is full ({{detail}}); {_KEPT}: free some space, run it again",
    sqlite3.SQLITE_READONLY: (
        "the gallery is read-only here ({detail}); copy the gallery folder somewhere writable and "
        "pass that folder as --index"
    ),
    sqlite3.SQLITE_CORRUPT: _DAMAGED,
    sqlite3.SQLITE_NOTADB: _DAMAGED,
    sqlite3.SQLITE_IOERR: f"the drive failed to read or write the gallery ({{detail}}); {_KEPT}: check the drive",
}
_BY_ERRNO = {
    errno.ENOSPC: f"the disk is full ({{detail}}); {_KEPT}: free some space and run it again",
    errno.EDQUOT: f"the disk quota is used up ({{detail}}); {_KEPT}: free some space and run it again",
    errno.EROFS: "the file system is read-only ({detail}); use a writable folder",
    errno.EIO: f"the drive failed to read or write ({{detail}}); {_KEPT}: check the drive",
}


def storage_fault(exc: BaseException) -> str | None:
    """The one-line message for a storage fault, or None when `exc` is something else."""
    if isinstance(exc, sqlite3.DatabaseError):
        # Extended codes (SQLITE_IOERR_WRITE, ...) keep the primary code in their low byte.
        template = _BY_SQLITE_CODE.get((getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF)
        return None if template is None else template.format(detail=exc)
    if isinstance(exc, OSError) and exc.errno in _BY_ERRNO:
        detail = exc.strerror if exc.filename is None else f"{exc.strerror}: {exc.filename}"
        return _BY_ERRNO[exc.errno].format(detail=detail)
    return None

"""How Python values are kept in the gallery's columns: file names, messages, times and vectors.

Every table module writes and reads through these, so a value round-trips the same whichever
table holds it.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

# Vectors are stored little-endian so a gallery copied between machines reads the same.
VECTOR_DTYPE = np.dtype("<f4")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def db_path(path: str | Path) -> str | bytes:
    """A file name as SQLite keeps it. Linux names are bytes and need not be UTF-8, which SQLite
    text must be: such a name is kept as its raw bytes (a BLOB), so it still round-trips exactly
    and one bad name cannot crash a whole run; every other name stays readable text."""
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(text)
    return text


def path_of(value: str | bytes) -> str:
    """The inverse of db_path."""
    return value if isinstance(value, str) else os.fsdecode(value)

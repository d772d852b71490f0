"""Counts and paths as facesim writes them, the same in every command's lines and JSON, whichever
layer builds them."""

from __future__ import annotations

import os
from pathlib import Path


def plural(count: int, word: str) -> str:
    """ "1 face", "2 faces": the count with its noun in the number a person would write."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def printable(text: str | Path) -> str:
    """File names need not be UTF-8; escape what a terminal (or a JSON reader) could not take."""
    return os.fsencode(text).decode("utf-8", "backslashreplace")


def absolute(path: Path | str) -> str:
    """Paths in JSON and exports are absolute, so a script reads them from any folder."""
    return printable(os.path.abspath(path))


def shown(path: Path | str) -> str:
    """Relative to the working folder when inside it, which keeps tables and lines readable."""
    path = Path(path)
    if path.is_absolute() and path.is_relative_to(Path.cwd()):
        path = path.relative_to(Path.cwd())
    return printable(path)

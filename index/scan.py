"""Finds the photos under a folder, the same ones in the same order every time.

A stable order gives stable face ids from run to run and lets an interrupted run's successor
skip exactly the photos that were finished. Problems with folders are collected rather than
raised, because one unreadable folder must not stop a library-wide index.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from facesim.images import supported_suffixes

ErrorHandler = Callable[[Path, str], None]


@dataclass
class FolderScan:
    photos: list[Path] = field(default_factory=list)
    # (folder or file, one-line message): unreadable folders and broken links
    errors: list[tuple[Path, str]] = field(default_factory=list)


def walk_photos(
    root: str | Path, suffixes: Iterable[str] | None = None, on_error: ErrorHandler | None = None
) -> Iterator[Path]:
    """Photo files under root, depth first, entries sorted by name.

    Symbolic links are followed, but a folder already visited (by its device and inode) is not
    entered again, which ends link loops. Hidden entries (".thumbnails", "._IMG_0001.jpg") are
    skipped: they are caches and resource forks, not photos. A root that is itself a photo file
    yields just that file.
    """
    wanted = frozenset(suffix.lower() for suffix in (suffixes if suffixes is not None else supported_suffixes()))
    report = on_error or (lambda _path, _message: None)
    root = Path(os.path.abspath(Path(root).expanduser()))
    if root.is_file():
        if root.suffix.lower() in wanted:
            yield root
        return
    visited: set[tuple[int, int]] = set()
    yield from _walk(root, wanted, visited, report)


def scan_folder(root: str | Path, suffixes: Iterable[str] | None = None) -> FolderScan:
    result = FolderScan()
    result.photos = list(walk_photos(root, suffixes, lambda path, message: result.errors.append((path, message))))
    return result


def _walk(folder: Path, wanted: frozenset[str], visited: set[tuple[int, int]], report: ErrorHandler) -> Iterator[Path]:
    try:
        info = folder.stat()
        key = (info.st_dev, info.st_ino)
        if key in visited:
            return
        visited.add(key)
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
    except OSError as exc:
        report(folder, f"{folder}: cannot read folder ({exc.strerror or type(exc).__name__})")
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = folder / entry.name
        try:
            is_dir = entry.is_dir()
            is_file = not is_dir and entry.is_file()
        except OSError as exc:
            report(path, f"{path}: cannot read ({exc.strerror or type(exc).__name__})")
            continue
        if is_dir:
            yield from _walk(path, wanted, visited, report)
        elif path.suffix.lower() in wanted:
            if is_file:
                yield path
            elif entry.is_symlink():
                report(path, f"{path}: broken symbolic link")

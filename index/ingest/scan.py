"""Finds the photos under a folder, the same ones in the same order every time.

A stable order gives stable face ids from run to run and lets an interrupted run's successor
skip exactly the photos that were finished. Problems with folders are collected rather than
raised, because one unreadable folder must not stop a library-wide index.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from facesim.images import supported_suffixes

ErrorHandler = Callable[[Path, str], None]


@dataclass
class FolderScan:
    photos: list[Path] = field(default_factory=list)
    # (folder or file, one-line message): unreadable folders and broken links
    errors: list[tuple[Path, str]] = field(default_factory=list)
    excluded: int = 0  # photo files and folders left out by an exclude glob


def is_inside(path: str, folder: str) -> bool:
    """`path` is `folder` itself or below it (a plain prefix test would put /a/bc inside /a/b)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def is_excluded(path: Path, root: Path, globs: Sequence[str]) -> bool:
    """Whether a glob matches the path relative to root, one of its folders (so `tv/old` leaves
    out everything below it), its name, or the absolute path. `*` crosses folders, as in rsync's
    `**`: `*/Trash` matches a Trash folder at any depth."""
    if not globs:
        return False
    candidates = [str(path), path.name]
    if is_inside(str(path), str(root)) and path != root:
        relative = path.relative_to(root)
        candidates += [str(Path(*relative.parts[:end])) for end in range(1, len(relative.parts) + 1)]
    return any(fnmatchcase(candidate, glob) for candidate in candidates for glob in globs)


def walk_photos(
    root: str | Path,
    suffixes: Iterable[str] | None = None,
    on_error: ErrorHandler | None = None,
    exclude: Sequence[str] = (),
    on_excluded: Callable[[Path], None] | None = None,
) -> Iterator[Path]:
    """Photo files under root, depth first, entries sorted by name.

    Symbolic links are followed, but a folder already visited (by its device and inode) is not
    entered again, which ends link loops. Hidden entries (".thumbnails", "._IMG_0001.jpg") are
    skipped: they are caches and resource forks, not photos. A root that is itself a photo file
    yields just that file. Folders and files an `exclude` glob matches are not entered or yielded
    (see is_excluded); each is passed to on_excluded.
    """
    wanted = frozenset(suffix.lower() for suffix in (suffixes if suffixes is not None else supported_suffixes()))
    report = on_error or (lambda _path, _message: None)
    root = Path(os.path.abspath(Path(root).expanduser()))
    skip = on_excluded or (lambda _path: None)

    def excluded(path: Path) -> bool:
        if is_excluded(path, root, exclude):
            skip(path)
            return True
        return False

    if root.is_file():
        if root.suffix.lower() in wanted and not excluded(root):
            yield root
        return
    visited: set[tuple[int, int]] = set()
    yield from _walk(root, wanted, visited, report, excluded)


def scan_folder(root: str | Path, suffixes: Iterable[str] | None = None, exclude: Sequence[str] = ()) -> FolderScan:
    result = FolderScan()

    def count(_path: Path) -> None:
        result.excluded += 1

    result.photos = list(
        walk_photos(root, suffixes, lambda path, message: result.errors.append((path, message)), exclude, count)
    )
    return result


def _walk(
    folder: Path,
    wanted: frozenset[str],
    visited: set[tuple[int, int]],
    report: ErrorHandler,
    excluded: Callable[[Path], bool],
) -> Iterator[Path]:
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
            if not excluded(path):
                yield from _walk(path, wanted, visited, report, excluded)
        elif path.suffix.lower() in wanted:
            if excluded(path):
                continue
            if is_file:
                yield path
            elif entry.is_symlink():
                report(path, f"{path}: broken symbolic link")

"""What SQLite's own integrity check finds wrong with a gallery database, in plain words.

A damaged file must never pass for a sound one (its intact part would read as the whole
gallery), and the user must learn which part is lost: photos, faces, persons or corrections.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING

from index.store.sql import quoted

if TYPE_CHECKING:  # imported for real by index.store.database alone, which keeps pandas out of it
    from sqlite_utils import Database


class DamageCheck:
    """The store's check of its own file (a part of Store)."""

    db: Database

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
                self.db.execute(f"SELECT count(*) FROM {quoted(name)} NOT INDEXED").fetchone()
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

"""A copy of every row a damaged gallery database still holds, for `facesim doctor --repair`.

SQLite refuses a damaged file as a whole; the rows on its sound pages are still the user's
persons, names and corrections, so they are copied out one by one into a new file with the same
schema, ids and schema version, and what could not be read is listed.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facesim.errors import FacesimError
from index.store.sql import quoted


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
    quoted_table = quoted(table)
    columns = [row[1] for row in source.execute(f"PRAGMA table_info({quoted_table})")]
    scanned = _scan_rowids(source, table)
    known: dict[int, dict[str, Any]] = {}
    for index in indexes:
        indexed = [row[2] for row in source.execute(f"PRAGMA index_info({quoted(index)})") if row[2] is not None]
        listed = ", ".join(map(quoted, indexed))
        sql = f"SELECT rowid, {listed} FROM {quoted_table} INDEXED BY {quoted(index)} ORDER BY {listed}"
        for row in _readable(source, sql, []):
            known.setdefault(row[0], {}).update(zip(indexed, row[1:], strict=True))
    listed = ", ".join(map(quoted, columns))
    select = f"SELECT {listed} FROM {quoted_table} WHERE rowid = ?"
    insert = f"INSERT INTO {quoted_table} ({listed}) VALUES ({', '.join('?' * len(columns))})"
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
        sql = f"SELECT rowid FROM {quoted(table)} NOT INDEXED WHERE rowid {compare} ? ORDER BY rowid {order}"
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
        highest = target.execute(f"SELECT max(rowid) FROM {quoted(name)}").fetchone()[0] or 0
        counters[name] = max([int(counters.get(name) or 0), highest, *salvage.lost.get(name, [])])
    target.execute("DELETE FROM sqlite_sequence")
    target.executemany("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", counters.items())

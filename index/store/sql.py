"""What every table module needs to write SQL: a name quoted, and a long list of ids bound in chunks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported for real by index.store.database alone, which keeps pandas out of it
    from sqlite_utils import Database

# SQLite's limit on bound parameters is 32766 in current builds; stay well below it.
CHUNK = 900


def in_chunks(db: Database, sql: str, ids: Iterable[int], before: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Runs `sql`, whose `{ids}` (one or more times) stands for a list of ids, once per CHUNK of
    `ids`, with the parameters `before` bound ahead of them; returns every row, chunk by chunk.
    One statement per id would cost a round trip each, and one statement for all could pass
    SQLite's limit on parameters."""
    wanted = [int(value) for value in ids]
    uses = sql.count("{ids}")
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        statement = sql.format(ids=",".join("?" * len(chunk)))
        rows += db.execute(statement, [*before, *(chunk * uses)]).fetchall()
    return rows


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'

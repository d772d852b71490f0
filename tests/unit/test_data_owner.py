"""The store is the one owner of the gallery's data: no module outside `index/store/` runs SQL or
touches the connection, and the schema creates every table the store's SQL names.

A query written outside the store escapes its schema version (a table made on first use, a
gallery that cannot say what it holds) and its read-only handling; these tests fail on the first
such line, wherever it is, rather than when a gallery of some older facesim meets it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from index.store.database import Store

from support.sample_gallery import REPO

STORE = REPO / "index" / "store"
# The code that uses the gallery; index/store/ itself is its owner. (benchmarks/ and tests/ read
# a gallery's file as an outside observer would, to check what the product wrote.)
USERS = [
    *sorted(REPO.glob("cli*.py")),
    *sorted((REPO / "index").rglob("*.py")),
    *sorted((REPO / "facesim").rglob("*.py")),
]
# Attributes only a connection (sqlite3's or sqlite-utils') has, or the store's own connection.
CONNECTION_ATTRIBUTES = {"db", "conn", "execute", "executemany", "executescript", "query", "connect"}
SQLITE_MODULES = {"sqlite3", "sqlite_utils"}
# Tables SQLite keeps itself.
SQLITE_TABLES = {"sqlite_master", "sqlite_schema", "sqlite_sequence", "dbstat"}
# A table named in SQL text: after FROM, INTO, UPDATE, JOIN or TABLE (keywords in capitals, as the store writes them).
NAMED_TABLE = re.compile(r'\b(?:FROM|INTO|UPDATE|JOIN|TABLE(?: IF NOT EXISTS)?)\s+"?(?!IF\b)([A-Za-z_]\w*)')


def connection_uses(source: str) -> list[str]:
    """Each line of `source` that imports SQLite or reaches for a connection, as "line: what"."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in CONNECTION_ATTRIBUTES:
            found.append(f"{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {alias.name}" for alias in node.names if alias.name in SQLITE_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in SQLITE_MODULES:
            found.append(f"{node.lineno}: from {node.module} import")
        elif isinstance(node, ast.Name) and node.id in SQLITE_MODULES:
            found.append(f"{node.lineno}: {node.id}")
    return found


def test_the_check_finds_sql_and_connections() -> None:
    """The check itself, on the kinds of line it exists to catch."""
    source = (
        "import sqlite3\n"
        "from sqlite_utils import Database\n"
        "store.db.execute('SELECT 1')\n"
        "store.db['persons'].upsert({})\n"
        "store.db.conn.executemany('DELETE FROM x', [])\n"
        "rows = gallery.store.db.query('SELECT 1')\n"
        "store.name_person(1, 'Ada')\n"
    )
    assert sorted(connection_uses(source)) == [
        "1: import sqlite3",
        "2: from sqlite_utils import",
        "3: .db",
        "3: .execute",
        "4: .db",
        "5: .conn",
        "5: .db",
        "5: .executemany",
        "6: .db",
        "6: .query",
    ]


def test_no_module_outside_the_store_touches_the_connection() -> None:
    offenders = {
        str(path.relative_to(REPO)): uses
        for path in USERS
        if STORE not in path.parents and (uses := connection_uses(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}, "SQL belongs in a named method of index.store (a table module of Store)"


def tables_named_by_the_store() -> set[str]:
    """Every table the SQL text (and sqlite-utils' `db["table"]`) of index/store/ names."""
    named: set[str] = set()
    for path in STORE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                named |= set(NAMED_TABLE.findall(node.value))
            subscript = isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute)
            if subscript and node.value.attr == "db" and isinstance(node.slice, ast.Constant):
                named.add(str(node.slice.value))
    return named - SQLITE_TABLES


def test_the_schema_creates_every_table_the_store_names(tmp_path: Path) -> None:
    """One schema version covers all the data: a fresh gallery holds every table the store's
    queries name, and no table that none of them uses (the migration of the oldest gallery to
    the same tables is tested in test_store.py)."""
    with Store(tmp_path / "gallery.db") as fresh:
        tables = set(fresh.db.table_names()) - SQLITE_TABLES
    assert tables_named_by_the_store() == tables

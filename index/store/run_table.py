"""The history of indexing runs (table runs): a run without an end was interrupted, and the next
one over its folder resumes it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from index.store.columns import db_path, path_of, utc_now
from index.store.rows import RunRow

if TYPE_CHECKING:  # imported for real by index.store.database alone, which keeps pandas out of it
    from sqlite_utils import Database


class RunTable:
    """Queries of the runs table (a part of Store)."""

    db: Database

    def start_run(self, root: str | Path) -> int:
        runs = self.db["runs"]
        runs.insert({"root": db_path(root), "started_at": utc_now()})
        return int(runs.last_pk)

    def finish_run(self, run_id: int, counts: dict[str, int]) -> None:
        """A run without finished_at was interrupted; the next one resumes where it stopped."""
        self.db["runs"].update(run_id, {"finished_at": utc_now(), "counts": json.dumps(counts)})

    def last_run(self) -> dict[str, Any] | None:
        row = self.db.execute("SELECT id, root, started_at, finished_at, counts FROM runs ORDER BY id DESC LIMIT 1")
        found = row.fetchone()
        if found is None:
            return None
        run_id, root, started_at, finished_at, counts = found
        return {
            "id": run_id,
            "root": None if root is None else path_of(root),
            "started_at": started_at,
            "finished_at": finished_at,
            "counts": json.loads(counts) if counts else None,
        }

    def runs(self) -> list[RunRow]:
        """Every run, oldest first."""
        rows = self.db.execute("SELECT id, root, started_at, finished_at FROM runs ORDER BY id").fetchall()
        return [RunRow(run, None if root is None else path_of(root), start, end) for run, root, start, end in rows]

"""kill -9 of a real `facesim index` at a dozen moments of one job, each followed by a rerun:
nothing committed is lost, no photo is indexed twice or left out, and SQLite and FAISS agree.

The moments are picked by watching the gallery's last commit from outside (WAL lets a reader look
while the indexer writes), so each kill lands in a known phase of the run on a fast machine and a
slow one alike, rather than wherever a fixed sleep happens to fall.
"""

from __future__ import annotations

import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from facesim.config import GALLERY_DB_NAME, INDEX_BATCH_SIZE
from facesim.pipeline import Face, faces_in_photo
from index.store.gallery import Gallery
from index.store.vectors import VectorIndex

from support.index_runs import (
    Snapshot,
    children_of,
    facesim,
    integrity_problems,
    kill_hard,
    make_copies,
    running,
    single_face_sources,
    snapshot,
    start,
    stderr_of,
    wait_until,
)

# The kills below need at least 8 batches to commit; the rest absorb kills that land a batch
# late on a loaded machine, so the run does not finish before the last kill points.
N_PHOTOS = 16 * INDEX_BATCH_SIZE
# Until a batch has been timed; only a delayed kill before the first timed batch would use it.
FIRST_GUESS_BATCH_SECONDS = 2.0


@dataclass(frozen=True)
class KillPoint:
    name: str
    # time: `count` tenths of a second after the start; schema: the new gallery is committed;
    # run: the run's row is committed (scan and plan done); commit: `count` more batches
    # committed; all: every photo committed (the run is writing FAISS and finishing).
    event: Literal["time", "schema", "run", "commit", "all"]
    count: int = 1
    delay: float = 0.0  # then wait this many batch-times, to land inside the next batch
    workers: int = 1


KILL_POINTS = [
    KillPoint("while Python starts and imports", "time", count=3),
    KillPoint("just after the new gallery's schema is committed", "schema"),
    KillPoint("after the run is recorded, before any photo", "run"),
    KillPoint("just after a batch commits", "commit"),
    KillPoint("inside a resumed run's first batch", "run", delay=0.5),
    KillPoint("a third of the way into a batch", "commit", delay=0.3),
    KillPoint("just after a batch commits, with 2 workers", "commit", workers=2),
    # Delays are in one worker's batch-times, so this is about halfway into a 2-worker batch.
    KillPoint("inside a batch, with 2 workers", "commit", delay=0.25, workers=2),
    KillPoint("1.5 s in: importing or scanning, depending on the machine", "time", count=15),
    KillPoint("late in a batch", "commit", delay=0.6),
    KillPoint("just after two more batches commit", "commit", count=2),
    KillPoint("once every photo is committed", "all"),
]


@dataclass
class Outcome:
    point: str
    landed: bool  # the process was alive when killed
    committed_before: int  # photos the last commit before the kill held
    committed_after: int


def _wait_for(
    process: subprocess.Popen[bytes], db: Path, point: KillPoint, before: Snapshot, started: float
) -> tuple[bool, float | None]:
    """Waits for the point's event; returns (reached, seconds one batch took if it timed one).
    Not reached means the process finished first."""
    if point.event == "time":
        return wait_until(process, db, lambda _: time.monotonic() - started >= point.count / 10) is not None, None
    if point.event == "schema":
        return wait_until(process, db, lambda now: now.readable) is not None, None
    if point.event == "all":
        return wait_until(process, db, lambda now: now.photos == N_PHOTOS > before.photos) is not None, None
    if wait_until(process, db, lambda now: now.runs > before.runs) is None:
        return False, None
    run_recorded = time.monotonic()
    if point.event == "run":
        return True, None
    last = before.photos
    for _ in range(point.count):
        seen = wait_until(process, db, lambda now, last=last: now.photos > last)
        if seen is None:
            return False, None
        last = seen.photos
    return True, time.monotonic() - run_recorded if point.count == 1 and point.workers == 1 else None


def _expected_faces() -> dict[Path, list[Face]]:
    return {source: faces_in_photo(source) for source in single_face_sources()}


@pytest.mark.skipif(not single_face_sources(), reason="sample_data/photos is not built")
def test_kill_9_at_many_points_then_rerun_loses_and_doubles_nothing(tmp_path: Path, cli_runner: CliRunner) -> None:
    copies = make_copies(tmp_path / "photos", N_PHOTOS)
    gallery_dir = tmp_path / "gallery"
    db = gallery_dir / GALLERY_DB_NAME
    batch_seconds = FIRST_GUESS_BATCH_SECONDS
    outcomes: list[Outcome] = []

    for number, point in enumerate(KILL_POINTS):
        before = snapshot(db)
        command = facesim("index", tmp_path / "photos", "--index", gallery_dir, "--workers", str(point.workers))
        log = tmp_path / "logs" / f"{number:02d}"
        started = time.monotonic()
        process = start(command, log)
        reached, timed = _wait_for(process, db, point, before, started)
        batch_seconds = timed or batch_seconds
        if reached:
            time.sleep(point.delay * batch_seconds)
        last_commit = snapshot(db)
        workers = children_of(process.pid)
        status = kill_hard(process)
        assert status in (0, -signal.SIGKILL), f"{point.name}: exit {status}: {stderr_of(log)}"
        after = snapshot(db)
        outcomes.append(Outcome(point.name, status == -signal.SIGKILL, last_commit.photos, after.photos))

        assert after.photos >= last_commit.photos, f"{point.name}: committed photos were lost"
        if after.readable:
            assert integrity_problems(db) == [], point.name
        deadline = time.monotonic() + 15
        while any(running(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in workers if running(pid)], f"{point.name}: worker processes outlived the indexer"

    landed = [outcome for outcome in outcomes if outcome.landed]
    assert len(landed) >= 10, outcomes
    # The kills fell before, inside and after batches, not all at one commit count.
    assert len({outcome.committed_before for outcome in landed}) >= 6, outcomes

    log = tmp_path / "logs" / "final"
    final = start(facesim("index", tmp_path / "photos", "--index", gallery_dir), log)
    assert final.wait(timeout=600) == 0, stderr_of(log)

    assert integrity_problems(db) == []
    expected = _expected_faces()
    with Gallery.open(gallery_dir, create=False) as gallery:
        stored = gallery.store.photos_by_path()
        assert gallery.store.db.execute("SELECT count(*) FROM photos").fetchone()[0] == len(copies)
        assert sorted(stored) == sorted(str(copy) for copy in copies)
        for copy, source in copies.items():
            row = stored[str(copy)]
            faces = gallery.store.faces_of(row.id)
            assert row.status == ("indexed" if expected[source] else "no_face"), copy.name
            assert [face["box"] for face in faces] == [face.detection.box for face in expected[source]], copy.name
            for saved, original in zip(faces, expected[source], strict=True):
                np.testing.assert_allclose(saved["embedding"], original.embedding, atol=1e-4)
        total = sum(len(expected[source]) for source in copies.values())
        # Face ids are never reused and a rolled-back batch takes its ids back, so 1..total means
        # no committed photo was embedded again by a later run.
        assert gallery.store.face_ids().tolist() == list(range(1, total + 1))
        loaded = VectorIndex.load(gallery.vectors_path)
        assert loaded is not None
        assert loaded[0].ids().tolist() == gallery.store.face_ids().tolist()
        assert gallery.store.last_run()["finished_at"] is not None

    checkup = cli_runner.invoke(app, ["doctor", "--index", str(gallery_dir)])
    if checkup.exit_code != 0:
        # A kill while the FAISS file was being replaced can leave a temporary file: harmless,
        # and the one finding allowed here, which --repair deletes.
        assert "temporary files" in checkup.stdout and checkup.stdout.count("problem:") == 1, checkup.stdout
        assert cli_runner.invoke(app, ["doctor", "--index", str(gallery_dir), "--repair"]).exit_code == 0

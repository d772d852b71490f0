"""Two processes on one gallery: a second indexer fails at once and says why, a reader answers
from the last commit, and the first indexer finishes as if alone.

The first indexer is frozen with SIGSTOP once it has committed a batch, so "while an index run is
in progress" is a fixed state rather than a race: it holds the lock, its FAISS file does not
exist yet, and SQLite holds exactly what it committed.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from facesim.config import GALLERY_DB_NAME, GALLERY_VECTORS_NAME, INDEX_BATCH_SIZE

from support.cli_runs import answers_of, invoke, photo_rows
from support.index_runs import (
    facesim,
    integrity_problems,
    make_copies,
    message_lines,
    single_face_sources,
    snapshot,
    start,
    stderr_of,
    wait_until,
)

pytestmark = pytest.mark.skipif(not single_face_sources(), reason="sample_data/photos is not built")


def committed_paths(db: Path) -> set[str]:
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {path for (path,) in connection.execute("SELECT path FROM photos WHERE status = 'indexed'")}
    finally:
        connection.close()


def assert_healthy(gallery: Path, photos: int) -> None:
    db = gallery / GALLERY_DB_NAME
    assert integrity_problems(db) == []
    assert snapshot(db).photos == photos
    checkup = invoke("doctor", "--index", gallery, "--json")
    assert checkup.exit_code == 0, checkup.stdout


def test_second_indexer_fails_at_once_and_a_reader_sees_the_last_commit(tmp_path: Path) -> None:
    copies = make_copies(tmp_path / "photos", 3 * INDEX_BATCH_SIZE)
    gallery = tmp_path / "gallery"
    db = gallery / GALLERY_DB_NAME
    first_log = tmp_path / "logs" / "first"
    first = start(facesim("index", tmp_path / "photos", "--index", gallery), first_log)
    assert wait_until(first, db, lambda now: now.photos > 0) is not None, stderr_of(first_log)
    os.kill(first.pid, signal.SIGSTOP)
    try:
        frozen = snapshot(db)
        assert 0 < frozen.photos < len(copies)

        second = subprocess.run(
            facesim("index", tmp_path / "photos", "--index", gallery), capture_output=True, text=True, timeout=120
        )
        # Had it waited for the lock it would still be waiting: the holder is frozen.
        assert second.returncode == 2 and second.stdout == ""
        (message,) = message_lines(second.stderr)
        assert "another facesim process" in message and f"pid {first.pid}" in message
        assert snapshot(db) == frozen  # it wrote nothing

        query = next(copy for copy in copies if str(copy) in committed_paths(db))
        reader = subprocess.run(
            facesim("match", query, "--index", gallery, "--top-k", "1000", "--json"),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert reader.returncode == 0, reader.stderr
        hits = photo_rows(answers_of(reader.stdout))
        # Every committed face and nothing else: the FAISS file does not exist yet, so the
        # reader built its index from SQLite's last commit, and left the file to the writer.
        assert len(hits) == frozen.faces
        assert {str(Path(hit["path"]).resolve()) for hit in hits} <= committed_paths(db)
        assert not (gallery / GALLERY_VECTORS_NAME).exists()
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert first.wait(timeout=600) == 0, stderr_of(first_log)
    assert_healthy(gallery, len(copies))


def test_two_indexers_started_together_on_a_new_gallery(tmp_path: Path) -> None:
    """Both race to create the database and take the lock: one indexes, the other either fails
    cleanly on the lock or, if it got there after the first finished, finds nothing to do."""
    copies = make_copies(tmp_path / "photos", INDEX_BATCH_SIZE + 8)
    gallery = tmp_path / "gallery"
    logs = [tmp_path / "logs" / name for name in ("a", "b")]
    processes = [start(facesim("index", tmp_path / "photos", "--index", gallery), log) for log in logs]
    statuses = [process.wait(timeout=600) for process in processes]

    assert sorted(statuses) in ([0, 0], [0, 2]), [stderr_of(log) for log in logs]
    for status, log in zip(statuses, logs, strict=True):
        if status == 2:
            (message,) = message_lines(stderr_of(log))
            assert "another facesim process" in message
    assert_healthy(gallery, len(copies))


def test_match_without_a_gallery_says_so_in_one_line(tmp_path: Path, cli_runner: CliRunner) -> None:
    photo = single_face_sources()[0]
    result = cli_runner.invoke(app, ["match", str(photo), "--index", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "no gallery" in result.stderr
    assert not (tmp_path / "nowhere").exists()  # a reader creates nothing

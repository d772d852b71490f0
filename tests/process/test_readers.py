"""Readers while `facesim index` runs: info, photos, match and the stored persons answer from the
last commit; what needs the writer's lock says so in one line; new faces join their persons when
the run ends.

The indexer is frozen with SIGSTOP after its first commit, so "during a run" is a fixed state.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facesim.config import GALLERY_DB_NAME, INDEX_BATCH_SIZE

from support.index_runs import (
    facesim,
    make_copies,
    message_lines,
    single_face_sources,
    snapshot,
    start,
    stderr_of,
    wait_until,
)

pytestmark = pytest.mark.skipif(not single_face_sources(), reason="sample_data/photos is not built")


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(facesim(*args), capture_output=True, text=True, timeout=300)


def test_readers_answer_during_a_run_and_persons_catch_up_at_its_end(tmp_path: Path) -> None:
    known = tmp_path / "known"
    known.mkdir()
    for source in single_face_sources()[:8]:
        shutil.copy2(source, known / source.name)
    gallery = tmp_path / "gallery"
    assert cli("index", known, "--index", gallery).returncode == 0
    assert cli("clusters", "--index", gallery).returncode == 0
    before = json.loads(cli("info", "--index", gallery, "--json").stdout)

    make_copies(tmp_path / "new", 2 * INDEX_BATCH_SIZE)
    db = gallery / GALLERY_DB_NAME
    log = tmp_path / "logs" / "index"
    run = start(facesim("index", tmp_path / "new", "--index", gallery), log)
    assert wait_until(run, db, lambda now: now.photos > before["photos"]) is not None, stderr_of(log)
    os.kill(run.pid, signal.SIGSTOP)
    try:
        frozen = snapshot(db)
        info = cli("info", "--index", gallery, "--json")
        assert info.returncode == 0, info.stderr
        counts = json.loads(info.stdout)
        assert (counts["photos"], counts["faces"]) == (frozen.photos, frozen.faces)
        assert counts["persons"] == before["persons"]
        listed = cli("photos", "--index", gallery, "--json")
        assert listed.returncode == 0 and len(json.loads(listed.stdout)) == frozen.photos
        shown = cli("clusters", "--index", gallery, "--min-size", "1", "--json")
        assert shown.returncode == 0, shown.stderr
        (note,) = message_lines(shown.stderr)
        pending = frozen.faces - before["faces"]
        assert f"{pending} faces of the running `facesim index` join persons when it ends" in note
        assert sum(person["size"] for person in json.loads(shown.stdout)) == before["faces"]
        query = single_face_sources()[0]
        assert cli("match", query, "--index", gallery, "--json").returncode == 0
        doctor = cli("doctor", "--index", gallery)
        assert doctor.returncode == 2 and "another facesim process" in " ".join(message_lines(doctor.stderr))
        assert len(message_lines(doctor.stderr)) == 1
        assert snapshot(db) == frozen
    finally:
        os.kill(run.pid, signal.SIGCONT)
    assert run.wait(timeout=600) == 0, stderr_of(log)
    after = json.loads(cli("clusters", "--index", gallery, "--min-size", "1", "--json").stdout)
    assert sum(person["size"] for person in after) == snapshot(db).faces


def test_readers_in_a_loop_while_an_indexer_commits_never_fail(tmp_path: Path, cli_runner: CliRunner) -> None:
    """`match`, `photos` and `info` one after another, as long as a real indexer commits batch
    after batch: every call answers, and the photo count a reader sees never goes down."""
    from cli import app

    copies = sorted(make_copies(tmp_path / "photos", 3 * INDEX_BATCH_SIZE))
    gallery = tmp_path / "gallery"
    db = gallery / GALLERY_DB_NAME
    log = tmp_path / "logs" / "index"
    run = start(facesim("index", tmp_path / "photos", "--index", gallery, "--workers", "1"), log)
    assert wait_until(run, db, lambda now: now.photos > 0) is not None, stderr_of(log)
    calls = [
        ["info", "--json"],
        ["photos", "--json"],
        ["match", str(copies[0]), "--top-k", "3", "--json"],
    ]
    seen, rounds = 0, 0
    while run.poll() is None:
        for call in calls:
            result = cli_runner.invoke(app, [*call, "--index", str(gallery)])
            assert result.exit_code == 0, (call, result.stderr)
            if call[0] == "info":
                photos = json.loads(result.stdout)["photos"]
                assert photos >= seen
                seen = photos
        rounds += 1
    assert run.returncode == 0, stderr_of(log)
    assert rounds >= 2  # readers ran across more than one commit
    final = json.loads(cli_runner.invoke(app, ["info", "--index", str(gallery), "--json"]).stdout)
    assert final["photos"] >= seen and final["faces"] == snapshot(db).faces

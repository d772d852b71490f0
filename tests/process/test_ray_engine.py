"""`facesim index --engine ray` on a real two-node Ray cluster started on this machine (loopback
only): the same gallery as the local engine, the same skip-by-hash and resume rules, and no photo
lost or doubled when a worker node dies mid-run.

These tests skip where Ray is not installed, unless FACESIM_REQUIRE_RAY is set (CI sets it), in
which case they fail: CI must never pass by skipping them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from cli import app
from facesim.config import GALLERY_DB_NAME, INDEX_BATCH_SIZE
from facesim.errors import FacesimError

from support.index_runs import (
    facesim,
    integrity_problems,
    kill_hard,
    make_copies,
    message_lines,
    snapshot,
    start,
    stderr_of,
    wait_until,
)
from support.ray_cluster import LocalCluster, free_port, start_cluster
from support.sample_gallery import SAMPLE_PHOTOS

if importlib.util.find_spec("ray") is None:
    if os.environ.get("FACESIM_REQUIRE_RAY"):
        raise ImportError("FACESIM_REQUIRE_RAY is set but Ray is not installed: pip install -e '.[dev,ray]'")
    pytest.skip("Ray is not installed (pip install 'facesim[ray]')", allow_module_level=True)

# A `facesim index --engine ray` run on a busy 2-core machine, cluster connection included.
RUN_TIMEOUT_S = 400
PHOTO_COLUMNS = "path, content_hash, size, mtime_ns, status, error, n_faces, model_id"
FACE_COLUMNS = 'f.id, p.path, f."left", f."top", f."right", f."bottom", f.landmarks, f.model_id'


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """Short temp paths: Ray's Unix sockets live below them, and socket paths are short."""
    with tempfile.TemporaryDirectory(prefix="fsray") as temp:
        started = start_cluster(Path(temp))
        try:
            yield started
        finally:
            started.stop()


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(facesim(*args), capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def table(db: Path, sql: str, *params: object) -> list[tuple]:
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


def vectors(db: Path) -> np.ndarray:
    rows = table(db, "SELECT embedding FROM faces ORDER BY id")
    return np.stack([np.frombuffer(row[0], dtype="<f4") for row in rows])


def test_ray_engine_builds_the_local_engines_gallery_and_skips_by_hash(cluster, tmp_path):
    photos = tmp_path / "photos"
    shutil.copytree(SAMPLE_PHOTOS, photos)
    ray_db = tmp_path / "ray" / GALLERY_DB_NAME
    local_db = tmp_path / "local" / GALLERY_DB_NAME
    ray_args = ["index", photos, "--index", ray_db.parent, "--engine", "ray", "--address", cluster.address, "--json"]
    first = json.loads(run_cli(*ray_args).stdout)
    run_cli("index", photos, "--index", local_db.parent)

    assert first["indexed"] > 0 and first["no_face"] > 0 and first["errors"]
    photo_sql = f"SELECT {PHOTO_COLUMNS} FROM photos ORDER BY id"
    assert table(ray_db, photo_sql) == table(local_db, photo_sql)
    face_sql = f"SELECT {FACE_COLUMNS} FROM faces f JOIN photos p ON p.id = f.photo_id ORDER BY f.id"
    assert table(ray_db, face_sql) == table(local_db, face_sql)
    np.testing.assert_allclose(vectors(ray_db), vectors(local_db), atol=1e-5)
    score_sql = "SELECT score FROM faces ORDER BY id"
    assert np.allclose(table(ray_db, score_sql), table(local_db, score_sql))

    # A touched photo is hashed again, on an actor, and found unchanged; the rest are not read.
    touched = sorted(photos.glob("*_0001.jpg"))[0]
    os.utime(touched, ns=(1, 1))
    again = json.loads(run_cli(*ray_args).stdout)
    assert again["unchanged"] == again["photos_seen"] == first["photos_seen"]
    assert table(ray_db, "SELECT mtime_ns FROM photos WHERE path = ?", str(touched)) == [(1,)]
    assert integrity_problems(ray_db) == []


def test_ray_run_killed_mid_run_resumes_and_indexes_every_photo_once(cluster, tmp_path):
    copies = make_copies(tmp_path / "photos", 3 * INDEX_BATCH_SIZE)
    gallery = tmp_path / "g"
    db = gallery / GALLERY_DB_NAME
    args = ["index", tmp_path / "photos", "--index", gallery, "--engine", "ray", "--address", cluster.address]
    process = start(facesim(*args), tmp_path / "killed")
    seen = wait_until(process, db, lambda shot: shot.photos >= INDEX_BATCH_SIZE, timeout=RUN_TIMEOUT_S)
    assert seen is not None, stderr_of(tmp_path / "killed")
    kill_hard(process)
    committed = snapshot(db).photos
    assert INDEX_BATCH_SIZE <= committed < len(copies)

    resumed = json.loads(run_cli(*args, "--json").stdout)
    assert resumed["unchanged"] == committed
    assert resumed["indexed"] == len(copies) - committed
    assert snapshot(db).photos == snapshot(db).faces == len(copies)
    assert integrity_problems(db) == []


def test_worker_node_killed_mid_run_loses_no_photo_and_doubles_none(tmp_path):
    # Enough batches that the run outlasts the worker node's actor start-up: with three, on a
    # loaded machine the head's actor could finish them all before the worker node held one,
    # and there was no mid-run left to kill.
    copies = make_copies(tmp_path / "photos", 8 * INDEX_BATCH_SIZE)
    db = tmp_path / "g" / GALLERY_DB_NAME
    with tempfile.TemporaryDirectory(prefix="fsray") as temp:
        dying = start_cluster(Path(temp))
        try:
            args = ["index", tmp_path / "photos", "--index", db.parent, "--engine", "ray", "--address", dying.address]
            process = start(facesim(*args, "--json"), tmp_path / "run")
            # Mid-run: a batch is committed, more are in flight, and the worker node hosts an actor.
            seen = wait_until(
                process,
                db,
                lambda shot: shot.photos >= INDEX_BATCH_SIZE and dying.worker.runs("PhotoWorker"),
                timeout=RUN_TIMEOUT_S,
            )
            assert seen is not None, stderr_of(tmp_path / "run")
            assert seen.photos < len(copies)
            dying.worker.kill()
            assert process.wait(timeout=RUN_TIMEOUT_S) == 0, stderr_of(tmp_path / "run")
        finally:
            dying.stop()
    summary = json.loads((tmp_path / "run.out").read_text())
    assert summary["indexed"] == summary["faces"] == len(copies) and summary["errors"] == []
    paths = [Path(row[0]) for row in table(db, "SELECT path FROM photos")]
    assert sorted(paths) == sorted(copies)
    assert snapshot(db).faces == len(copies)
    assert integrity_problems(db) == []


def test_unreachable_cluster_is_one_line_and_exit_2(tmp_path, cli_runner):
    started = time.monotonic()
    result = cli_runner.invoke(
        app,
        [
            "index",
            str(SAMPLE_PHOTOS),
            "--index",
            str(tmp_path / "g"),
            "--engine",
            "ray",
            "--address",
            f"127.0.0.1:{free_port()}",
        ],
    )
    assert result.exit_code == 2
    lines = message_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach a Ray cluster at 127.0.0.1:"), lines
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--engine", "ray", "--workers", "2"], "--workers is for the local engine"),
        (["--address", "auto"], "--address needs --engine ray"),
        (["--engine", "spark"], "unknown engine 'spark'"),
        (["--engine", "ray", "--address", "ray://127.0.0.1:10001"], "--engine ray cannot run through Ray Client"),
    ],
)
def test_engine_options_that_cannot_work_are_refused(tmp_path, extra, message, cli_runner):
    result = cli_runner.invoke(app, ["index", str(SAMPLE_PHOTOS), "--index", str(tmp_path / "g"), *extra])
    lines = message_lines(result.stderr)
    assert result.exit_code == 2
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), lines


def test_without_the_extra_ray_engine_says_what_to_install(tmp_path, monkeypatch, cli_runner):
    from index.ingest import ray_engine

    monkeypatch.setattr(ray_engine, "ray", None)
    result = cli_runner.invoke(app, ["index", str(SAMPLE_PHOTOS), "--index", str(tmp_path / "g"), "--engine", "ray"])
    assert result.exit_code == 2
    assert message_lines(result.stderr) == ["error: --engine ray needs Ray: pip install 'facesim[ray]'"]


def test_local_engine_never_imports_ray(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    photo = sorted(SAMPLE_PHOTOS.glob("*_0001.jpg"))[0]
    (folder / photo.name).write_bytes(photo.read_bytes())
    probe = (
        "import sys; from typer.testing import CliRunner; from cli import app; "
        f"result = CliRunner().invoke(app, ['index', {str(folder)!r}, '--index', {str(tmp_path / 'g')!r}]); "
        "print(result.exit_code, 'ray' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert result.stdout.split() == ["0", "False"], result.stderr[-2000:]


def test_a_photo_the_driver_sees_but_a_worker_does_not_stops_the_run(tmp_path):
    from index.ingest.examine import Task
    from index.ingest.ray_engine import _unseen

    there = tmp_path / "there.jpg"
    there.write_bytes(b"x")
    with pytest.raises(FacesimError, match="same path on every node"):
        _unseen(Task(str(there), 1, 1, None, None))
    gone = _unseen(Task(str(tmp_path / "gone.jpg"), 1, 1, None, None))
    assert gone.error == f"{tmp_path / 'gone.jpg'}: cannot read (No such file or directory)"


def test_an_encoder_failure_is_recorded_on_each_photo_with_faces_not_raised():
    from facesim.detection import DetectedFace
    from index.ingest.examine import Outcome, _embed_all, _Found

    def broken(_chips):
        raise RuntimeError("out of memory\nmore detail")

    face = DetectedFace((0, 0, 10, 10), 1.0, ((1, 1),) * 5)
    chip = np.zeros((150, 150, 3), dtype=np.uint8)
    found = [_Found("h1", (face,), (chip,)), _Found("h2", (), ()), Outcome("h3", unchanged=True), None]
    outcomes = _embed_all(["a.jpg", "b.jpg", "c.jpg", "d.jpg"], found, broken)
    assert outcomes == [
        Outcome("h1", error="a.jpg: RuntimeError: out of memory"),
        Outcome("h2"),
        Outcome("h3", unchanged=True),
        None,
    ]

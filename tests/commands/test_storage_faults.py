"""The storage under a gallery fails: the disk fills up in the middle of `facesim index`, or the
gallery sits on a read-only file system (a backup mounted read-only).

Real where the test may make the fault: a 512 KB tmpfs filled to the brim, a read-only bind
mount (root) or a folder without write permission (any other user); each skips cleanly where
mounting is not allowed. Injected where a real fault cannot be aimed: ENOSPC at the write of the
FAISS file, and SQLite's own "database or disk is full" raised by capping the database's page
count. Each checks one line and a non-zero exit, nothing committed lost, and a next run, once
the fault is cleared, that carries on to the state a clean run builds.
"""

from __future__ import annotations

import builtins
import errno
import json
import os
import sqlite3
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from facesim.config import GALLERY_DB_NAME, GALLERY_VECTORS_NAME, INDEX_BATCH_SIZE
from index.store import database as store_module
from index.store.database import Store

from support.cli_runs import invoke
from support.index_runs import facesim, integrity_problems, make_copies, message_lines, single_face_sources

pytestmark = pytest.mark.skipif(not single_face_sources(), reason="sample_data/photos is not built")


def cli(*args: str | Path) -> tuple[int, str, list[str]]:
    result = invoke(*args)
    return result.exit_code, result.stdout, message_lines(result.stderr)


def indexed_paths(gallery: Path) -> dict[str, int]:
    """Photo path -> faces, for every photo with status indexed (read-only, as a second user)."""
    connection = sqlite3.connect(f"file:{gallery / GALLERY_DB_NAME}?mode=ro", uri=True)
    try:
        return dict(connection.execute("SELECT path, n_faces FROM photos WHERE status = 'indexed'"))
    finally:
        connection.close()


def photos_in_two_parts(tmp_path: Path, first: int, later: int) -> tuple[Path, list[Path]]:
    """A photo folder holding `first` distinct photos, and the `later` ones to move into it."""
    copies = sorted(make_copies(tmp_path / "made", first + later))
    photos = tmp_path / "photos"
    photos.mkdir()
    for copy in copies[:first]:
        copy.rename(photos / copy.name)
    return photos, copies[first:]


def move_into(photos: Path, later: list[Path]) -> None:
    for copy in later:
        copy.rename(photos / copy.name)


def clean_state(photos: Path, tmp_path: Path) -> dict[str, int]:
    """What an index run that meets no fault makes of the same photos."""
    gallery = tmp_path / "clean"
    assert cli("index", photos, "--index", gallery)[0] == 0
    return indexed_paths(gallery)


def assert_carries_on(photos: Path, gallery: Path, clean: dict[str, int]) -> None:
    code, _, errors = cli("index", photos, "--index", gallery)
    assert code == 0, errors
    assert indexed_paths(gallery) == clean
    code, stdout, _ = cli("doctor", "--index", gallery, "--json")
    assert code == 0, stdout


def _mount(*args: str) -> bool:
    try:
        return subprocess.run(["mount", *args], capture_output=True, timeout=30).returncode == 0
    except OSError:
        return False


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or not _mount("-t", "tmpfs", "-o", "size=512k", "tmpfs", str(disk)):
        pytest.skip("this test process may not mount a small file system")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True, timeout=30)


def test_disk_full_in_the_middle_of_index(small_disk: Path, tmp_path: Path) -> None:
    """Real: the gallery's file system has room for the first run and for little more."""
    photos, later = photos_in_two_parts(tmp_path, 8, INDEX_BATCH_SIZE)
    gallery = small_disk / "gallery"
    assert cli("index", photos, "--index", gallery)[0] == 0
    before = indexed_paths(gallery)
    move_into(photos, later)
    # Fill the disk but for room for SQLite's shared-memory file and a few pages more.
    filler = small_disk / "filler"
    room = os.statvfs(small_disk)
    filler.write_bytes(b"\0" * max(0, room.f_bavail * room.f_frsize - 48 * 1024))

    run = subprocess.run(facesim("index", photos, "--index", gallery), capture_output=True, text=True, timeout=600)
    (line,) = message_lines(run.stderr)
    assert run.returncode == 2 and "full" in line and "committed before it is kept" in line, run.stderr
    assert integrity_problems(gallery / GALLERY_DB_NAME) == []
    after = indexed_paths(gallery)
    assert {path: after.get(path) for path in before} == before  # nothing committed was lost

    filler.unlink()
    assert_carries_on(photos, gallery, clean_state(photos, tmp_path))


def test_enospc_at_the_faiss_write(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Injected: every photo is committed, then the FAISS file cannot be written."""
    photos = tmp_path / "photos"
    make_copies(photos, 4)
    gallery = tmp_path / "gallery"
    real_open = builtins.open

    def full_disk(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if "w" in mode and Path(os.fsdecode(file)).name.startswith(f".{GALLERY_VECTORS_NAME}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fsdecode(file))
        return real_open(file, mode, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(builtins, "open", full_disk)
        code, stdout, errors = cli("index", photos, "--index", gallery, "--workers", "1")
    assert (code, stdout, len(errors)) == (2, "", 1), errors
    assert errors[0].startswith("error: the disk is full (No space left on device: ") and "kept" in errors[0]
    assert len(indexed_paths(gallery)) > 0  # SQLite had committed them
    assert not [path.name for path in gallery.iterdir() if path.name.endswith(".tmp")]
    assert_carries_on(photos, gallery, clean_state(photos, tmp_path))


def test_sqlite_full_at_a_batch_commit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Injected into SQLite itself: the gallery may not grow past its size after the first run,
    so the next run's first batch fails inside SQLite as on a full disk."""
    photos, later = photos_in_two_parts(tmp_path, 4, 8)
    gallery = tmp_path / "gallery"
    assert cli("index", photos, "--index", gallery)[0] == 0
    before = indexed_paths(gallery)
    move_into(photos, later)
    real_init = Store.__init__

    def capped(self: Store, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        pages = self.db.execute("PRAGMA page_count").fetchone()[0]
        self.db.execute(f"PRAGMA max_page_count = {pages}")

    with monkeypatch.context() as patch:
        patch.setattr(store_module.Store, "__init__", capped)
        code, stdout, errors = cli("index", photos, "--index", gallery, "--workers", "1")
    assert (code, stdout, len(errors)) == (2, "", 1), errors
    assert errors[0] == (
        "error: the disk holding the gallery is full (database or disk is full); everything committed before "
        "it is kept: free some space, run it again"
    )
    assert indexed_paths(gallery) == before and integrity_problems(gallery / GALLERY_DB_NAME) == []
    assert_carries_on(photos, gallery, clean_state(photos, tmp_path))


@pytest.fixture
def read_only_view(tmp_path: Path) -> Iterator[Callable[[Path], Path]]:
    """A read-only view of a folder: a read-only bind mount for root (whom permissions do not
    stop), the folder itself without write permission for anyone else."""
    mounted: list[Path] = []
    locked: list[tuple[Path, int]] = []

    def make(folder: Path) -> Path:
        if os.geteuid() != 0:
            for path in [folder, *folder.iterdir()]:
                locked.append((path, path.stat().st_mode))
                path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
            return folder
        view = tmp_path / "read-only-view"
        view.mkdir()
        if not _mount("--bind", str(folder), str(view)):
            pytest.skip("this test process may not mount a read-only view")
        mounted.append(view)
        if not _mount("-o", "remount,ro,bind", str(view)):
            pytest.skip("this test process may not remount a view read-only")
        return view

    yield make
    for view in mounted:
        subprocess.run(["umount", "-l", str(view)], capture_output=True, timeout=30)
    for path, mode in reversed(locked):
        path.chmod(mode)


def folder_state(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_a_read_only_gallery_serves_readers_and_writers_refuse(
    read_only_view: Callable[[Path], Path], tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    copies = sorted(make_copies(photos, 6))
    gallery = tmp_path / "gallery"
    assert cli("index", photos, "--index", gallery)[0] == 0
    view = read_only_view(gallery)
    assert not os.access(view, os.W_OK)

    # Never clustered: readers still answer, persons are computed and not stored.
    code, stdout, errors = cli("info", "--index", view, "--json")
    assert code == 0, errors
    assert json.loads(stdout)["photos"] == len(indexed_paths(gallery))
    code, _, errors = cli("clusters", "--index", view)
    assert code == 0 and errors == ["note: persons clustered now and not stored: the gallery is read-only"]

    assert cli("clusters", "--index", gallery)[0] == 0  # stored where it is writable
    person = json.loads(cli("clusters", "--index", gallery, "--min-size", "1", "--json")[1])[0]["id"]
    assert cli("name", person, "Ada", "--index", gallery)[0] == 0
    query = Path(sorted(indexed_paths(gallery))[0])
    state = folder_state(gallery)

    code, stdout, errors = cli("clusters", "--index", view, "--min-size", "1", "--json")
    assert code == 0 and errors == [], errors
    assert any(row["name"] == "Ada" for row in json.loads(stdout))
    code, stdout, errors = cli("photos", "--index", view, "--json")
    assert code == 0 and len(json.loads(stdout)) == len(copies), errors
    code, stdout, errors = cli("match", query, "--index", view, "--top-k", "1", "--json")
    assert code == 0, errors
    assert Path(json.loads(stdout)["faces"][0]["photos"][0]["path"]).name == query.name
    assert cli("doctor", "--index", view)[0] == 0

    writers = [
        ["index", photos],
        ["name", person, "Bea"],
        ["merge", person, person + 1],
        ["forget", copies[0]],
        ["clusters", "--apply"],
        ["doctor", "--repair"],
    ]
    for command in writers:
        code, stdout, errors = cli(*command, "--index", view)
        assert (code, stdout) == (2, ""), command
        assert errors == [
            f"error: {view}: the gallery is read-only here, and this command changes it; copy the gallery folder "
            "somewhere writable and pass that folder as --index"
        ], command
    assert folder_state(gallery) == state

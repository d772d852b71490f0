"""Photos that change under a running `facesim index`: a file truncated by another process
between the scan's stat and the read, a file rewritten while it is being read, a folder (or the
whole root) that disappears mid-run as an unplugged drive does.

The run reports the file and goes on; what it records is true of the bytes it read, so the next
run reads again whatever changed since; and a folder that vanished mid-run is never taken for
deleted photos: nothing indexed from it is marked gone.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import app
from facesim.config import GALLERY_DB_NAME, INDEX_BATCH_SIZE
from index.ingest import examine, indexer
from index.ingest.examine import file_hash
from index.ingest.indexer import index_folder
from index.store.gallery import Gallery

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


def another_process(code: str, *args: str | Path) -> None:
    """Runs `code` in a separate Python process, as another program touching the photos would."""
    subprocess.run([sys.executable, "-c", code, *map(str, args)], check=True, timeout=60)


def distinct_copies(tmp_path: Path, count: int) -> list[Path]:
    """`count` photo files, no two alike (index_runs.make_copies numbers its copies from 0 on
    each call, so two calls would make byte-identical duplicates)."""
    return sorted(make_copies(tmp_path / "made", count))


def move_to(folder: Path, copies: list[Path]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for copy in copies:
        copy.rename(folder / copy.name)


def unplug_after_scan(monkeypatch: pytest.MonkeyPatch, folder: Path, away: Path) -> None:
    """The next run's scan finds `folder`; right after it, the folder is moved to `away`, as an
    unplugged drive leaves a scan that has just listed it."""
    real_scan = indexer.scan_folder

    def unplugged_after_scan(*args: Any, **kwargs: Any) -> Any:
        found = real_scan(*args, **kwargs)
        folder.rename(away)
        monkeypatch.setattr(indexer, "scan_folder", real_scan)
        return found

    monkeypatch.setattr(indexer, "scan_folder", unplugged_after_scan)


def statuses(gallery: Gallery) -> dict[str, str]:
    return {Path(path).name: row.status for path, row in gallery.store.photos_by_path().items()}


def all_read(gallery: Gallery) -> bool:
    """Every photo read and in the gallery (with faces, or without a face the detector finds)."""
    return set(statuses(gallery).values()) <= {"indexed", "no_face"}


def test_a_photo_truncated_between_stat_and_read_is_reported_and_read_again_once_restored(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    copies = sorted(make_copies(photos, 3))
    victim = copies[1]
    original = victim.read_bytes()
    original_stat = victim.stat()
    real_read = examine._hash_as_read
    truncated: list[bool] = []

    def truncated_first(path: str) -> Any:
        if path == str(victim) and not truncated:
            truncated.append(True)
            another_process("import os, sys; os.truncate(sys.argv[1], 300)", victim)
        return real_read(path)

    monkeypatch.setattr(examine, "_hash_as_read", truncated_first)
    with Gallery.open(tmp_path / "gallery") as gallery:
        summary = index_folder(gallery, photos)
        assert [path for path, _ in summary.errors] == [victim]
        assert summary.indexed + summary.no_face == 2  # the run went on
        row = gallery.store.photo(victim)
        # Recorded as what was read: 300 bytes, not the stat the scan took before the cut.
        assert (row.status, row.size) == ("error", 300)

        # Restored from a backup with its old size and date (cp -p): read again, not skipped
        # as a known bad file.
        victim.write_bytes(original)
        os.utime(victim, ns=(original_stat.st_atime_ns, original_stat.st_mtime_ns))
        again = index_folder(gallery, photos)
        assert (again.indexed + again.no_face, again.errors, again.known_errors) == (1, [], [])
        assert statuses(gallery)[victim.name] in ("indexed", "no_face")


def test_a_photo_rewritten_while_it_is_read_is_read_again_by_the_next_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    copies = sorted(make_copies(photos, 3))
    victim, replacement = copies[0], tmp_path / "replacement.jpg"
    shutil.copy2(copies[2], replacement)
    with open(replacement, "ab") as handle:
        handle.write(b"\0" * 64)  # other bytes, still the same picture
    real_open = open
    real_read = examine._hash_as_read
    rewritten: list[bool] = []
    reading: list[bool] = []  # the indexer's read of the photo, not the scan's hash of a new file

    class RewrittenWhileRead:
        """The victim's handle: another process rewrites the file after the first chunk."""

        def __init__(self, handle: Any) -> None:
            self.handle = handle

        def read(self, size: int = -1) -> bytes:
            chunk = self.handle.read(size)
            if not rewritten:
                rewritten.append(True)
                another_process("import shutil, sys; shutil.copyfile(sys.argv[1], sys.argv[2])", replacement, victim)
            return chunk

        def __getattr__(self, name: str) -> Any:
            return getattr(self.handle, name)

        def __enter__(self) -> RewrittenWhileRead:
            return self

        def __exit__(self, *exc_info: object) -> None:
            self.handle.close()

    def watched_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        handle = real_open(file, *args, **kwargs)
        return RewrittenWhileRead(handle) if str(file) == str(victim) and reading and not rewritten else handle

    def read_photo(path: str) -> Any:
        reading.append(True)
        try:
            return real_read(path)
        finally:
            reading.pop()

    with Gallery.open(tmp_path / "gallery") as gallery:
        with monkeypatch.context() as patch:
            patch.setattr(examine, "open", watched_open, raising=False)
            patch.setattr(examine, "_hash_as_read", read_photo)
            summary = index_folder(gallery, photos)
        assert rewritten and [(path, message) for path, message in summary.errors] == [
            (victim, f"{victim}: changed while being read; the next run reads it again")
        ]
        assert summary.indexed + summary.no_face == 2

        again = index_folder(gallery, photos)
        assert again.indexed + again.no_face == 1 and again.errors == []
        row = gallery.store.photo(victim)
        assert row.status in ("indexed", "no_face") and row.content_hash == file_hash(victim)


def test_a_folder_unplugged_between_scan_and_read_keeps_its_photos(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    drive = photos / "drive"
    copies = distinct_copies(tmp_path, 4)
    move_to(drive, copies[:2])
    move_to(photos / "local", copies[2:])
    with Gallery.open(tmp_path / "gallery") as gallery:
        index_folder(gallery, photos)
        for copy in sorted(drive.iterdir()):  # changed since: this run must read them
            copy.write_bytes(copy.read_bytes() + b"\0")
        unplug_after_scan(monkeypatch, drive, tmp_path / "away")
        summary = index_folder(gallery, photos)
        assert summary.gone == 0 and summary.unreadable == [(drive, f"{drive}: disappeared during the run")]
        assert all_read(gallery)

        (tmp_path / "away").rename(drive)
        again = index_folder(gallery, photos)
        assert again.indexed + again.no_face == 2 and all_read(gallery)


def test_a_folder_unplugged_between_hash_and_decode_is_not_recorded_as_a_bad_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The drive goes after the photo's bytes were hashed and before they were decoded: the
    photo is reported, not recorded as a known-bad file that the next run would skip."""
    photos = tmp_path / "photos"
    drive = photos / "drive"
    copies = distinct_copies(tmp_path, 3)
    move_to(drive, copies[:1])
    move_to(photos / "local", copies[1:])
    victim = drive / copies[0].name
    real_read = examine._hash_as_read

    def unplugged_after_hash(path: str) -> Any:
        read = real_read(path)
        if path == str(victim):
            drive.rename(tmp_path / "away")
        return read

    with Gallery.open(tmp_path / "gallery") as gallery:
        with monkeypatch.context() as patch:
            patch.setattr(examine, "_hash_as_read", unplugged_after_hash)
            summary = index_folder(gallery, photos)
        assert [path for path, _ in summary.errors] == [victim] and summary.gone == 0
        assert gallery.store.photo(victim) is None and all_read(gallery)

        (tmp_path / "away").rename(drive)
        again = index_folder(gallery, photos)
        assert (again.indexed + again.no_face, again.known_errors) == (1, []) and all_read(gallery)


def test_a_root_unplugged_between_scan_and_read_stops_the_run_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cli_runner: CliRunner
) -> None:
    photos = tmp_path / "photos"
    copies = distinct_copies(tmp_path, 4)
    move_to(photos, copies[:2])
    gallery = tmp_path / "gallery"
    assert cli_runner.invoke(app, ["index", str(photos), "--index", str(gallery)]).exit_code == 0
    move_to(photos / "new", copies[2:])
    unplug_after_scan(monkeypatch, photos, tmp_path / "away")
    result = cli_runner.invoke(app, ["index", str(photos), "--index", str(gallery)])
    assert (result.exit_code, result.stdout) == (2, "")
    assert message_lines(result.stderr) == [
        f"error: {photos}: disappeared during the run (an unplugged drive?); everything committed so far is kept "
        "and nothing was marked gone; run again once it is back"
    ]
    with Gallery.open(gallery, create=False) as opened:
        assert all_read(opened) and len(statuses(opened)) == 2


def test_a_root_unplugged_mid_run_keeps_every_commit_and_marks_nothing_gone(
    tmp_path: Path, cli_runner: CliRunner
) -> None:
    """A real indexer, frozen after its first commit while its folder is taken away."""
    photos = tmp_path / "photos"
    copies = distinct_copies(tmp_path, 4 + 2 * INDEX_BATCH_SIZE)
    move_to(photos / "earlier", copies[:4])
    gallery = tmp_path / "gallery"
    assert cli_runner.invoke(app, ["index", str(photos), "--index", str(gallery)]).exit_code == 0
    move_to(photos / "later", copies[4:])
    db = gallery / GALLERY_DB_NAME
    log = tmp_path / "logs" / "index"
    run = start(facesim("index", photos, "--index", gallery, "--workers", "1"), log)
    assert wait_until(run, db, lambda now: now.photos > 4) is not None, stderr_of(log)
    os.kill(run.pid, signal.SIGSTOP)
    frozen = snapshot(db)
    photos.rename(tmp_path / "away")
    os.kill(run.pid, signal.SIGCONT)
    assert run.wait(timeout=600) == 2
    (line,) = message_lines(stderr_of(log))
    assert "disappeared during the run" in line and "nothing was marked gone" in line
    after = snapshot(db)
    assert after.photos >= frozen.photos and integrity_problems(db) == []
    with Gallery.open(gallery, create=False) as opened:
        assert opened.store.status_counts()["gone"] == 0

    (tmp_path / "away").rename(photos)
    assert cli_runner.invoke(app, ["index", str(photos), "--index", str(gallery)]).exit_code == 0
    with Gallery.open(gallery, create=False) as opened:
        assert all_read(opened) and len(statuses(opened)) == 4 + 2 * INDEX_BATCH_SIZE

"""The CLI's safety net (cli.user_errors) for failures nobody planned for, and permission-denied
files checked by injecting EACCES at open, since chmod 000 stops no one when CI runs as root."""

from __future__ import annotations

import builtins
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from facesim import pipeline
from index.store.gallery import Gallery

from support.bad_inputs import FACE_PHOTO
from support.sample_gallery import REPO


@pytest.fixture
def main_face_raises(monkeypatch: pytest.MonkeyPatch):
    """Makes every photo fail with the given exception, deep inside a command."""

    def arm(exc: BaseException) -> None:
        def fail(*args: object, **kwargs: object) -> None:
            raise exc

        monkeypatch.setattr(pipeline, "locate_faces", fail)  # verify's and match's way in

    return arm


@pytest.fixture
def denied(monkeypatch: pytest.MonkeyPatch):
    """Makes open() of the given paths fail as for a file this user may not read (EACCES)."""
    refused: set[str] = set()
    real_open = builtins.open

    def guarded_open(file, *args, **kwargs):
        if isinstance(file, (str, bytes, os.PathLike)) and os.fsdecode(file) in refused:
            raise OSError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    return lambda path: refused.add(str(path))


def test_an_unexpected_exception_is_one_line_and_exit_1(
    main_face_raises, monkeypatch: pytest.MonkeyPatch, cli_runner: CliRunner
) -> None:
    monkeypatch.delenv("FACESIM_DEBUG", raising=False)
    main_face_raises(RuntimeError("the encoder fell over"))
    result = cli_runner.invoke(app, ["verify", "a.jpg", "b.jpg"])
    assert result.exit_code == 1 and result.stdout == ""
    assert isinstance(result.exception, SystemExit)  # ended by the CLI, not escaped from it
    assert result.stderr == "error: unexpected RuntimeError: the encoder fell over (FACESIM_DEBUG=1 shows details)\n"


def test_a_multi_line_exception_message_still_prints_one_line(main_face_raises, cli_runner: CliRunner) -> None:
    main_face_raises(ValueError("first line\n  second line\nthird"))
    result = cli_runner.invoke(app, ["verify", "a.jpg", "b.jpg"])
    assert result.exit_code == 1
    assert result.stderr == "error: unexpected ValueError: first line (FACESIM_DEBUG=1 shows details)\n"


def test_facesim_debug_lets_the_exception_through(
    main_face_raises, monkeypatch: pytest.MonkeyPatch, cli_runner: CliRunner
) -> None:
    monkeypatch.setenv("FACESIM_DEBUG", "1")
    boom = RuntimeError("the encoder fell over")
    main_face_raises(boom)
    result = cli_runner.invoke(app, ["verify", "a.jpg", "b.jpg"])
    assert result.exception is boom and result.stderr == ""


def test_interrupt_keeps_the_work_and_exits_130(main_face_raises, cli_runner: CliRunner) -> None:
    main_face_raises(KeyboardInterrupt())
    result = cli_runner.invoke(app, ["verify", "a.jpg", "b.jpg"])
    assert result.exit_code == 130 and isinstance(result.exception, SystemExit)
    assert result.stderr == "interrupted: everything committed so far is kept; run again to resume\n"


def test_a_real_process_hides_the_traceback_of_an_unexpected_exception() -> None:
    """What a user's terminal shows: typer's own exception printing is off, so stderr is only ours.
    Run from the checkout, so that `import cli` is the code under test, not an installed copy."""
    script = (
        "import sys, cli, facesim.pipeline\n"
        "def fail(*args, **kwargs):\n"
        "    raise RuntimeError('the encoder fell over')\n"
        "facesim.pipeline.locate_faces = fail\n"
        "sys.argv = ['facesim', 'verify', 'a.jpg', 'b.jpg']\n"
        "cli.app()\n"
    )
    environment = {key: value for key, value in os.environ.items() if key != "FACESIM_DEBUG"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO, env=environment
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == "error: unexpected RuntimeError: the encoder fell over (FACESIM_DEBUG=1 shows details)\n"


def test_verify_of_an_unreadable_photo_is_one_line(denied, cli_runner: CliRunner) -> None:
    denied(FACE_PHOTO)
    result = cli_runner.invoke(app, ["verify", str(FACE_PHOTO), "other.jpg"])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == f"error: {FACE_PHOTO}: permission denied\n"


def test_match_of_an_unreadable_photo_is_one_line(denied, tmp_path: Path, cli_runner: CliRunner) -> None:
    Gallery.open(tmp_path / "g").close()
    denied(FACE_PHOTO)
    result = cli_runner.invoke(app, ["match", str(FACE_PHOTO), "--index", str(tmp_path / "g")])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == f"error: {FACE_PHOTO}: permission denied\n"


def test_index_records_an_unreadable_photo_and_carries_on(denied, tmp_path: Path, cli_runner: CliRunner) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    locked = photos / "locked.jpg"
    locked.write_bytes(FACE_PHOTO.read_bytes())
    denied(locked)
    result = cli_runner.invoke(app, ["index", str(photos), "--index", str(tmp_path / "g"), "--json"])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["indexed"], summary["faces"]) == (0, 0)
    assert [error["error"] for error in summary["errors"]] == [f"{locked}: cannot read (Permission denied)"]

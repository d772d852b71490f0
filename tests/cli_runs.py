"""The CLI run in-process, as the persons and output tests drive it."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cli import app

runner = CliRunner()


def run(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def run_json(*args: str | Path) -> object:
    code, stdout, stderr = run(*args, "--json")
    assert code == 0, stderr
    return json.loads(stdout)

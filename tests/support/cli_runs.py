"""The CLI run in-process through one `CliRunner`, which the tests share (conftest's `cli_runner`
hands the same one to a test): a runner holds no state between calls, so one is enough."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner, Result

from cli import app

runner = CliRunner()


def invoke(*args: str | Path) -> Result:
    """`facesim ARGS...` in this process; paths may be given as they are."""
    return runner.invoke(app, [str(a) for a in args])


def run(*args: str | Path) -> tuple[int, str, str]:
    result = invoke(*args)
    return result.exit_code, result.stdout, result.stderr


def run_json(*args: str | Path) -> object:
    code, stdout, stderr = run(*args, "--json")
    assert code == 0, stderr
    return json.loads(stdout)


def answers_of(stdout: str) -> list[dict]:
    """`match --json` prints one JSON object per query photo, one per line."""
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def photo_rows(answers: list[dict]) -> list[dict]:
    """Every listed photo of every query face, with the query face it answers."""
    return [
        {**photo, "query": answer["query"], "query_faces": answer["query_faces"], **_query_face(face)}
        for answer in answers
        for face in answer["faces"]
        for photo in face["photos"]
    ]


def _query_face(face: dict) -> dict:
    return {"query_face": face["query_face"], "query_box": face["query_box"]}


def match_rows(*args: str | Path) -> list[dict]:
    code, stdout, stderr = run("match", *args, "--json")
    assert code == 0, stderr
    return photo_rows(answers_of(stdout))

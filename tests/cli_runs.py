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

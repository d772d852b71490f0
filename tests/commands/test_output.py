"""Output that scripts can trust: no wrapping when piped, absolute paths, one box shape, info and
doctor agreeing, and the small commands and messages scripts lean on."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from facesim import __version__
from facesim.model_card import model_id

from support.cli_runs import match_rows, run, run_json
from support.sample_gallery import REPO, SAMPLE_DATA, SAMPLE_PHOTOS

PHOTOS = ("Salma_Hayek_0001.jpg", "Salma_Hayek_0002.jpg", "group_01.jpg", "no_face.jpg", "bad_text.png")
GROUP_FACES = len(json.loads((SAMPLE_DATA / "groups.json").read_text())["group_01.jpg"]["people"])


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """A few photos under a path far longer than a terminal is wide."""
    photos = tmp_path_factory.mktemp("out") / ("a_folder_name_long_enough_to_wrap_" * 4) / "photos"
    photos.mkdir(parents=True)
    for name in PHOTOS:
        shutil.copy2(SAMPLE_PHOTOS / name, photos / name)
    index_dir = photos.parent / "gallery"
    summary = run_json("index", photos, "--index", index_dir)
    assert run("clusters", "--index", index_dir)[0] == 0
    return photos, index_dir, summary


def test_piped_output_is_never_wrapped(gallery):
    photos, index_dir, _ = gallery
    query = photos / "Salma_Hayek_0001.jpg"
    done = subprocess.run(
        [sys.executable, "-m", "cli", "match", query, "--index", index_dir, "--top-k", "3"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [line for line in done.stdout.splitlines() if str(photos) in line and "│" in line]  # table rows
    assert len(rows) == 3 and any(str(query) in row for row in rows)
    done = subprocess.run(
        [sys.executable, "-m", "cli", "index", photos, "--index", index_dir], cwd=REPO, capture_output=True, text=True
    )
    first, second = done.stdout.splitlines()
    assert first.startswith("photos 5:") and first.endswith("1 bad file from earlier runs")
    assert second.startswith(f"gallery {index_dir}:")


def test_json_paths_are_absolute_and_boxes_one_shape(gallery, monkeypatch):
    photos, index_dir, summary = gallery
    assert [Path(error["path"]) for error in summary["errors"]] == [photos / "bad_text.png"]
    assert summary["gallery"]["path"] == str(index_dir) and summary["gallery"]["photos"] == 3
    monkeypatch.chdir(photos.parent)
    relative_index = index_dir.name
    hits = match_rows("photos/group_01.jpg", "--index", relative_index)
    assert hits and all(Path(hit["path"]).is_absolute() and hit["path"].startswith(str(photos)) for hit in hits)
    assert all(len(hit["box"]) == len(hit["query_box"]) == 4 for hit in hits)
    assert {hit["query_faces"] for hit in hits} == {GROUP_FACES} and all(hit["other_paths"] == [] for hit in hits)
    persons = run_json("clusters", "--index", relative_index, "--min-size", "1")
    faces = [face for person in persons for face in person["faces"]]
    assert all(Path(face["photo_path"]).is_absolute() for face in faces)
    assert all(isinstance(face["box"], list) and len(face["box"]) == 4 for face in faces)
    assert run_json("info", "--index", relative_index)["index_path"] == str(index_dir)
    listed = run_json("photos", "--index", relative_index)
    assert sorted(Path(photo["path"]) for photo in listed) == sorted(photos / name for name in PHOTOS)


def test_info_and_doctor_agree_and_info_text_is_words(gallery):
    _, index_dir, _ = gallery
    info = run_json("info", "--index", index_dir)
    code, stdout, _ = run("doctor", "--index", index_dir, "--json")
    doctor = json.loads(stdout)
    assert code == 0
    for key in ("photos", "faces", "photo_status"):
        assert info[key] == doctor[key], key
    assert info["photo_status"] == {"indexed": 3, "no_face": 1, "error": 1, "gone": 0}
    code, stdout, _ = run("info", "--index", index_dir)
    assert code == 0 and "{" not in stdout and "'" not in stdout
    assert "photo status: 3 indexed, 1 without a face, 1 error, 0 gone" in stdout
    assert "3 photos, " in stdout and " persons" in stdout and "clusters" not in stdout


def test_clusters_output_without_export_is_an_error(gallery, tmp_path):
    _, index_dir, _ = gallery
    code, stdout, stderr = run("clusters", "--index", index_dir, "-o", tmp_path / "people.csv")
    assert code == 2 and len(stderr.strip().splitlines()) == 1 and "--export" in stderr
    assert not (tmp_path / "people.csv").exists() and stdout == ""


def test_version_names_package_and_model() -> None:
    code, stdout, _ = run("--version")
    assert code == 0 and stdout.strip() == f"facesim {__version__}, model {model_id()}"


def test_rerun_reports_the_bad_files_that_remain(gallery):
    photos, index_dir, _ = gallery
    again = run_json("index", photos, "--index", index_dir)
    assert again["errors"] == [] and [Path(e["path"]) for e in again["known_errors"]] == [photos / "bad_text.png"]
    code, _, stderr = run("index", photos, "--index", index_dir)
    assert code == 0 and "still bad" in stderr and "bad_text.png" in stderr


def test_photos_without_a_face_can_be_listed(gallery):
    photos, index_dir, _ = gallery
    code, stdout, _ = run("photos", "--index", index_dir, "--status", "no_face")
    assert code == 0 and stdout.splitlines() == [str(photos / "no_face.jpg")]
    assert [p["path"] for p in run_json("photos", "--index", index_dir, "--status", "error")] == [
        str(photos / "bad_text.png")
    ]
    code, stdout, _ = run("photos", "--index", index_dir, "--status", "error")
    (path, error) = stdout.strip().split("\t")  # the path once, then what is wrong with it
    assert path == str(photos / "bad_text.png") and error and path not in error
    code, _, stderr = run("photos", "--index", index_dir, "--status", "faceless")
    assert code == 2 and len(stderr.strip().splitlines()) == 1


def test_match_says_how_many_faces_the_query_has_and_which_was_searched(gallery):
    photos, index_dir, _ = gallery
    code, _, stderr = run("match", photos / "group_01.jpg", "--index", index_dir)
    assert code == 0 and f"shows {GROUP_FACES} faces; searched the largest, box" in stderr
    code, _, stderr = run("match", photos / "Salma_Hayek_0001.jpg", "--index", index_dir)
    assert code == 0 and "faces" not in stderr


def test_a_narrow_terminal_breaks_the_summary_between_phrases_only(monkeypatch):
    from rich.console import Console

    import cli_output

    phrases = ["44 indexed", "51 faces", "0 unchanged", "1 without a face", "3 errors", "1 duplicate"]
    for width in range(20, 90, 7):
        terminal = Console(force_terminal=True, width=width, highlight=False, record=True)
        monkeypatch.setattr(cli_output, "out", terminal)
        cli_output.print_phrases("photos 48: ", phrases)
        lines = terminal.export_text().splitlines()
        text = " ".join(lines).removeprefix("photos 48:")
        assert [piece.strip() for piece in text.split(",")] == phrases, width
        pieces = [piece.strip() for line in lines for piece in line.removeprefix("photos 48:").split(",")]
        assert [piece for piece in pieces if piece] == phrases, width  # no phrase is cut across two lines
        assert all(len(line) <= width for line in lines if line.count(",") > 1), width


def test_the_query_photo_is_marked_as_itself(gallery):
    photos, index_dir, _ = gallery
    query = photos / "Salma_Hayek_0001.jpg"
    hits = match_rows(query, "--index", index_dir, "--top-k", "3")
    assert [hit["query_photo"] for hit in hits] == [Path(hit["path"]) == query for hit in hits]
    assert sum(hit["query_photo"] for hit in hits) == 1
    code, stdout, _ = run("match", query, "--index", index_dir, "--top-k", "3")
    assert code == 0 and stdout.count("(the query photo)") == 1


def test_verify_on_a_group_photo_points_at_all_faces(gallery):
    photos, _, _ = gallery
    code, stdout, _ = run("verify", photos / "group_01.jpg", photos / "Salma_Hayek_0001.jpg")
    assert code == 0 and f"shows {GROUP_FACES} faces; compared the largest" in stdout
    assert "(--all-faces compares every face)" in stdout
    code, stdout, _ = run("verify", photos / "group_01.jpg", photos / "Salma_Hayek_0001.jpg", "--all-faces")
    assert code == 0 and "compared the closest" in stdout and "--all-faces" not in stdout


@pytest.mark.parametrize("command", [[], ["name"], ["move"], ["reject"], ["clusters"]])
def test_help_shows_no_python_types_and_no_braces(command):
    code, stdout, _ = run(*command, "--help")
    assert code == 0 and "<bool>" not in stdout and "<str>" not in stdout and "{" not in stdout

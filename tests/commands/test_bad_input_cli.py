"""Every odd input from bad_inputs through the real command line: `verify` and `match` refuse a bad
file with one line naming it, accept an odd but valid picture, and `index` over a folder of all
of them records each failure, carries on, counts it, and does not retry it until asked.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from facesim.images import supported_suffixes
from index.ingest import examine, indexer
from index.store.gallery import Gallery

from support.bad_inputs import FACE_PHOTO, LOADED, NON_UTF8_NAME, REFUSED, make_bad_corpus
from support.index_runs import facesim, message_lines
from support.indexed_sample import IndexedSample

# chmod 000 stops everyone but root, and CI may run as root.
UNREADABLE = "unreadable"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_bad_corpus(tmp_path_factory.mktemp("corpus") / "photos")


@pytest.fixture(scope="module")
def gallery(indexed_sample: IndexedSample) -> Path:
    """A healthy gallery for `match` to search: the session's sample gallery, only read here."""
    return indexed_sample.gallery


def refused(corpus: dict[str, Path]) -> dict[str, str]:
    """REFUSED, plus the unreadable entry where this user really cannot read it."""
    if os.access(corpus[UNREADABLE], os.R_OK):
        return REFUSED
    return {**REFUSED, UNREADABLE: "permission denied"}


def entry(corpus: dict[str, Path], key: str) -> Path:
    if key not in corpus:
        pytest.skip(f"this file system cannot hold the {key!r} entry")
    return corpus[key]


def assert_one_line_refusal(result, path: Path, reason: str) -> None:
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: ") and path.name in result.stderr and reason in result.stderr


def test_every_corpus_entry_has_an_expectation(corpus: dict[str, Path]) -> None:
    assert set(corpus) <= set(REFUSED) | set(LOADED) | {UNREADABLE}


@pytest.mark.parametrize("key", sorted(REFUSED) + [UNREADABLE])
def test_verify_and_match_refuse_a_bad_file_in_one_line(
    corpus: dict[str, Path], gallery: Path, key: str, cli_runner: CliRunner
) -> None:
    reason = refused(corpus).get(key)
    if reason is None:
        pytest.skip("running as root: chmod 000 does not stop this user reading the file")
    path = corpus[key]
    assert_one_line_refusal(cli_runner.invoke(app, ["verify", str(path), str(FACE_PHOTO)]), path, reason)
    assert_one_line_refusal(cli_runner.invoke(app, ["verify", str(FACE_PHOTO), str(path)]), path, reason)
    assert_one_line_refusal(cli_runner.invoke(app, ["match", str(path), "--index", str(gallery)]), path, reason)


@pytest.mark.parametrize("key", [*LOADED, UNREADABLE])
def test_verify_and_match_accept_an_odd_but_valid_picture(
    corpus: dict[str, Path], gallery: Path, key: str, cli_runner: CliRunner
) -> None:
    path = entry(corpus, key)
    if key in refused(corpus):
        pytest.skip("not running as root: this file really is unreadable")
    for args in (["verify", str(path), str(FACE_PHOTO), "--json"], ["match", str(path), "--index", str(gallery)]):
        result = cli_runner.invoke(app, args)
        if result.exit_code != 0:  # allowed, but only as a clean "no face"
            assert result.exit_code == 2 and "no face" in result.stderr and result.stderr.count("\n") == 1
        elif args[0] == "verify":
            assert {"distance", "threshold", "same_person"} <= set(json.loads(result.stdout))


def test_a_real_process_refuses_without_a_traceback(corpus: dict[str, Path], gallery: Path) -> None:
    """CliRunner catches what escapes; only a real process shows what a user would see."""
    for path, args in (
        (corpus["truncated"], ("verify", corpus["truncated"], FACE_PHOTO)),
        (corpus["png_bomb"], ("match", corpus["png_bomb"], "--index", gallery)),
    ):
        done = subprocess.run(facesim(*args), capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and done.stdout == "" and "Traceback" not in done.stderr
        assert done.stderr.count("\n") == 1 and path.name in done.stderr


def test_a_real_process_names_a_non_utf8_file_it_refuses(tmp_path: Path) -> None:
    name = NON_UTF8_NAME.replace(b".jpg", b"_notes.jpg")
    try:
        (tmp_path / os.fsdecode(name)).write_text("not a photo")
    except OSError:
        pytest.skip("this file system cannot hold a non-UTF-8 name")
    done = subprocess.run(facesim("verify", tmp_path / os.fsdecode(name), FACE_PHOTO), capture_output=True, timeout=120)
    assert done.returncode == 2 and b"Traceback" not in done.stderr
    assert done.stderr.count(b"\n") == 1 and b"caf\\xe9_notes.jpg: not an image" in done.stderr


def test_a_folder_given_to_verify_is_refused(tmp_path: Path, cli_runner: CliRunner) -> None:
    for args in (["verify", str(tmp_path), str(FACE_PHOTO)], ["verify", str(FACE_PHOTO), str(tmp_path)]):
        assert_one_line_refusal(cli_runner.invoke(app, args), tmp_path, "is a folder")


def test_index_of_one_photo_indexes_just_that_photo(
    tmp_path: Path, corpus: dict[str, Path], cli_runner: CliRunner
) -> None:
    gallery = tmp_path / "g"
    good = cli_runner.invoke(app, ["index", str(FACE_PHOTO), "--index", str(gallery), "--json"])
    assert good.exit_code == 0, good.stderr
    assert (json.loads(good.stdout)["photos_seen"], json.loads(good.stdout)["indexed"]) == (1, 1)
    bad = cli_runner.invoke(app, ["index", str(corpus["truncated"]), "--index", str(gallery), "--json"])
    assert bad.exit_code == 0, bad.stderr
    assert [Path(error["path"]).name for error in json.loads(bad.stdout)["errors"]] == ["truncated.jpg"]
    with Gallery.open(gallery, create=False) as opened:
        assert sorted(opened.store.photos_by_path()) == sorted([str(FACE_PHOTO), str(corpus["truncated"])])
    if "non_utf8_name" in corpus:  # a root that is not UTF-8 is recorded with its run too
        odd = cli_runner.invoke(app, ["index", str(corpus["non_utf8_name"]), "--index", str(gallery), "--json"])
        # The same bytes as FACE_PHOTO are another location of that photo, not a photo of their own.
        same = corpus["non_utf8_name"].read_bytes() == FACE_PHOTO.read_bytes()
        assert odd.exit_code == 0 and json.loads(odd.stdout)["duplicates" if same else "indexed"] == 1, odd.stderr
        with Gallery.open(gallery, create=False) as opened:
            assert opened.store.last_run()["root"] == str(corpus["non_utf8_name"])
        assert cli_runner.invoke(app, ["doctor", "--index", str(gallery)]).exit_code == 0
    dangling = cli_runner.invoke(app, ["index", str(corpus["broken_symlink"]), "--index", str(gallery)])
    (message,) = message_lines(dangling.stderr)
    assert dangling.exit_code == 2 and "no such file" in message


def test_index_over_the_whole_corpus_records_counts_and_skips_bad_files(
    corpus: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli_runner: CliRunner
) -> None:
    folder = corpus["empty"].parent
    gallery = tmp_path / "g"
    first = cli_runner.invoke(app, ["index", str(folder), "--index", str(gallery), "--json"])
    assert first.exit_code == 0, first.stderr
    summary = json.loads(first.stdout)
    reported = {Path(error["path"]).name: error["error"] for error in summary["errors"]}

    bad_files = {key: reason for key, reason in refused(corpus).items() if corpus[key].is_file()}
    dead_links = {path.name for path in folder.iterdir() if path.is_symlink() and not path.exists()}
    assert set(reported) == {corpus[key].name for key in bad_files} | dead_links
    for key, reason in bad_files.items():
        assert reason in reported[corpus[key].name]

    with Gallery.open(gallery, create=False) as opened:
        rows = {Path(path).name: row for path, row in opened.store.photos_by_path().items()}
        by_id = {row.id: row for row in rows.values()}
        # byte-identical copies (several entries hold the face photo's bytes) are one photo
        copies = {Path(path).name: by_id[place.photo_id] for path, place in opened.store.locations().items()}
    for key, reason in bad_files.items():  # recorded, with the message shown
        row = rows[corpus[key].name]
        assert row.status == "error" and reason in row.error
    indexable = [key for key in corpus if key not in refused(corpus) and corpus[key].suffix in supported_suffixes()]
    for key in indexable:  # the run went on past every bad file
        assert {**rows, **copies}[corpus[key].name].status in ("indexed", "no_face"), key
    assert len(rows) + len(copies) == len(bad_files) + len(indexable)
    assert summary["indexed"] + summary["no_face"] + summary["duplicates"] == len(indexable)
    assert summary["duplicates"] == len(copies) > 0
    assert summary["photos_seen"] == len(rows) + len(copies)

    real_hash, real_read = indexer.file_hash, examine._hash_as_read
    read: list[str] = []
    # A known photo is hashed as it is read (_hash_as_read); a path new to the gallery, first by file_hash.
    monkeypatch.setattr(indexer, "file_hash", lambda path: read.append(Path(path).name) or real_hash(path))
    monkeypatch.setattr(examine, "_hash_as_read", lambda path: read.append(Path(path).name) or real_read(path))
    # One process, so the hashing this test watches happens where it can see it.
    rerun = ["index", str(folder), "--index", str(gallery), "--json", "--workers", "1"]
    again = json.loads(cli_runner.invoke(app, rerun).stdout)
    assert read == [] and again["unchanged"] == len(rows) + len(copies)
    assert {Path(error["path"]).name for error in again["errors"]} == dead_links  # links are re-reported, unread

    retried = json.loads(cli_runner.invoke(app, [*rerun, "--retry-errors"]).stdout)
    # Each bad file is read again, but an empty one: its size alone says it is no photo.
    assert sorted(read) == sorted(corpus[key].name for key in bad_files if corpus[key].stat().st_size)
    assert {Path(error["path"]).name for error in retried["errors"]} == set(reported)

    if "non_utf8_name" in corpus:  # stored losslessly and found again by its real name
        assert rows[corpus["non_utf8_name"].name].status == "indexed"
    assert cli_runner.invoke(app, ["doctor", "--index", str(gallery)]).exit_code == 0

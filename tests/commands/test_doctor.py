"""`facesim doctor`: each kind of damage is found, counted and explained; --repair fixes what
SQLite alone can fix and says what to run for the rest; the photos are never touched.

Galleries are built with the real indexer on a few sample photos, then damaged on purpose.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from facesim.config import GALLERY_DB_NAME, GALLERY_VECTORS_NAME
from index.doctor import MAX_EXAMPLES
from index.ingest.indexer import index_folder
from index.store.gallery import Gallery
from index.store.vectors import VectorIndex

from support.cli_runs import invoke
from support.sample_gallery import SAMPLE_PHOTOS

PHOTOS = ("Salma_Hayek_0001.jpg", "Jiang_Zemin_0001.jpg", "group_01.jpg", "no_face.jpg", "bad_text.png")


@pytest.fixture
def indexed(tmp_path: Path) -> tuple[Path, Path]:
    """(gallery folder, photo folder): a finished run over faces, a group, no face and a bad file."""
    if not (SAMPLE_PHOTOS / "no_face.jpg").is_file():
        pytest.skip("sample_data/photos is not built")
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in PHOTOS:
        shutil.copy2(SAMPLE_PHOTOS / name, photos / name)
    with Gallery.open(tmp_path / "g") as gallery:
        index_folder(gallery, photos)
    return tmp_path / "g", photos


def doctor(gallery: Path, *flags: str) -> tuple[int, dict[str, Any]]:
    result = invoke("doctor", "--index", gallery, "--json", *flags)
    assert result.exit_code in (0, 1), result.stderr
    return result.exit_code, json.loads(result.stdout)


def kinds(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {problem["kind"]: problem for problem in report["problems"]}


def photo_state(photos: Path) -> dict[str, tuple[bytes, int]]:
    return {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in sorted(photos.iterdir())}


def faiss_matches_sqlite(gallery_dir: Path) -> bool:
    with Gallery.open(gallery_dir, create=False) as gallery:
        loaded = VectorIndex.load(gallery.vectors_path)
        return loaded is not None and loaded[0].ids().tolist() == gallery.store.face_ids().tolist()


def test_a_healthy_gallery_passes(indexed: tuple[Path, Path], cli_runner: CliRunner) -> None:
    gallery_dir, _ = indexed
    code, report = doctor(gallery_dir)
    assert (code, report["healthy"], report["problems"], report["repaired"]) == (0, True, [], [])
    with Gallery.open(gallery_dir, create=False) as gallery:
        assert report["photos"] == 3 and report["faces"] == gallery.store.face_count() > 0
    assert report["photo_status"] == {"indexed": 3, "no_face": 1, "error": 1, "gone": 0}
    text = cli_runner.invoke(app, ["doctor", "--index", str(gallery_dir)])
    assert text.exit_code == 0 and text.stdout.rstrip().endswith("healthy")


def test_missing_photo_is_reported_then_marked_gone_by_repair(
    indexed: tuple[Path, Path], cli_runner: CliRunner
) -> None:
    gallery_dir, photos = indexed
    victim = photos / PHOTOS[0]
    victim.unlink()
    untouched = photo_state(photos)

    code, report = doctor(gallery_dir)
    assert code == 1 and set(kinds(report)) == {"missing_photos"}
    assert kinds(report)["missing_photos"]["examples"] == [str(victim)]
    text = cli_runner.invoke(app, ["doctor", "--index", str(gallery_dir)]).stdout
    assert "problem: 1 photos missing from disk" in text and victim.name in text and "--repair" in text

    code, report = doctor(gallery_dir, "--repair")
    assert code == 0 and report["healthy"]
    assert report["repaired"][0] == "marked 1 missing photos gone" and "rebuilt" in report["repaired"][-1]
    with Gallery.open(gallery_dir, create=False) as gallery:
        row = gallery.store.photo(victim)
        assert (row.status, gallery.store.faces_of(row.id)) == ("gone", [])
    assert faiss_matches_sqlite(gallery_dir)
    assert photo_state(photos) == untouched


def test_a_whole_missing_folder_is_not_marked_gone_by_repair(indexed: tuple[Path, Path]) -> None:
    """An unplugged drive looks like every photo deleted at once; its faces (and the names given
    to their persons) must survive until the user says the folder is really gone."""
    gallery_dir, photos = indexed
    with Gallery.open(gallery_dir, create=False) as gallery:
        faces = gallery.store.face_ids().tolist()
    photos.rename(photos.with_name("unplugged"))

    code, report = doctor(gallery_dir, "--repair")
    assert code == 1 and report["repaired"] == [] and set(kinds(report)) == {"missing_folders"}
    finding = kinds(report)["missing_folders"]
    assert finding["count"] == len(PHOTOS) and f"facesim index {photos} --index {gallery_dir}" in finding["advice"]
    with Gallery.open(gallery_dir, create=False) as gallery:
        assert gallery.store.face_ids().tolist() == faces
        assert gallery.store.status_counts()["gone"] == 0

    photos.mkdir()  # gone for good: the advice's way to say so
    with Gallery.open(gallery_dir) as gallery:
        index_folder(gallery, photos)
        assert gallery.store.status_counts()["gone"] == len(PHOTOS)
    assert doctor(gallery_dir)[0] == 0


def test_changed_photo_is_reported_a_touched_one_is_not_and_repair_leaves_both(indexed: tuple[Path, Path]) -> None:
    gallery_dir, photos = indexed
    changed, touched = photos / PHOTOS[0], photos / PHOTOS[1]
    changed.write_bytes((SAMPLE_PHOTOS / "Salma_Hayek_0002.jpg").read_bytes())
    later = touched.stat().st_mtime_ns + 5_000_000_000
    os.utime(touched, ns=(later, later))
    before = photo_state(photos)

    code, report = doctor(gallery_dir)
    assert code == 1 and set(kinds(report)) == {"changed_photos"}
    finding = kinds(report)["changed_photos"]
    assert finding["examples"] == [str(changed)]
    assert f"facesim index {photos} --index {gallery_dir}" in finding["advice"]

    code, report = doctor(gallery_dir, "--repair")
    assert code == 1 and report["repaired"] == [] and set(kinds(report)) == {"changed_photos"}
    assert photo_state(photos) == before

    with Gallery.open(gallery_dir) as gallery:
        index_folder(gallery, photos)  # what the advice says to run
    assert doctor(gallery_dir)[0] == 0


@pytest.mark.parametrize("damage", ["orphans", "lacking", "damaged", "deleted", "other_model"])
def test_faiss_out_of_step_with_sqlite_is_found_and_rebuilt(
    indexed: tuple[Path, Path], damage: str, cli_runner: CliRunner
) -> None:
    gallery_dir, _ = indexed
    with Gallery.open(gallery_dir, create=False) as gallery:
        ids, vectors = gallery.store.face_vectors()
        model = gallery.model_id
    path = gallery_dir / GALLERY_VECTORS_NAME
    expected = {
        "orphans": "orphan_vectors",
        "lacking": "missing_vectors",
        "damaged": "vector_file",
        "deleted": "vector_file",
        "other_model": "vector_file",
    }[damage]
    if damage == "orphans":
        extra = 7
        fake_ids = np.arange(extra, dtype=np.int64) + int(ids.max()) + 1000
        VectorIndex.build(np.concatenate([ids, fake_ids]), np.vstack([vectors, vectors[:1].repeat(extra, 0)])).save(
            path, model
        )
    elif damage == "lacking":
        VectorIndex.build(ids[1:], vectors[1:]).save(path, model)
    elif damage == "damaged":
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "deleted":
        path.unlink()
    else:
        VectorIndex.build(ids, vectors).save(path, "some-other-model")

    code, report = doctor(gallery_dir)
    assert code == 1 and set(kinds(report)) == {expected}
    finding = kinds(report)[expected]
    if damage == "orphans":
        assert finding["count"] == 7 and len(finding["examples"]) == MAX_EXAMPLES
        assert f"face id {fake_ids[0]}" in finding["examples"]
        assert "(2 more)" in cli_runner.invoke(app, ["doctor", "--index", str(gallery_dir)]).stdout
    if damage == "lacking":
        assert finding["examples"] == [f"face id {ids[0]}"]

    code, report = doctor(gallery_dir, "--repair")
    assert code == 0 and report["repaired"] == [f"rebuilt {GALLERY_VECTORS_NAME} from SQLite ({len(ids)} faces)"]
    assert faiss_matches_sqlite(gallery_dir)


def test_faces_from_another_model_need_a_reembed_that_repair_does_not_do(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in PHOTOS[:2]:
        shutil.copy2(SAMPLE_PHOTOS / name, photos / name)
    with Gallery.open(tmp_path / "g") as gallery:
        index_folder(gallery, photos, model_id="an-older-model")
        faces = gallery.store.face_ids().tolist()

    code, report = doctor(tmp_path / "g", "--repair")
    assert code == 1 and report["repaired"] == [] and set(kinds(report)) == {"model_mismatch"}
    finding = kinds(report)["model_mismatch"]
    assert finding["count"] == 2 and f"facesim index {photos} --index {tmp_path / 'g'} --reembed" in finding["advice"]
    with Gallery.open(tmp_path / "g") as gallery:
        assert gallery.store.face_ids().tolist() == faces
        index_folder(gallery, photos, reembed=True)
    assert doctor(tmp_path / "g")[0] == 0


def test_a_gallery_labelled_with_another_model_but_empty_still_needs_a_reembed(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with Gallery.open(tmp_path / "g") as gallery:
        index_folder(gallery, tmp_path / "empty", model_id="an-older-model")
    code, report = doctor(tmp_path / "g")
    assert code == 1 and kinds(report)["model_mismatch"]["examples"][0].startswith("the gallery itself")
    assert f"facesim index {tmp_path / 'empty'}" in kinds(report)["model_mismatch"]["advice"]


def test_an_interrupted_run_is_reported_until_a_run_over_its_folder_finishes(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy2(SAMPLE_PHOTOS / PHOTOS[0], photos / PHOTOS[0])
    (tmp_path / "elsewhere").mkdir()

    def stop_after_two(_total: int, done: int, path: Path | None) -> None:
        if path is not None and done == 2:
            raise KeyboardInterrupt

    with Gallery.open(tmp_path / "g") as gallery:
        index_folder(gallery, photos)  # finished, but before the interrupted run
        for name in PHOTOS[1:]:
            shutil.copy2(SAMPLE_PHOTOS / name, photos / name)
        with pytest.raises(KeyboardInterrupt):
            index_folder(gallery, photos, batch_size=1, progress=stop_after_two)
        index_folder(gallery, tmp_path / "elsewhere")  # finished, but another folder

    code, report = doctor(tmp_path / "g")
    assert code == 1 and set(kinds(report)) == {"interrupted_runs"}
    finding = kinds(report)["interrupted_runs"]
    assert finding["count"] == 1 and finding["examples"][0].startswith(f"run 2 over {photos} ")
    assert finding["advice"] == f"resume: facesim index {photos} --index {tmp_path / 'g'}"

    with Gallery.open(tmp_path / "g") as gallery:
        index_folder(gallery, photos)
    assert doctor(tmp_path / "g")[0] == 0


def test_faces_without_a_photo_are_removed_by_repair(indexed: tuple[Path, Path]) -> None:
    gallery_dir, _ = indexed
    # A plain connection does not enforce foreign keys: the way such rows get in.
    with sqlite3.connect(gallery_dir / GALLERY_DB_NAME) as connection:
        columns = '"left", "top", "right", "bottom", landmarks, score, embedding, model_id'
        connection.execute(
            f"INSERT INTO faces (photo_id, {columns}) SELECT 9999, {columns} FROM faces ORDER BY id LIMIT 1"
        )
    connection.close()

    code, report = doctor(gallery_dir)
    assert code == 1 and set(kinds(report)) == {"orphan_faces", "missing_vectors"}
    assert "of missing photo 9999" in kinds(report)["orphan_faces"]["examples"][0]
    code, report = doctor(gallery_dir, "--repair")
    assert code == 0 and "removed 1 faces without an indexed photo" in report["repaired"]
    assert faiss_matches_sqlite(gallery_dir)


def test_leftover_temporary_files_are_deleted_by_repair(indexed: tuple[Path, Path]) -> None:
    gallery_dir, photos = indexed
    untouched = photo_state(photos)
    # What vectors._atomic_write leaves when killed while writing the index or its sidecar.
    leftovers = [gallery_dir / f".{name}.4242.tmp" for name in (GALLERY_VECTORS_NAME, f"{GALLERY_VECTORS_NAME}.json")]
    for leftover in leftovers:
        leftover.write_bytes(b"partial")

    code, report = doctor(gallery_dir)
    assert code == 1 and kinds(report)["leftover_files"]["count"] == 2
    code, report = doctor(gallery_dir, "--repair")
    assert code == 0 and report["repaired"] == ["deleted 2 leftover temporary files"]
    assert not any(leftover.exists() for leftover in leftovers)
    assert photo_state(photos) == untouched


def test_an_unreadable_photo_is_reported_but_not_marked_gone(indexed: tuple[Path, Path]) -> None:
    gallery_dir, photos = indexed
    looped = photos / PHOTOS[0]
    looped.unlink()
    looped.symlink_to(looped.name)  # a link to itself: stat fails with ELOOP, even for root

    code, report = doctor(gallery_dir, "--repair")
    assert code == 1 and set(kinds(report)) == {"unreadable_photos"} and report["repaired"] == []
    assert kinds(report)["unreadable_photos"]["examples"][0].startswith(str(looped))
    with Gallery.open(gallery_dir, create=False) as gallery:
        assert gallery.store.photo(looped).status == "indexed"


def test_doctor_will_not_run_beside_a_writer(indexed: tuple[Path, Path], cli_runner: CliRunner) -> None:
    gallery_dir, _ = indexed
    with Gallery.open(gallery_dir) as writer, writer.write_lock():
        result = cli_runner.invoke(app, ["doctor", "--index", str(gallery_dir)])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "another facesim process" in result.stderr


def test_doctor_without_a_gallery_says_so(tmp_path: Path, cli_runner: CliRunner) -> None:
    result = cli_runner.invoke(app, ["doctor", "--index", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "no gallery" in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "nowhere").exists()

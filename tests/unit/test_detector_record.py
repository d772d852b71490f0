"""The gallery records which detector examined each photo: `info` shows it, a photo without a face
is looked at again by another detector (never by the same one unless asked), and `--reembed` with
another detector examines every photo again while persons and names carry over."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from facesim import detection
from index.ingest.indexer import index_folder
from index.persons.persons import names, persons_of_faces
from index.store.gallery import Gallery

from support.cli_runs import run, run_json
from support.sample_gallery import SAMPLE_PHOTOS

PHOTOS = ["Abdullah_Gul_0001.jpg", "Abdullah_Gul_0002.jpg", "Salma_Hayek_0001.jpg"]


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in PHOTOS:
        shutil.copy2(SAMPLE_PHOTOS / name, folder / name)
    return folder


def blind(monkeypatch: pytest.MonkeyPatch, detector: str) -> list[str]:
    """Makes one detector find nothing, and records the detector of every photo examined."""
    real = detection.detect_faces
    calls: list[str] = []

    def detect(rgb: object, name: str = "yunet", min_face: float | None = None) -> list:
        calls.append(name)
        return [] if name == detector else real(rgb, name, min_face)

    monkeypatch.setattr(detection, "detect_faces", detect)
    return calls


def detectors(gallery: Gallery) -> dict[str, str | None]:
    return {Path(path).name: row.detector for path, row in gallery.store.photos_by_path().items()}


def test_each_photo_records_its_detector_and_info_counts_them(tmp_path: Path, photos: Path) -> None:
    with Gallery.open(tmp_path / "g") as gallery:
        index_folder(gallery, photos, detector="yunet", workers=1)
        assert set(detectors(gallery).values()) == {"yunet"}
    assert run_json("info", "--index", tmp_path / "g")["detectors"] == {"yunet": len(PHOTOS)}


def test_a_photo_without_a_face_is_examined_again_only_by_another_detector(
    tmp_path: Path, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = blind(monkeypatch, "hog")
    with Gallery.open(tmp_path / "g") as gallery:
        first = index_folder(gallery, photos, detector="hog", workers=1)
        assert first.no_face == len(PHOTOS) and calls == ["hog"] * len(PHOTOS)
        again = index_folder(gallery, photos, detector="hog", workers=1)  # same detector: nothing to do
        assert again.no_face == 0 and len(calls) == len(PHOTOS)
        found = index_folder(gallery, photos, detector="yunet", workers=1)
        assert found.indexed == len(PHOTOS) and calls[len(PHOTOS) :] == ["yunet"] * len(PHOTOS)
        assert set(detectors(gallery).values()) == {"yunet"}


def test_indexed_photos_are_not_examined_again_by_another_detector_without_reembed(
    tmp_path: Path, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = blind(monkeypatch, "none")
    with Gallery.open(tmp_path / "g") as gallery:
        index_folder(gallery, photos, detector="yunet", workers=1)
        assert index_folder(gallery, photos, detector="hog", workers=1).indexed == 0
        assert calls == ["yunet"] * len(PHOTOS)


def faces_of(gallery: Gallery, name_part: str) -> list[int]:
    rows = gallery.store.photos_by_path().items()
    return [face["id"] for path, row in rows if name_part in path for face in gallery.store.faces_of(row.id)]


def test_reembed_with_another_detector_keeps_persons_and_names(tmp_path: Path, photos: Path) -> None:
    with Gallery.open(tmp_path / "g") as gallery:
        index_folder(gallery, photos, detector="hog", workers=1)
    code, _, stderr = run("clusters", "--index", tmp_path / "g", "--apply", "--min-size", "1")
    assert code == 0, stderr
    with Gallery.open(tmp_path / "g") as gallery:
        gul = faces_of(gallery, "Gul")
        (person,) = {pid for pid, _ in persons_of_faces(gallery.store, gul).values()}
    code, _, stderr = run("name", str(person), "Abdullah Gul", "--index", tmp_path / "g")
    assert code == 0, stderr
    with Gallery.open(tmp_path / "g") as gallery:
        summary = index_folder(gallery, photos, detector="yunet", workers=1, reembed=True)
        assert summary.indexed == len(PHOTOS)
        assert set(detectors(gallery).values()) == {"yunet"}
        new_gul = faces_of(gallery, "Gul")
        assert len(new_gul) == len(gul) and set(new_gul).isdisjoint(gul)  # new vectors, new ids
        assert {pid for pid, _ in persons_of_faces(gallery.store, new_gul).values()} == {person}
        assert names(gallery.store)[person] == "Abdullah Gul"


def test_a_gallery_from_before_detectors_were_recorded_opens_with_them_unrecorded(tmp_path: Path, photos: Path) -> None:
    with Gallery.open(tmp_path / "g") as gallery:
        index_folder(gallery, photos, workers=1)
    db = sqlite3.connect(tmp_path / "g" / "gallery.db")
    db.execute("ALTER TABLE photos DROP COLUMN detector")
    db.execute("PRAGMA user_version = 3")
    db.commit()
    db.close()
    assert run_json("info", "--index", tmp_path / "g")["detectors"] == {"unrecorded": len(PHOTOS)}

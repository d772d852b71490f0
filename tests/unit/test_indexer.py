"""Incremental indexing with the real pipeline, on small copies of sample_data/photos.

Expected faces come from running the pipeline on each photo directly, never from constants,
so these tests hold for the placeholder weights and the trained ones alike.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from facesim.config import GALLERY_VECTORS_NAME
from facesim.errors import FacesimError
from facesim.images import load_rgb
from facesim.pipeline import faces_in_photo
from index.ingest import examine, indexer, scan
from index.ingest.indexer import index_folder
from index.ingest.scan import scan_folder
from index.search import match
from index.store.gallery import Gallery
from index.store.rows import PhotoRow
from index.store.vectors import VectorIndex, sidecar_path

from support.sample_gallery import SAMPLE_PHOTOS

BAD = ["bad_empty.jpg", "bad_text.png", "bad_truncated.jpg"]


def singles(sample_photos: Path) -> list[str]:
    """The first photo of each of the first two people, then their second photos."""
    by_person: dict[str, list[str]] = {}
    for photo in sorted(sample_photos.glob("*_[0-9][0-9][0-9][0-9].jpg")):
        by_person.setdefault(photo.stem.rsplit("_", 1)[0], []).append(photo.name)
    people = sorted(by_person)[:2]
    return [by_person[person][0] for person in people] + [by_person[person][1] for person in people]


def copy_photos(sample_photos: Path, dest: Path, names: list[str]) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy2(sample_photos / name, dest / name)
    return dest


def rows(gallery: Gallery) -> dict[str, PhotoRow]:
    return {Path(path).name: row for path, row in gallery.store.photos_by_path().items()}


def face_ids_by_name(gallery: Gallery) -> dict[str, list[int]]:
    return {name: [face["id"] for face in gallery.store.faces_of(row.id)] for name, row in rows(gallery).items()}


def assert_consistent(gallery: Gallery) -> None:
    """Every photo once, its n_faces equal to its face rows, and FAISS holding exactly SQLite's faces."""
    paths = [row["path"] for row in gallery.store.db.query("SELECT path FROM photos")]
    assert len(paths) == len(set(paths))
    for photo_id, n_faces, actual in gallery.store.db.execute(
        "SELECT p.id, p.n_faces, (SELECT count(*) FROM faces f WHERE f.photo_id = p.id) FROM photos p"
    ):
        assert n_faces == actual, photo_id
    loaded = VectorIndex.load(gallery.vectors_path)
    assert loaded is not None
    assert loaded[0].ids().tolist() == gallery.store.face_ids().tolist()
    assert loaded[1] == gallery.model_id


@pytest.fixture(scope="module")
def sample() -> Path:
    if not (SAMPLE_PHOTOS / "no_face.jpg").is_file():
        pytest.skip("sample_data/photos is not built")
    return SAMPLE_PHOTOS


@pytest.fixture(scope="module")
def indexed(sample: Path, tmp_path_factory: pytest.TempPathFactory):
    """One gallery over two people's photos, every group shot, the no-face photo and the bad
    files, indexed once for the tests that only read it."""
    base = tmp_path_factory.mktemp("indexed")
    groups = sorted(path.name for path in sample.glob("group_0*.jpg"))
    photos = copy_photos(sample, base / "photos", singles(sample)[:2] + groups + ["no_face.jpg", *BAD])
    calls: list[tuple[int, int, Path | None]] = []
    with Gallery.open(base / "g") as gallery:
        summary = index_folder(gallery, photos, progress=lambda *call: calls.append(call))
    return base / "g", photos, summary, calls


def test_every_face_of_every_photo_is_indexed(indexed, sample):
    gallery_dir, photos, summary, _ = indexed
    groups = json.loads((sample.parent / "groups.json").read_text())
    with Gallery.open(gallery_dir, create=False) as gallery:
        stored = rows(gallery)
        expected_total = 0
        for photo in sorted(photos.iterdir()):
            if photo.name in BAD:
                continue
            expected = faces_in_photo(photo)
            expected_total += len(expected)
            row = stored[photo.name]
            assert row.status == ("indexed" if expected else "no_face")
            assert row.n_faces == len(expected)
            saved = gallery.store.faces_of(row.id)
            assert [face["box"] for face in saved] == [face.detection.box for face in expected]
            for original, face in zip(expected, saved, strict=True):
                np.testing.assert_allclose(face["embedding"], original.embedding, atol=1e-5)
            if photo.name in groups:
                assert len(groups[photo.name]["people"]) >= 2
                assert row.n_faces == len(groups[photo.name]["people"]), photo.name
        assert summary.faces == expected_total == gallery.store.face_count()
        assert summary.indexed == sum(1 for row in stored.values() if row.status == "indexed")
        assert summary.no_face == 1 and stored["no_face.jpg"].status == "no_face"
        assert summary.photos_seen == len(list(photos.iterdir()))
        assert_consistent(gallery)
        info = gallery.info()
        assert info.faces == expected_total
        assert info.photos["error"] == len(BAD) and info.photos["gone"] == 0
        assert info.last_run["finished_at"] and info.last_run["counts"]["faces"] == expected_total


def test_bad_files_are_recorded_with_their_message_and_counted(indexed):
    gallery_dir, photos, summary, _ = indexed
    assert sorted(path.name for path, _ in summary.errors) == sorted(BAD)
    with Gallery.open(gallery_dir, create=False) as gallery:
        stored = rows(gallery)
        for name in BAD:
            with pytest.raises(FacesimError) as failure:
                load_rgb(photos / name)
            assert stored[name].status == "error"
            assert stored[name].error == str(failure.value)
            assert "\n" not in stored[name].error
            assert (photos / name, str(failure.value)) in summary.errors


def test_progress_reports_every_photo_once(indexed):
    _, photos, summary, calls = indexed
    total = summary.photos_seen
    assert all(call[0] == total for call in calls)
    assert calls[-1][1] == total
    assert [call[1] for call in calls] == sorted(call[1] for call in calls)
    reported = [call[2] for call in calls if call[2] is not None]
    assert sorted(reported) == sorted(photos.iterdir())


def test_rerun_skips_everything_without_reading(indexed, monkeypatch):
    gallery_dir, photos, first, _ = indexed

    def no_reading(path):
        raise AssertionError(f"{path} was read")

    monkeypatch.setattr(indexer, "file_hash", no_reading)
    with Gallery.open(gallery_dir) as gallery:
        before = gallery.store.face_ids().tolist()
        again = index_folder(gallery, photos)
        assert (again.skipped, again.indexed, again.faces, again.no_face, again.gone) == (first.photos_seen, 0, 0, 0, 0)
        assert again.errors == []  # known-bad files are not retried
        assert gallery.store.face_ids().tolist() == before
        assert_consistent(gallery)


@pytest.mark.parametrize("damage", ["deleted", "corrupted"])
def test_faiss_file_lost_or_damaged_is_rebuilt_with_the_same_ids(indexed, tmp_path, damage):
    gallery_dir, photos, _, _ = indexed
    copy = tmp_path / "g"
    shutil.copytree(gallery_dir, copy)
    with Gallery.open(copy, create=False) as original:
        want_ids = original.store.face_ids().tolist()
        _, vectors = original.store.face_vectors()
        want = match(original, vectors, top_k=3, model_id=original.model_id)
    faiss_file = copy / GALLERY_VECTORS_NAME
    if damage == "deleted":
        faiss_file.unlink()
    else:
        data = bytearray(faiss_file.read_bytes())
        data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
        faiss_file.write_bytes(bytes(data))
    with Gallery.open(copy, create=False) as reopened:
        assert reopened.vectors().ids().tolist() == want_ids
        assert match(reopened, vectors, top_k=3, model_id=reopened.model_id) == want
        assert_consistent(reopened)  # the repaired file was written back
    faiss_file.unlink()
    sidecar_path(faiss_file).unlink()
    with Gallery.open(copy) as gallery:
        index_folder(gallery, photos)  # an indexing run restores the file too
        assert_consistent(gallery)


def test_touched_file_is_rehashed_and_changed_file_reindexed_alone(sample, tmp_path, monkeypatch):
    names = singles(sample)
    photos = copy_photos(sample, tmp_path / "photos", names[:3])
    with Gallery.open(tmp_path / "g") as gallery:
        index_folder(gallery, photos)
        ids_before = face_ids_by_name(gallery)

        touched = photos / names[0]
        later = touched.stat().st_mtime_ns + 5_000_000_000
        os.utime(touched, ns=(later, later))
        hashed: list[str] = []
        real_hash, real_read = indexer.file_hash, examine._hash_as_read
        # A known photo is hashed as it is read (_hash_as_read); a path new to the gallery, first by file_hash.
        monkeypatch.setattr(indexer, "file_hash", lambda path: hashed.append(Path(path).name) or real_hash(path))
        monkeypatch.setattr(examine, "_hash_as_read", lambda path: hashed.append(Path(path).name) or real_read(path))
        summary = index_folder(gallery, photos)
        assert hashed == [names[0]]
        assert (summary.indexed, summary.skipped, summary.faces) == (0, 3, 0)
        assert rows(gallery)[names[0]].mtime_ns == later
        assert face_ids_by_name(gallery) == ids_before

        changed = photos / names[1]
        shutil.copyfile(sample / names[3], changed)  # another photo's bytes under this name
        hashed.clear()
        summary = index_folder(gallery, photos)
        assert hashed == [names[1]]
        assert (summary.indexed, summary.skipped) == (1, 2)
        after = face_ids_by_name(gallery)
        assert after[names[0]] == ids_before[names[0]] and after[names[2]] == ids_before[names[2]]
        assert after[names[1]] and not set(after[names[1]]) & set(ids_before[names[1]])
        expected = faces_in_photo(changed)
        np.testing.assert_allclose(
            gallery.store.faces_of(rows(gallery)[names[1]].id)[0]["embedding"], expected[0].embedding, atol=1e-5
        )
        assert_consistent(gallery)


def test_deleted_file_is_marked_gone_and_leaves_search(sample, tmp_path):
    names = singles(sample)[:2]
    photos = copy_photos(sample, tmp_path / "photos", names)
    with Gallery.open(tmp_path / "g") as gallery:
        index_folder(gallery, photos)
        victim = rows(gallery)[names[0]]
        vector = gallery.store.faces_of(victim.id)[0]["embedding"]
        (photos / names[0]).unlink()
        summary = index_folder(gallery, photos)
        assert summary.gone == 1 and summary.photos_seen == 1
        row = rows(gallery)[names[0]]
        assert (row.status, row.n_faces) == ("gone", 0)
        assert gallery.store.faces_of(row.id) == []
        assert_consistent(gallery)
        (answer,) = match(gallery, vector, top_k=5, model_id=gallery.model_id)
        assert answer.matches and all(hit.path.name != names[0] for hit in answer.matches)

        shutil.copy2(sample / names[0], photos / names[0])
        summary = index_folder(gallery, photos)
        assert summary.indexed == 1 and rows(gallery)[names[0]].status == "indexed"
        assert_consistent(gallery)


def test_known_bad_files_are_retried_only_when_asked(sample, tmp_path):
    photos = copy_photos(sample, tmp_path / "photos", ["bad_text.png", "bad_empty.jpg"])
    with Gallery.open(tmp_path / "g") as gallery:
        assert len(index_folder(gallery, photos).errors) == 2
        again = index_folder(gallery, photos)
        assert (again.errors, again.skipped) == ([], 2)
        retried = index_folder(gallery, photos, retry_errors=True)
        assert sorted(path.name for path, _ in retried.errors) == ["bad_empty.jpg", "bad_text.png"]
        assert rows(gallery)["bad_text.png"].status == "error"


def test_interrupted_run_resumes_and_indexes_every_photo_once(sample, tmp_path):
    names = singles(sample)[:3] + ["no_face.jpg", "bad_text.png"]
    photos = copy_photos(sample, tmp_path / "photos", names)
    processed: list[Path] = []

    def interrupt_at_third(total, done, path):
        if path is not None:
            processed.append(path)
            if len(processed) == 3:
                raise KeyboardInterrupt

    with Gallery.open(tmp_path / "g") as gallery:
        with pytest.raises(KeyboardInterrupt):
            index_folder(gallery, photos, batch_size=2, progress=interrupt_at_third)
        assert len(rows(gallery)) == 2  # the first batch committed; the third photo was lost
        assert gallery.store.last_run()["finished_at"] is None
        committed_faces = gallery.store.face_count()

        resumed = index_folder(gallery, photos, batch_size=2)
        assert resumed.skipped == 2
        assert resumed.indexed + resumed.no_face + len(resumed.errors) == len(names) - 2
        stored = rows(gallery)
        assert sorted(stored) == sorted(names)
        assert stored["no_face.jpg"].status == "no_face" and stored["bad_text.png"].status == "error"
        assert all(stored[name].status == "indexed" for name in names[:3])
        assert gallery.store.face_count() == committed_faces + resumed.faces
        assert_consistent(gallery)


def test_second_writer_fails_fast(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with Gallery.open(tmp_path / "g") as first, first.write_lock(), Gallery.open(tmp_path / "g") as second:
        started = time.monotonic()
        with pytest.raises(FacesimError, match="another facesim process"):
            index_folder(second, empty)
        assert time.monotonic() - started < 5
    with Gallery.open(tmp_path / "g") as after:
        assert index_folder(after, empty).photos_seen == 0


def test_missing_root_is_an_error_not_an_empty_folder(tmp_path):
    with Gallery.open(tmp_path / "g") as gallery, pytest.raises(FacesimError, match="no such"):
        index_folder(gallery, tmp_path / "nowhere")


def test_model_change_is_detected_and_reembed_replaces_the_vectors(sample, tmp_path):
    photos = copy_photos(sample, tmp_path / "photos", singles(sample)[:2] + ["no_face.jpg"])
    with Gallery.open(tmp_path / "g") as gallery:
        index_folder(gallery, photos, model_id="model-a")
        old_ids = gallery.store.face_ids().tolist()
        assert gallery.model_mismatch("model-a") is None
        assert "model-a" in gallery.model_mismatch("model-b")
        with pytest.raises(FacesimError, match="model-a"):
            index_folder(gallery, photos, model_id="model-b")
        assert gallery.store.face_ids().tolist() == old_ids  # nothing mixed in

        summary = index_folder(gallery, photos, model_id="model-b", reembed=True)
        assert (summary.indexed, summary.skipped) == (2, 1)  # the no-face photo needs no vectors
        assert gallery.model_id == "model-b"
        models = {row[0] for row in gallery.store.db.execute("SELECT DISTINCT model_id FROM faces")}
        assert models == {"model-b"}
        assert not set(gallery.store.face_ids().tolist()) & set(old_ids)
        assert_consistent(gallery)


def test_workers_build_the_same_gallery(sample, tmp_path):
    names = singles(sample)[:2] + ["group_01.jpg", "no_face.jpg", "bad_text.png"]
    photos = copy_photos(sample, tmp_path / "photos", names)
    with Gallery.open(tmp_path / "g") as gallery:
        summary = index_folder(gallery, photos, workers=2)
        assert summary.photos_seen == len(names) and len(summary.errors) == 1
        stored = rows(gallery)
        ids_in_scan_order = []
        for name in sorted(names):
            if name == "bad_text.png":
                continue
            expected = faces_in_photo(photos / name)
            saved = gallery.store.faces_of(stored[name].id)
            assert len(saved) == len(expected) == stored[name].n_faces
            for original, face in zip(expected, saved, strict=True):
                np.testing.assert_allclose(face["embedding"], original.embedding, atol=1e-4)
            ids_in_scan_order += [face["id"] for face in saved]
        assert ids_in_scan_order == sorted(ids_in_scan_order)  # ids follow the scan order
        assert_consistent(gallery)


def test_scan_is_sorted_recursive_and_survives_links_and_hidden_files(tmp_path):
    root = tmp_path / "photos"
    (root / "b" / "deep").mkdir(parents=True)
    (root / "a").mkdir()
    (root / ".thumbnails").mkdir()
    for name in ["b/deep/z.jpg", "b/y.PNG", "a/x.jpeg", "top.jpg", ".thumbnails/t.jpg", "._top.jpg", "notes.txt"]:
        (root / name).write_bytes(b"")
    (root / "b" / "loop").symlink_to(root, target_is_directory=True)
    (root / "a" / "dangling.jpg").symlink_to(root / "missing.jpg")
    found = scan_folder(root)
    assert [path.relative_to(root).as_posix() for path in found.photos] == [
        "a/x.jpeg",
        "b/deep/z.jpg",
        "b/y.PNG",
        "top.jpg",
    ]
    assert [(path.name, "broken" in message) for path, message in found.errors] == [("dangling.jpg", True)]
    assert scan_folder(root).photos == found.photos
    assert scan_folder(root / "top.jpg").photos == [root / "top.jpg"]


def test_unreadable_folder_is_reported_and_its_photos_are_not_marked_gone(sample, tmp_path, monkeypatch):
    photos = tmp_path / "photos"
    copy_photos(sample, photos / "locked", singles(sample)[:1])
    with Gallery.open(tmp_path / "g") as gallery:
        index_folder(gallery, photos)
        real_scandir = os.scandir

        def refuse_locked(path):
            if isinstance(path, (str, os.PathLike)) and Path(path).name == "locked":
                raise PermissionError(13, "Permission denied")
            return real_scandir(path)

        monkeypatch.setattr(scan.os, "scandir", refuse_locked)
        summary = index_folder(gallery, photos)
        assert [path.name for path, _ in summary.unreadable] == ["locked"]
        assert "Permission denied" in summary.unreadable[0][1]
        assert summary.gone == 0
        assert [row.status for row in rows(gallery).values()] == ["indexed"]


def test_a_reembed_keeps_persons_names_and_corrections(sample, tmp_path, monkeypatch):
    """A new model replaces every face, and with them the rows that said whose they are; each new
    face takes over its old face's person and corrections, so names survive a model upgrade."""
    from facesim import model_card
    from index.persons.constraints import DIFFERENT, add_links, links
    from index.persons.persons import cluster_gallery, names, previous_assignment, set_name

    card = {
        "threshold": 1.1,
        "model_id": "model-a",
        "clustering": {"linkage": "complete", "cuts": {"complete": 1.1}},
        "matching": {"rule": {"cut": 1.1, "ratio": None, "cohort_z": None, "list_cut": 1.1}},
    }
    monkeypatch.setattr(model_card, "_cached", lambda path: card)
    photos = copy_photos(sample, tmp_path / "photos", singles(sample)[:3] + ["group_01.jpg"])
    with Gallery.open(tmp_path / "g") as gallery:
        index_folder(gallery, photos, model_id="model-a")
        store = gallery.store
        cluster_gallery(store, 1.1, "complete")
        before = previous_assignment(store)
        person = before[min(before)]
        set_name(store, person, "Ada")
        first, second = sorted(before)[:2]
        with store.transaction():
            add_links(store, DIFFERENT, [(first, second)], f"reject {first} {person}")
        boxes = {face: (row["photo_id"], tuple(row["box"])) for face, row in _faces_by_id(store).items()}

        index_folder(gallery, photos, model_id="model-b", reembed=True)
        after = previous_assignment(store)
        new_boxes = {face: (row["photo_id"], tuple(row["box"])) for face, row in _faces_by_id(store).items()}
        successor = {old: new for old, box in boxes.items() for new, new_box in new_boxes.items() if box == new_box}
        assert len(successor) == len(before) and not set(successor) & set(successor.values())
        assert {successor[old]: person_id for old, person_id in before.items()} == after
        assert names(store) == {person: "Ada"}
        assert links(store)[1] == [(successor[first], successor[second])]


def _faces_by_id(store):
    return {row["id"]: row for photo in store.photos_by_path().values() for row in store.faces_of(photo.id)}

"""A photo is its content: moves, renames and byte-identical copies keep or drop exactly what
they should, with the real pipeline on a few sample photos."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from facesim.config import GALLERY_DB_NAME
from facesim.errors import FacesimError
from index.ingest import indexer
from index.ingest.indexer import forget_path, index_folder
from index.search import match
from index.store.gallery import Gallery
from index.store.schema import SCHEMA_VERSION

from support.cli_runs import run
from support.sample_gallery import single_face_photos


def people(count: int, each: int) -> list[Path]:
    chosen = sorted(single_face_photos().items())[:count]
    return [photo for _, photos in chosen for photo in photos[:each]]


def place(photos: list[Path], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for photo in photos:
        shutil.copy2(photo, folder / photo.name)
    return folder


def faces_by_path(gallery: Gallery) -> dict[str, list[int]]:
    return {
        path: [face["id"] for face in gallery.store.faces_of(row.id)]
        for path, row in gallery.store.photos_by_path().items()
        if row.status != "gone"
    }


def no_embedding(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(tasks, *_args, **_kwargs):
        raise AssertionError(f"{[task.path for task in tasks]} were decoded again")

    monkeypatch.setattr(indexer, "_examine_chunk", refuse)


@pytest.fixture()
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """photos/ada holds two people's photos, photos/bob one more person's; indexed once."""
    root = tmp_path / "photos"
    photos = people(3, 2)
    place(photos[:4], root / "ada")
    place(photos[4:], root / "bob")
    with Gallery.open(tmp_path / "g") as gallery:
        index_folder(gallery, root)
    return root, tmp_path / "g"


def test_renamed_folder_keeps_faces_and_embeds_nothing(tree, monkeypatch):
    root, gallery_dir = tree
    with Gallery.open(gallery_dir) as gallery:
        before = faces_by_path(gallery)
    (root / "ada").rename(root / "ada_renamed")
    no_embedding(monkeypatch)
    with Gallery.open(gallery_dir) as gallery:
        summary = index_folder(gallery, root)
        after = faces_by_path(gallery)
        assert (summary.moved, summary.indexed, summary.faces, summary.gone, summary.duplicates) == (4, 0, 0, 0, 0)
        assert sorted(after.values()) == sorted(before.values())
        assert after == {path.replace("/ada/", "/ada_renamed/"): ids for path, ids in before.items()}
        assert gallery.store.status_counts()["gone"] == 0
        assert gallery.vectors().ids().tolist() == gallery.store.face_ids().tolist()
        again = index_folder(gallery, root)
        assert (again.moved, again.skipped) == (0, 6)


def test_photo_moved_out_of_the_indexed_root_is_moved_when_its_new_place_is_indexed(tree, tmp_path, monkeypatch):
    root, gallery_dir = tree
    elsewhere = tmp_path / "elsewhere"
    shutil.move(root / "bob", elsewhere)
    no_embedding(monkeypatch)
    with Gallery.open(gallery_dir) as gallery:
        faces = gallery.store.face_count()
        summary = index_folder(gallery, elsewhere)
        assert (summary.moved, summary.indexed) == (2, 0)
        assert gallery.store.face_count() == faces
        assert all(Path(path).parent in (root / "ada", elsewhere) for path in faces_by_path(gallery))


def test_copies_are_one_photo_listed_once_and_survive_the_original(tree, monkeypatch):
    root, gallery_dir = tree
    shutil.copytree(root / "ada", root / "ada_backup")
    no_embedding(monkeypatch)
    with Gallery.open(gallery_dir) as gallery:
        before = faces_by_path(gallery)
        summary = index_folder(gallery, root)
        assert (summary.duplicates, summary.indexed, summary.moved) == (4, 0, 0)
        assert faces_by_path(gallery) == before
        _, vectors = gallery.store.face_vectors()
        for answer in match(gallery, vectors, top_k=20, model_id=gallery.model_id):
            hits = answer.matches
            assert len({hit.photo_id for hit in hits}) == len(hits)
        photo_ids = [row.id for row in gallery.store.photos_under(root / "ada")]
        others = gallery.store.other_paths(photo_ids)
        assert sorted(path for paths in others.values() for path in paths) == sorted(
            str(path) for path in (root / "ada_backup").iterdir()
        )

        shutil.rmtree(root / "ada")
        summary = index_folder(gallery, root)
        assert (summary.moved, summary.gone) == (4, 0)
        after = faces_by_path(gallery)
        assert sorted(after.values()) == sorted(before.values())
        assert gallery.store.locations() == {}

        shutil.rmtree(root / "ada_backup")
        summary = index_folder(gallery, root)
        assert summary.gone == 4
        assert len(faces_by_path(gallery)) == 2


def test_copies_met_in_one_run_are_embedded_once(tmp_path):
    root = tmp_path / "photos"
    photos = people(1, 2)
    place(photos, root / "a")
    place(photos, root / "b")
    with Gallery.open(tmp_path / "g") as gallery:
        summary = index_folder(gallery, root)
        assert (summary.indexed, summary.duplicates) == (2, 2)
        assert len(gallery.store.photos_by_path()) == 2 and len(gallery.store.locations()) == 2
        assert index_folder(gallery, root).skipped == 4


def test_overwritten_copy_becomes_a_photo_of_its_own(tree):
    root, gallery_dir = tree
    shutil.copytree(root / "bob", root / "bob_copy")
    with Gallery.open(gallery_dir) as gallery:
        index_folder(gallery, root)
        target = sorted((root / "bob_copy").iterdir())[0]
        shutil.copyfile(people(4, 1)[-1], target)
        summary = index_folder(gallery, root)
        assert (summary.indexed, summary.duplicates) == (1, 0)
        assert str(target) in gallery.store.photos_by_path()
        assert str(target) not in gallery.store.locations()


def test_a_gallery_of_schema_1_is_migrated_and_its_copies_merged(tree):
    root, gallery_dir = tree
    db = gallery_dir / GALLERY_DB_NAME
    with Gallery.open(gallery_dir) as gallery:
        faces = gallery.store.face_count()
    original = sorted((root / "bob").iterdir())[0]
    copy = root / "bob_copy.jpg"
    shutil.copy2(original, copy)
    with sqlite3.connect(db) as connection:  # what facesim 1 left after indexing the copy
        connection.execute("DROP TABLE photo_paths")
        photo_id = connection.execute("SELECT id FROM photos WHERE path = ?", [str(original)]).fetchone()[0]
        columns = "content_hash, size, mtime_ns, status, error, n_faces, model_id, indexed_at"
        connection.execute(
            f"INSERT INTO photos (path, {columns}) SELECT ?, {columns} FROM photos WHERE id = ?", [str(copy), photo_id]
        )
        face_columns = '"left", "top", "right", "bottom", landmarks, score, embedding, model_id'
        connection.execute(
            f"INSERT INTO faces (photo_id, {face_columns}) SELECT last_insert_rowid(), {face_columns} "
            "FROM faces WHERE photo_id = ?",
            [photo_id],
        )
        connection.execute("PRAGMA user_version = 1")
    with Gallery.open(gallery_dir, create=False) as gallery:  # a reader opens it first
        assert gallery.store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert gallery.store.face_count() == faces
        assert gallery.store.other_paths([photo_id]) == {photo_id: [str(copy)]}
        assert gallery.vectors().ids().tolist() == gallery.store.face_ids().tolist()
        summary = index_folder(gallery, root)
        assert (summary.indexed, summary.duplicates, summary.skipped) == (0, 0, 7)


def test_excluded_paths_are_skipped_and_not_marked_gone(tree):
    root, gallery_dir = tree
    extra = place(people(4, 1)[-1:], root / "ada" / "trash")
    with Gallery.open(gallery_dir) as gallery:
        before = faces_by_path(gallery)
        summary = index_folder(gallery, root, exclude=["bob", "*/trash"])
        assert (summary.excluded, summary.indexed, summary.gone) == (2, 0, 0)
        assert faces_by_path(gallery) == before
        assert not any(path.startswith(str(extra)) for path in faces_by_path(gallery))
        summary = index_folder(gallery, root, exclude=["*.jpg"])
        assert (summary.photos_seen, summary.gone) == (0, 0)


def test_forget_drops_a_folder_exactly_and_keeps_photos_that_have_a_copy_elsewhere(tree):
    root, gallery_dir = tree
    shutil.copy2(sorted((root / "ada").iterdir())[0], root / "bob" / "copy_of_ada.jpg")
    files = {path: path.read_bytes() for path in root.rglob("*.jpg")}
    with Gallery.open(gallery_dir) as gallery:
        index_folder(gallery, root)
        before = faces_by_path(gallery)
        forgotten = forget_path(gallery, root / "ada")
        assert (forgotten.photos, forgotten.copies, forgotten.kept) == (3, 0, 1)
        after = faces_by_path(gallery)
        assert sorted(after) == sorted([*(str(p) for p in (root / "bob").iterdir())])
        assert after[str(root / "bob" / "copy_of_ada.jpg")] == before[str(sorted((root / "ada").iterdir())[0])]
        assert forgotten.faces == sum(len(ids) for ids in before.values()) - sum(len(ids) for ids in after.values())
        assert gallery.store.locations() == {}
        assert gallery.vectors().ids().tolist() == gallery.store.face_ids().tolist()
        one = sorted((root / "bob").iterdir())[0]
        assert forget_path(gallery, one).photos == 1 and str(one) not in faces_by_path(gallery)
        with pytest.raises(FacesimError, match="nothing in the gallery"):
            forget_path(gallery, root / "ada")
    assert {path: path.read_bytes() for path in root.rglob("*.jpg")} == files
    code, _, stderr = run("forget", root / "nowhere", "--index", gallery_dir)
    assert code == 2 and len(stderr.strip().splitlines()) == 1 and "nowhere" in stderr
    assert run("forget", root / "bob", "--index", gallery_dir)[0] == 0
    with Gallery.open(gallery_dir, create=False) as gallery:
        assert gallery.store.photos_by_path() == {} and gallery.store.face_count() == 0


def test_a_copy_where_a_gone_photo_was_replaces_its_tombstone(tree, monkeypatch):
    root, gallery_dir = tree
    first, second = sorted((root / "ada").iterdir())[:2]
    with Gallery.open(gallery_dir) as gallery:
        first.unlink()
        assert index_folder(gallery, root).gone == 1
        assert gallery.store.photos_by_path()[str(first)].status == "gone"
        shutil.copy2(second, first)
        no_embedding(monkeypatch)
        summary = index_folder(gallery, root)
        assert (summary.duplicates, summary.indexed) == (1, 0)
        assert str(first) not in gallery.store.photos_by_path()
        assert gallery.store.locations()[str(first)].photo_id == gallery.store.photo(second).id


def test_doctor_repair_moves_a_missing_photo_to_its_copy(tree):
    root, gallery_dir = tree
    original = sorted((root / "bob").iterdir())[0]
    shutil.copy2(original, root / "copy.jpg")
    with Gallery.open(gallery_dir) as gallery:
        index_folder(gallery, root)
        before = faces_by_path(gallery)[str(original)]
    original.unlink()
    code, stdout, _ = run("doctor", "--index", gallery_dir, "--repair")
    assert code == 0 and "moved 1 missing photos to a copy of theirs that remains" in stdout
    with Gallery.open(gallery_dir, create=False) as gallery:
        assert faces_by_path(gallery)[str(root / "copy.jpg")] == before
        assert gallery.store.status_counts()["gone"] == 0 and gallery.store.locations() == {}


def test_copies_are_listed_with_their_photo_and_empty_files_are_errors(tree):
    root, gallery_dir = tree
    photo = sorted((root / "ada").iterdir())[0]
    shutil.copy2(photo, root / "bob" / "copy.jpg")
    for name in ("empty.jpg", "also_empty.jpg"):
        (root / name).write_bytes(b"")
    with Gallery.open(gallery_dir) as gallery:
        summary = index_folder(gallery, root)
    assert summary.duplicates == 1
    assert sorted(path.name for path, message in summary.errors if message.endswith("not an image")) == [
        "also_empty.jpg",
        "empty.jpg",
    ]
    code, stdout, _ = run("photos", "--index", gallery_dir, "--json")
    listed = {Path(row["path"]).name: row for row in json.loads(stdout)}
    assert listed[photo.name]["other_paths"] == [str(root / "bob" / "copy.jpg")]
    assert listed["empty.jpg"]["status"] == "error" and listed["empty.jpg"]["other_paths"] == []
    code, stdout, _ = run("photos", "--index", gallery_dir, "--status", "indexed")
    assert f"{root / 'bob' / 'copy.jpg'}\tcopy of {photo}" in stdout.splitlines()
    with Gallery.open(gallery_dir) as gallery:  # a rerun keeps them as known bad files, not copies
        again = index_folder(gallery, root)
    assert (again.duplicates, len(again.known_errors), again.errors) == (0, 2, [])


def test_retry_no_face_looks_again_at_photos_without_a_face(tree, monkeypatch):
    root, gallery_dir = tree
    seen: list[list[str]] = []
    examine = indexer._examine_chunk

    def spy(tasks, *args, **kwargs):
        seen.append([Path(task.path).name for task in tasks])
        return examine(tasks, *args, **kwargs)

    with Gallery.open(gallery_dir) as gallery:
        first = sorted(gallery.store.photos_by_path())[0]
        gallery.store.db.execute("UPDATE photos SET status = 'no_face', n_faces = 0 WHERE path = ?", [first])
        gallery.store.db.execute("DELETE FROM faces WHERE photo_id = (SELECT id FROM photos WHERE path = ?)", [first])
        gallery.store.db.conn.commit()
    monkeypatch.setattr(indexer, "_examine_chunk", spy)
    code, stdout, stderr = run("photos", "--index", gallery_dir, "--status", "no_face")
    assert stdout.splitlines() == [first] and "--retry-no-face" in stderr
    with Gallery.open(gallery_dir) as gallery:
        assert index_folder(gallery, root).no_face == 0 and seen == []
        summary = index_folder(gallery, root, retry_no_face=True)
    assert seen == [[Path(first).name]] and summary.indexed == 1

"""A damaged `gallery.db` (pages overwritten, the file truncated, its header destroyed) and a
FAISS file replaced by an older copy: `info` never reports a healthy gallery, `doctor` says what
is damaged, `doctor --repair` recovers what can be recovered and reports the rest, and the next
`facesim index` brings the gallery back to what a clean run builds. The photos are never touched.

Every gallery here is a copy of one real gallery indexed from the sample photos, damaged on disk
the way a bad sector, a half-finished sync or another program's crash would damage it.
"""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from facesim.config import GALLERY_DB_NAME, GALLERY_VECTORS_NAME
from index.ingest.indexer import index_folder
from index.store.gallery import Gallery
from index.store.vectors import VectorIndex, sidecar_path

from support.cli_runs import invoke
from support.index_runs import message_lines
from support.sample_gallery import SAMPLE_PHOTOS


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(gallery, photos): every sample photo indexed once; tests damage copies of the gallery."""
    if not (SAMPLE_PHOTOS / "no_face.jpg").is_file():
        pytest.skip("sample_data/photos is not built")
    root = tmp_path_factory.mktemp("clean")
    photos = root / "photos"
    photos.mkdir()
    # Enough photos for each table to span several pages, few enough to index again quickly.
    chosen = sorted(SAMPLE_PHOTOS.glob("*_000[1-3].jpg"))[:14] + [SAMPLE_PHOTOS / "no_face.jpg"]
    for photo in [*chosen, *sorted(SAMPLE_PHOTOS.glob("group_*.jpg"))[:1]]:
        shutil.copy2(photo, photos / photo.name)
    with Gallery.open(root / "gallery") as gallery:
        index_folder(gallery, photos)
    return root / "gallery", photos


@pytest.fixture
def gallery(clean: tuple[Path, Path], tmp_path: Path) -> Path:
    copy = tmp_path / "gallery"
    shutil.copytree(clean[0], copy)
    return copy


def cli(*args: str | Path) -> tuple[int, str, list[str]]:
    result = invoke(*args)
    return result.exit_code, result.stdout, message_lines(result.stderr)


def doctor(gallery: Path, *flags: str) -> tuple[int, dict[str, Any]]:
    code, stdout, errors = cli("doctor", "--index", gallery, "--json", *flags)
    assert code in (0, 1), errors
    return code, json.loads(stdout)


def kinds(report: dict[str, Any]) -> set[str]:
    return {problem["kind"] for problem in report["problems"]}


def table(db: Path, sql: str) -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def gallery_state(gallery: Path) -> tuple[dict[str, tuple[str, int]], int]:
    """Photo path -> (status, faces), and the face count: what a clean run over the photos gives."""
    rows = table(gallery / GALLERY_DB_NAME, "SELECT path, status, n_faces FROM photos")
    return {path: (status, faces) for path, status, faces in rows}, table(
        gallery / GALLERY_DB_NAME, "SELECT count(*) FROM faces"
    )[0][0]


def overwrite_pages(db: Path, table_name: str, count: int) -> list[int]:
    """Fills `count` of the table's pages with noise, from the middle of those below its root
    (the root itself when it is the only page)."""
    page_size = table(db, "PRAGMA page_size")[0][0]
    root = table(db, f"SELECT rootpage FROM sqlite_master WHERE name = '{table_name}'")[0][0]
    pages = sorted(page for (page,) in table(db, f"SELECT pageno FROM dbstat WHERE name = '{table_name}'"))
    leaves = [page for page in pages if page != root] or [root]
    middle = len(leaves) // 2
    chosen = leaves[middle : middle + count]
    noise = random.Random(28)
    with open(db, "r+b") as handle:
        for page in chosen:
            handle.seek((page - 1) * page_size)
            handle.write(noise.randbytes(page_size))
    return chosen


def photo_bytes(photos: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(photos.iterdir())}


def assert_back_to_clean(gallery: Path, clean: tuple[Path, Path]) -> None:
    """The next `facesim index` reads what the repair marked, and the gallery is what a clean
    run builds: every photo, its status and its faces; the doctor finds nothing."""
    code, _, errors = cli("index", clean[1], "--index", gallery)
    assert code == 0, errors
    assert gallery_state(gallery) == gallery_state(clean[0])
    assert doctor(gallery)[0] == 0
    assert table(gallery / GALLERY_DB_NAME, "PRAGMA integrity_check") == [("ok",)]


def test_lost_face_rows_are_reported_their_photos_read_again(gallery: Path, clean: tuple[Path, Path]) -> None:
    db = gallery / GALLERY_DB_NAME
    if not table(db, "SELECT name FROM pragma_module_list WHERE name = 'dbstat'"):
        pytest.skip("this SQLite has no dbstat table to find a table's pages")
    faces_before = {face_id: photo for face_id, photo in table(db, "SELECT id, photo_id FROM faces")}
    paths = dict(table(db, "SELECT id, path FROM photos"))
    untouched = photo_bytes(clean[1])
    overwrite_pages(db, "faces", 1)
    damaged_bytes = db.read_bytes()

    code, _, errors = cli("info", "--index", gallery)
    assert code == 2 and len(errors) == 1
    assert "damaged" in errors[0] and "the faces table" in errors[0] and "facesim doctor --repair" in errors[0]

    code, report = doctor(gallery)
    assert code == 1 and kinds(report) == {"damaged_database"}
    (finding,) = report["problems"]
    assert finding["examples"][0].startswith("the faces table (boxes and vectors): ")

    code, report = doctor(gallery, "--repair")
    faces_after = {face_id for (face_id,) in table(db, "SELECT id FROM faces")}
    lost = set(faces_before) - faces_after
    assert lost and faces_after < set(faces_before)  # one page lost, the others kept
    # Nothing lost silently: the report counts every lost face, and names its photos to read again.
    assert f"could not read {len(lost)} faces: their photos are marked to be read again" in report["repaired"]
    reread = {paths[faces_before[face_id]] for face_id in lost}
    (to_read,) = [problem for problem in report["problems"] if problem["kind"] == "photos_to_reread"]
    assert code == 1 and kinds(report) == {"photos_to_reread"} and to_read["count"] == len(reread)
    assert set(to_read["examples"]) <= reread
    backups = sorted(gallery.glob(f"{GALLERY_DB_NAME}.damaged-*[0-9Z]"))
    assert [path.read_bytes() for path in backups] == [damaged_bytes]
    assert table(db, "PRAGMA integrity_check") == [("ok",)]
    with Gallery.open(gallery, create=False) as opened:
        loaded = VectorIndex.load(opened.vectors_path)
        assert loaded is not None and loaded[0].ids().tolist() == sorted(faces_after)
    code, _, errors = cli("info", "--index", gallery)
    assert code == 0, errors

    assert_back_to_clean(gallery, clean)
    assert photo_bytes(clean[1]) == untouched


def test_lost_photo_rows_are_put_back_by_their_path(gallery: Path, clean: tuple[Path, Path]) -> None:
    """The path index still lists a photo whose row is lost: the photo is kept by its path and
    read again, never dropped."""
    db = gallery / GALLERY_DB_NAME
    if not table(db, "SELECT name FROM pragma_module_list WHERE name = 'dbstat'"):
        pytest.skip("this SQLite has no dbstat table to find a table's pages")
    paths = {path for (path,) in table(db, "SELECT path FROM photos")}
    overwrite_pages(db, "photos", 1)

    code, report = doctor(gallery, "--repair")
    assert code == 1 and kinds(report) == {"photos_to_reread"}
    assert any(line.startswith("could not read the rows of ") for line in report["repaired"])
    assert {path for (path,) in table(db, "SELECT path FROM photos")} == paths
    assert_back_to_clean(gallery, clean)


def test_noise_in_the_middle_of_the_file(gallery: Path, clean: tuple[Path, Path]) -> None:
    """The issue's case: 16 KB of noise in the middle of gallery.db, wherever that lands."""
    db = gallery / GALLERY_DB_NAME
    with open(db, "r+b") as handle:
        handle.seek(db.stat().st_size // 2)
        handle.write(random.Random(16).randbytes(16 * 1024))

    code, _, errors = cli("info", "--index", gallery)
    assert code == 2 and len(errors) == 1 and "damaged" in errors[0]
    code, report = doctor(gallery)
    assert code == 1 and kinds(report) == {"damaged_database"}
    doctor(gallery, "--repair")
    assert table(db, "PRAGMA integrity_check") == [("ok",)]
    assert_back_to_clean(gallery, clean)


def test_a_truncated_file_is_rebuilt_from_the_pages_it_kept(gallery: Path, clean: tuple[Path, Path]) -> None:
    db = gallery / GALLERY_DB_NAME
    paths = {path for (path,) in table(db, "SELECT path FROM photos")}
    with open(db, "r+b") as handle:
        handle.truncate(db.stat().st_size // 2)

    for command in (["info"], ["photos"], ["doctor"]):
        code, stdout, errors = cli(*command, "--index", gallery)
        assert (code, stdout, len(errors)) == (2, "", 1)
        assert "it is damaged" in errors[0] and "facesim doctor --repair" in errors[0] and "backup" in errors[0]

    code, report = doctor(gallery, "--repair")
    assert code == 1 and report["repaired"][0].startswith("copied the ")
    # The path index sits in the half that was kept: every photo is still there, to be read again.
    assert {path for (path,) in table(db, "SELECT path FROM photos")} == paths
    assert_back_to_clean(gallery, clean)


def test_a_file_sqlite_cannot_open_says_how_to_restore_it(gallery: Path, clean: tuple[Path, Path]) -> None:
    db = gallery / GALLERY_DB_NAME
    with open(db, "r+b") as handle:
        handle.write(b"\x00" * 100)  # the header: SQLite no longer knows the file
    untouched = photo_bytes(clean[1])
    query = sorted(SAMPLE_PHOTOS.glob("*_0001.jpg"))[0]
    for command in (["info"], ["match", query], ["index", clean[1]], ["doctor"], ["doctor", "--repair"]):
        code, stdout, errors = cli(*command, "--index", gallery)
        assert (code, stdout, len(errors)) == (2, "", 1), (command, errors)
        assert "restore it from a backup" in errors[0] and "facesim index PHOTOS" in errors[0]
    assert photo_bytes(clean[1]) == untouched

    db.rename(db.with_name("gallery.db.broken"))  # the advice: move it aside and index again
    assert_back_to_clean(gallery, clean)


def test_an_empty_file_is_named_as_such_and_index_rebuilds_it(gallery: Path, clean: tuple[Path, Path]) -> None:
    db = gallery / GALLERY_DB_NAME
    db.write_bytes(b"")
    code, _, errors = cli("info", "--index", gallery)
    assert code == 2 and len(errors) == 1 and "is empty (truncated?)" in errors[0]
    assert_back_to_clean(gallery, clean)


@pytest.mark.parametrize("replaced", ["file", "file and checksum"])
def test_an_older_faiss_file_is_caught_up_or_rebuilt_from_sqlite(
    clean: tuple[Path, Path], tmp_path: Path, replaced: str
) -> None:
    """A backup tool restores yesterday's faces.faiss (with or without its sidecar): search still
    finds today's faces, and the doctor names the file and rebuilds it."""
    photos = sorted(clean[1].glob("*_000[1-4].jpg"))
    older, newer = tmp_path / "older", tmp_path / "newer"
    older.mkdir()
    newer.mkdir()
    for number, photo in enumerate(photos):
        shutil.copy2(photo, (older if number % 2 else newer) / photo.name)
    gallery = tmp_path / "gallery"
    assert cli("index", older, "--index", gallery)[0] == 0
    vectors = gallery / GALLERY_VECTORS_NAME
    saved = {path: path.read_bytes() for path in (vectors, sidecar_path(vectors))}
    assert cli("index", newer, "--index", gallery)[0] == 0

    def restore_older() -> None:
        for path, data in saved.items():
            if replaced == "file and checksum" or path == vectors:
                path.write_bytes(data)

    def newest_face_is_found() -> None:
        query = sorted(newer.iterdir())[0]
        code, stdout, errors = cli("match", query, "--index", gallery, "--top-k", "1", "--json")
        assert code == 0, errors
        hit = json.loads(stdout)["faces"][0]["photos"][0]
        assert Path(hit["path"]).name == query.name and hit["distance"] < 1e-3

    restore_older()
    code, report = doctor(gallery)
    assert code == 1 and kinds(report) == ({"vector_file"} if replaced == "file" else {"missing_vectors"})
    code, report = doctor(gallery, "--repair")
    assert code == 0 and report["repaired"] == [f"rebuilt {GALLERY_VECTORS_NAME} from SQLite ({report['faces']} faces)"]
    newest_face_is_found()

    restore_older()
    newest_face_is_found()  # a reader brings it up to date from SQLite, and saves it when no one indexes
    assert doctor(gallery)[0] == 0

"""The SQLite store: schema, whole-photo transactions, face replacement and concurrency."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

import numpy as np
import pytest

from facesim.errors import FacesimError
from facesim.pipeline import Face
from index.store import database as store_module
from index.store import photo_tables
from index.store.database import Store
from index.store.rows import Location
from index.store.schema import SCHEMA_VERSION
from index.store.sql import CHUNK

from support.fake_faces import fake_face

MODEL = "model-a"


def make_face(seed: int, box: tuple[int, int, int, int] = (10, 20, 110, 120), dim: int = 128) -> Face:
    vector = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    landmarks = ((30, 40), (50, 40), (80, 40), (100, 40), (60, 90))
    return fake_face(vector / np.linalg.norm(vector), box, score=0.5 + seed / 100, landmarks=landmarks)


def record(store: Store, path: str, faces: list[Face], **overrides: object) -> int:
    fields = {
        "status": "indexed" if faces else "no_face",
        "content_hash": f"hash-{path}",
        "size": 100,
        "mtime_ns": 1,
        "model_id": MODEL,
        "faces": faces,
    }
    fields.update(overrides)
    return store.record_photo(path, **fields)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "gallery.db") as opened:
        yield opened


def test_new_database_uses_wal_busy_timeout_and_schema_version(store):
    assert store.db.journal_mode == "wal"
    assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert {"photos", "faces", "runs", "meta"} <= set(store.db.table_names())


def test_reopening_keeps_data(tmp_path):
    with Store(tmp_path / "g.db") as first:
        record(first, "/p/a.jpg", [make_face(1)])
    with Store(tmp_path / "g.db", create=False) as second:
        assert second.face_count() == 1
        assert second.photo("/p/a.jpg").n_faces == 1


def test_read_only_open_of_missing_database_is_a_clear_error(tmp_path):
    with pytest.raises(FacesimError, match="facesim index"):
        Store(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()


def test_newer_schema_and_non_database_are_refused(tmp_path):
    newer = tmp_path / "newer.db"
    with sqlite3.connect(newer) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(FacesimError, match="newer facesim"):
        Store(newer)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(FacesimError, match="cannot open gallery database"):
        Store(junk)


def test_photo_row_and_faces_round_trip(store):
    faces = [make_face(1, (0, 0, 50, 60)), make_face(2, (100, 10, 140, 50))]
    photo_id = record(store, "/p/group.jpg", faces, size=1234, mtime_ns=99)
    row = store.photo("/p/group.jpg")
    assert (row.id, row.status, row.n_faces, row.size, row.mtime_ns, row.model_id) == (
        photo_id,
        "indexed",
        2,
        1234,
        99,
        MODEL,
    )
    assert row.indexed_at
    stored = store.faces_of(photo_id)
    assert [face["box"] for face in stored] == [face.detection.box for face in faces]
    assert [face["landmarks"] for face in stored] == [face.detection.landmarks for face in faces]
    for original, saved in zip(faces, stored, strict=True):
        np.testing.assert_array_equal(saved["embedding"], original.embedding)
        assert saved["model_id"] == MODEL
    ids, vectors = store.face_vectors()
    assert ids.tolist() == [face["id"] for face in stored]
    np.testing.assert_array_equal(vectors, np.stack([face.embedding for face in faces]))


def test_changed_photo_replaces_its_faces_with_new_ids(store):
    first = record(store, "/p/a.jpg", [make_face(1), make_face(2)])
    other = record(store, "/p/b.jpg", [make_face(3)])
    old_ids = [face["id"] for face in store.faces_of(first)]
    other_ids = [face["id"] for face in store.faces_of(other)]
    again = record(store, "/p/a.jpg", [make_face(4)], content_hash="changed")
    assert again == first
    new_ids = [face["id"] for face in store.faces_of(first)]
    assert len(new_ids) == 1 and not set(new_ids) & set(old_ids)
    assert [face["id"] for face in store.faces_of(other)] == other_ids
    assert store.face_count() == 2
    assert store.photo("/p/a.jpg").n_faces == 1


def test_face_ids_are_never_reused(store):
    photo = record(store, "/p/a.jpg", [make_face(1), make_face(2)])
    highest = int(store.face_ids().max())
    store.mark_gone([photo])
    assert store.face_count() == 0
    record(store, "/p/b.jpg", [make_face(3)])
    assert int(store.face_ids().min()) > highest


def test_status_must_agree_with_faces(store):
    with pytest.raises(ValueError, match="^an indexed photo needs at least one face$"):
        record(store, "/p/a.jpg", [], status="indexed")
    with pytest.raises(ValueError, match="^a photo with status 'no_face' cannot have faces$"):
        record(store, "/p/a.jpg", [make_face(1)], status="no_face")
    with pytest.raises(sqlite3.IntegrityError):
        store.db.execute("INSERT INTO photos (path, status) VALUES ('/p/x.jpg', 'bogus')")


def test_failed_transaction_leaves_no_half_photo(store):
    record(store, "/p/keep.jpg", [make_face(1)])

    class Boom(Exception):
        pass

    with pytest.raises(Boom), store.transaction():
        record(store, "/p/a.jpg", [make_face(2), make_face(3)])
        record(store, "/p/keep.jpg", [make_face(4)], content_hash="new")
        raise Boom
    assert store.photo("/p/a.jpg") is None
    assert store.photo("/p/keep.jpg").content_hash == "hash-/p/keep.jpg"
    assert store.face_count() == 1


class FaceWriteFailed(Exception):
    pass


@pytest.fixture
def second_face_fails(monkeypatch):
    """The face rows fail to write after the photo row is written (and old faces deleted)."""
    real = photo_tables._face_record
    calls = []

    def failing(photo_id, face, model_id):
        calls.append(photo_id)
        if len(calls) == 2:
            raise FaceWriteFailed
        return real(photo_id, face, model_id)

    monkeypatch.setattr(photo_tables, "_face_record", failing)
    return calls


def test_a_new_photo_whose_faces_fail_leaves_no_row(store, second_face_fails):
    record(store, "/p/keep.jpg", [make_face(1)])
    second_face_fails.clear()
    with pytest.raises(FaceWriteFailed):
        record(store, "/p/a.jpg", [make_face(2), make_face(3)])
    assert second_face_fails  # it failed while writing faces, after the photo row
    assert store.photo("/p/a.jpg") is None
    assert store.db.execute("SELECT count(*) FROM photos").fetchone()[0] == 1
    assert store.face_count() == 1 and store.faces_of(store.photo("/p/keep.jpg").id)


def test_a_changed_photo_whose_faces_fail_keeps_its_old_row_and_faces(store, second_face_fails):
    photo_id = record(store, "/p/a.jpg", [make_face(1)])
    (old_face,) = store.faces_of(photo_id)
    second_face_fails.clear()
    with pytest.raises(FaceWriteFailed):
        record(store, "/p/a.jpg", [make_face(2), make_face(3)], content_hash="new")
    assert store.photo("/p/a.jpg").content_hash == "hash-/p/a.jpg"
    assert store.photo("/p/a.jpg").n_faces == 1
    (face,) = store.faces_of(photo_id)
    assert face["id"] == old_face["id"] and np.array_equal(face["embedding"], make_face(1).embedding)


def test_a_failed_photo_does_not_stop_the_next_one(store, second_face_fails):
    with pytest.raises(FaceWriteFailed):
        record(store, "/p/a.jpg", [make_face(1), make_face(2)])
    record(store, "/p/b.jpg", [make_face(3), make_face(4)])
    assert store.photo("/p/a.jpg") is None
    assert store.face_count() == 2 and store.photo("/p/b.jpg").n_faces == 2
    with Store(store.path, create=False) as reader:  # committed, not just visible to this connection
        assert reader.face_count() == 2 and reader.photo("/p/a.jpg") is None


def test_mark_gone_removes_faces_but_keeps_the_row(store):
    gone = record(store, "/p/a.jpg", [make_face(1), make_face(2)])
    kept = record(store, "/p/b.jpg", [make_face(3)])
    assert store.mark_gone([gone]) == 1
    row = store.photo("/p/a.jpg")
    assert (row.status, row.n_faces) == ("gone", 0)
    assert store.faces_of(gone) == []
    assert len(store.faces_of(kept)) == 1
    assert store.status_counts() == {"indexed": 1, "no_face": 0, "error": 0, "gone": 1}


def test_mark_gone_covers_every_photo_across_chunks(store):
    """More photos than one SQL statement takes (_CHUNK ids), the last chunk a partial one."""
    count = 2 * CHUNK + 7
    with store.transaction():
        ids = [record(store, f"/p/{n}.jpg", [make_face(n)]) for n in range(count)]
    assert store.mark_gone(ids) == count
    assert store.status_counts() == {"indexed": 0, "no_face": 0, "error": 0, "gone": count}
    assert store.face_count() == 0


def test_a_database_without_the_schema_is_not_opened_for_reading(tmp_path):
    plain = tmp_path / "plain.db"
    with sqlite3.connect(plain) as connection:
        connection.execute("CREATE TABLE other (x)")
    connection.close()
    with pytest.raises(FacesimError, match=r"plain.db: not a facesim gallery \(schema 0\)$"):
        Store(plain, create=False)


def test_touch_updates_stat_only(store):
    photo = record(store, "/p/a.jpg", [make_face(1)])
    before = store.photo("/p/a.jpg")
    store.touch_photo(photo, size=555, mtime_ns=777)
    after = store.photo("/p/a.jpg")
    assert (after.size, after.mtime_ns) == (555, 777)
    assert (after.content_hash, after.status, after.n_faces) == (before.content_hash, before.status, before.n_faces)


def test_error_rows_keep_their_message(store):
    record(store, "/p/bad.jpg", [], status="error", error="/p/bad.jpg: not an image")
    assert store.photo("/p/bad.jpg").error == "/p/bad.jpg: not an image"
    assert store.status_counts()["error"] == 1


def test_face_hits_join_photo_path_and_status(store):
    photo = record(store, "/p/a.jpg", [make_face(1, (1, 2, 3, 4))])
    face_id = store.faces_of(photo)[0]["id"]
    hits = store.face_hits([face_id, 10_000])
    assert set(hits) == {face_id}
    hit = hits[face_id]
    assert (hit.path, hit.box, hit.status, hit.photo_id, hit.model_id) == (
        "/p/a.jpg",
        (1, 2, 3, 4),
        "indexed",
        photo,
        MODEL,
    )


def test_face_vectors_subset_is_sorted_and_chunked(store):
    for index in range(30):
        record(store, f"/p/{index:02d}.jpg", [make_face(index), make_face(100 + index)])
    all_ids, all_vectors = store.face_vectors()
    wanted = all_ids[::-3]  # reversed on purpose
    ids, vectors = store.face_vectors(wanted)
    assert ids.tolist() == sorted(wanted.tolist())
    rows = {int(face_id): vector for face_id, vector in zip(all_ids, all_vectors, strict=True)}
    for face_id, vector in zip(ids, vectors, strict=True):
        np.testing.assert_array_equal(vector, rows[int(face_id)])


def test_meta_and_stale_count(store):
    assert store.get_meta("model_id") is None
    store.set_meta("model_id", MODEL)
    store.set_meta("model_id", "model-b")
    assert store.get_meta("model_id") == "model-b"
    record(store, "/p/a.jpg", [make_face(1)], model_id="model-a")
    record(store, "/p/b.jpg", [make_face(2)], model_id="model-b")
    record(store, "/p/c.jpg", [], model_id="model-a")  # no faces: nothing to re-embed
    assert store.count_stale("model-b") == 1
    assert store.count_stale("model-a") == 1


def test_runs_record_start_finish_and_counts(store):
    assert store.last_run() is None
    run = store.start_run("/photos")
    unfinished = store.last_run()
    assert (unfinished["id"], unfinished["root"], unfinished["finished_at"]) == (run, "/photos", None)
    store.finish_run(run, {"indexed": 3, "errors": 1})
    finished = store.last_run()
    assert finished["finished_at"] and finished["counts"] == {"indexed": 3, "errors": 1}


def test_reader_sees_only_committed_batches(tmp_path):
    path = tmp_path / "g.db"
    with Store(path) as writer, Store(path, create=False) as reader:
        record(writer, "/p/a.jpg", [make_face(1)])
        with writer.transaction():
            record(writer, "/p/b.jpg", [make_face(2)])
            assert reader.face_count() == 1  # WAL: the open batch is invisible, not blocking
        assert reader.face_count() == 2


# Copies, moves and locations: how a photo stays one photo while its files move around.


def test_photos_by_hash_and_photo_with_hash_give_the_oldest_live_photo(store):
    first = record(store, "/p/a.jpg", [make_face(1)], content_hash="same")
    record(store, "/p/b.jpg", [make_face(2)], content_hash="same")
    gone = record(store, "/p/c.jpg", [make_face(3)], content_hash="only-gone")
    record(store, "/p/d.jpg", [], status="error", content_hash=None, error="unreadable")
    store.mark_gone([gone])
    by_hash = store.photos_by_hash()
    assert set(by_hash) == {"same"}  # neither a gone photo nor one without a hash is found
    assert by_hash["same"].id == first and by_hash["same"].path == "/p/a.jpg"
    assert store.photo_with_hash("same").id == first
    assert store.photo_with_hash("only-gone") is None
    assert store.photo_with_hash("unknown") is None


def test_photos_under_a_folder_or_file_and_not_a_sibling_with_its_prefix(store):
    for path in ("/p/a/1.jpg", "/p/a/b/2.jpg", "/p/ab/3.jpg", "/p/a.jpg"):
        record(store, path, [])
    assert sorted(row.path for row in store.photos_under("/p/a")) == ["/p/a/1.jpg", "/p/a/b/2.jpg"]
    assert [row.path for row in store.photos_under("/p/a.jpg")] == ["/p/a.jpg"]
    assert store.photos_by_path().keys() == {"/p/a/1.jpg", "/p/a/b/2.jpg", "/p/ab/3.jpg", "/p/a.jpg"}


def test_moving_a_photo_keeps_its_faces_and_replaces_a_tombstone(store):
    photo = record(store, "/p/old.jpg", [make_face(1)])
    faces = [face["id"] for face in store.faces_of(photo)]
    tombstone = record(store, "/p/new.jpg", [], content_hash="earlier")
    store.mark_gone([tombstone])
    store.add_location(photo, "/p/elsewhere.jpg", size=1, mtime_ns=1)
    store.move_photo(photo, "/p/new.jpg", size=321, mtime_ns=654)
    assert store.photo("/p/old.jpg") is None
    moved = store.photo("/p/new.jpg")
    assert (moved.id, moved.size, moved.mtime_ns, moved.status) == (photo, 321, 654, "indexed")
    assert [face["id"] for face in store.faces_of(photo)] == faces
    assert store.db.execute("SELECT count(*) FROM photos").fetchone()[0] == 1
    store.move_photo(photo, "/p/elsewhere.jpg", size=5, mtime_ns=6)  # a path is a photo or a location
    assert store.locations() == {} and store.photo("/p/elsewhere.jpg").id == photo


def test_locations_are_added_touched_and_removed(store):
    photo = record(store, "/p/a.jpg", [make_face(1)])
    other = record(store, "/p/b.jpg", [make_face(2)])
    store.add_location(photo, "/p/copy1.jpg", size=10, mtime_ns=20)
    store.add_location(other, "/p/copy2.jpg", size=None, mtime_ns=None)
    store.add_location(photo, "/p/copy2.jpg", size=11, mtime_ns=21)  # the same path again: now a copy of `photo`
    store.touch_location("/p/copy1.jpg", size=30, mtime_ns=40)
    assert store.locations() == {
        "/p/copy1.jpg": Location("/p/copy1.jpg", photo, 30, 40),
        "/p/copy2.jpg": Location("/p/copy2.jpg", photo, 11, 21),
    }
    store.remove_locations(["/p/copy2.jpg", "/p/never-there.jpg"])
    assert set(store.locations()) == {"/p/copy1.jpg"}


def test_a_location_replaces_a_tombstone_at_its_path(store):
    photo = record(store, "/p/a.jpg", [make_face(1)])
    tombstone = record(store, "/p/b.jpg", [], content_hash="earlier")
    store.mark_gone([tombstone])
    kept = record(store, "/p/c.jpg", [])
    store.add_location(photo, "/p/b.jpg", size=1, mtime_ns=2)
    store.add_location(photo, "/p/c.jpg", size=1, mtime_ns=2)  # a live photo there is not a tombstone
    assert store.photo("/p/b.jpg") is None
    assert store.photo("/p/c.jpg").id == kept


def test_other_paths_are_sorted_per_photo_across_chunks(store):
    photo = record(store, "/p/a.jpg", [make_face(1)])
    lonely = record(store, "/p/b.jpg", [make_face(2)])
    store.add_location(photo, "/p/z.jpg", size=1, mtime_ns=1)
    store.add_location(photo, "/p/m.jpg", size=1, mtime_ns=1)
    with store.transaction():
        many = [record(store, f"/q/{n}.jpg", []) for n in range(CHUNK + 1)]
    store.add_location(many[-1], "/q/last-copy.jpg", size=1, mtime_ns=1)
    found = store.other_paths([*many, photo, lonely])
    assert found == {photo: ["/p/m.jpg", "/p/z.jpg"], many[-1]: ["/q/last-copy.jpg"]}


def test_retiring_photos_promotes_a_copy_still_on_disk_and_marks_the_rest_gone(store, tmp_path):
    (tmp_path / "b-copy.jpg").write_bytes(b"x")
    (tmp_path / "c-copy.jpg").write_bytes(b"x")
    with_copy = record(store, str(tmp_path / "a.jpg"), [make_face(1)])
    without = record(store, str(tmp_path / "b.jpg"), [make_face(2)])
    staying = record(store, str(tmp_path / "c.jpg"), [make_face(3)])
    store.add_location(with_copy, str(tmp_path / "z-copy-missing.jpg"), size=1, mtime_ns=1)
    store.add_location(with_copy, str(tmp_path / "b-copy.jpg"), size=7, mtime_ns=8)
    store.add_location(with_copy, str(tmp_path / "c-copy.jpg"), size=9, mtime_ns=10)
    store.add_location(without, str(tmp_path / "missing.jpg"), size=1, mtime_ns=1)
    faces = store.faces_of(with_copy)
    assert store.retire_photos([with_copy, without]) == (1, 1)
    promoted = store.photo(str(tmp_path / "b-copy.jpg"))  # the first copy on disk, by path
    assert (promoted.id, promoted.size, promoted.mtime_ns, promoted.status) == (with_copy, 7, 8, "indexed")
    assert [face["id"] for face in store.faces_of(with_copy)] == [face["id"] for face in faces]
    assert set(store.other_paths([with_copy])[with_copy]) == {
        str(tmp_path / "c-copy.jpg"),
        str(tmp_path / "z-copy-missing.jpg"),
    }
    assert store.photo(str(tmp_path / "b.jpg")).status == "gone"
    assert store.photo(str(tmp_path / "c.jpg")).id == staying and store.face_count() == 2
    assert store.retire_photos([]) == (0, 0)


def test_forgetting_photos_drops_rows_faces_and_locations_across_chunks(store):
    kept = record(store, "/p/kept.jpg", [make_face(1)])
    store.add_location(kept, "/p/kept-copy.jpg", size=1, mtime_ns=1)
    with store.transaction():
        doomed = [record(store, f"/q/{n}.jpg", [make_face(n + 2)]) for n in range(CHUNK + 1)]
    store.add_location(doomed[-1], "/q/copy.jpg", size=1, mtime_ns=1)
    store.forget_photos(doomed)
    assert list(store.photos_by_path()) == ["/p/kept.jpg"]
    assert store.face_count() == 1 and set(store.locations()) == {"/p/kept-copy.jpg"}


# What a gallery of schema 4 (the persons and corrections tables were made on first use, if ever) lacked
# when it was never clustered; older schemas lacked this and more.
LAZY_TABLES = ("persons", "face_persons", "face_links", "face_rejects")


def schema_of(store: Store) -> tuple[set[tuple[str, str, str]], dict[str, list[tuple]]]:
    """The gallery's tables and indexes, and each table's columns (the SQL text differs after an
    ALTER TABLE, what it made does not)."""
    listed = set(store.db.execute("SELECT type, name, tbl_name FROM sqlite_master"))
    tables = [name for kind, name, _ in listed if kind == "table"]
    return listed, {name: store.db.execute(f'PRAGMA table_info("{name}")').fetchall() for name in tables}


def test_a_schema_1_gallery_is_migrated_and_its_copies_merged(tmp_path):
    """Schema 1 had no locations: byte-identical copies were photos of their own. The oldest live
    row of each content stays the photo; the other live rows become its locations. The migration
    gives it every table, index and column a fresh gallery has."""
    path = tmp_path / "old.db"
    with Store(path) as fresh:
        oldest = record(fresh, "/p/a.jpg", [make_face(1)], content_hash="same", size=1, mtime_ns=11)
        record(fresh, "/p/b.jpg", [make_face(2)], content_hash="same", size=2, mtime_ns=22)
        gone = record(fresh, "/p/c.jpg", [make_face(3)], content_hash="same")
        fresh.mark_gone([gone])
        single = record(fresh, "/p/d.jpg", [make_face(4)], content_hash="alone")
        fresh.db.execute("DROP TABLE photo_paths")
        for table in LAZY_TABLES:
            fresh.db.execute(f"DROP TABLE {table}")
        fresh.db.execute("ALTER TABLE photos DROP COLUMN detector")
        fresh.db.execute("PRAGMA user_version = 1")
    with Store(path, create=False) as migrated:
        assert migrated.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert migrated.locations() == {"/p/b.jpg": Location("/p/b.jpg", oldest, 2, 22)}
        assert set(migrated.photos_by_path()) == {"/p/a.jpg", "/p/c.jpg", "/p/d.jpg"}
        assert migrated.photo("/p/d.jpg").id == single and migrated.face_count() == 2
        with Store(tmp_path / "fresh.db") as fresh:
            assert schema_of(migrated) == schema_of(fresh)


def test_a_read_only_schema_4_gallery_never_clustered_opens_without_a_write(tmp_path):
    """It cannot be migrated: the tables it lacks are empty stand-ins, so readers answer "no persons"
    and the file stays as it was."""
    path = tmp_path / "old.db"
    with Store(path) as fresh:
        record(fresh, "/p/a.jpg", [make_face(1)])
        face = int(fresh.face_ids()[0])
        for table in LAZY_TABLES:
            fresh.db.execute(f"DROP TABLE {table}")
        fresh.db.execute("PRAGMA user_version = 4")
    before = path.read_bytes()
    with Store(path, create=False, read_only=True) as reader:
        assert reader.person_assignment() == {} and reader.person_names() == {}
        assert reader.persons_of_faces([face]) == {} and reader.face_links() == [] and reader.face_rejects() == []
        assert reader.unassigned_face_count() == 1 and not reader.has_persons()
    assert path.read_bytes() == before
    with Store(path, create=False) as writer:  # where it is writable, it is migrated once
        assert writer.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert set(LAZY_TABLES) <= set(writer.db.table_names())


def test_a_non_utf8_file_name_round_trips(store):
    name = "/p/caf\udce9.jpg"  # a Latin-1 byte that is not UTF-8, as os.listdir returns it
    photo = record(store, name, [], status="error", content_hash="h", error=f"{name}: not an image")
    assert store.photo(name).id == photo and name in store.photos_by_path()
    assert store.photo(name).error == "/p/caf\\xe9.jpg: not an image"  # readable, valid UTF-8
    store.add_location(photo, name + ".copy", size=1, mtime_ns=1)
    assert set(store.locations()) == {name + ".copy"}
    assert store.other_paths([photo]) == {photo: [name + ".copy"]}
    run = store.start_run(name)
    assert store.last_run()["id"] == run and store.last_run()["root"] == name


def test_face_vectors_of_no_faces_and_of_mixed_sizes(store):
    ids, vectors = store.face_vectors()
    assert ids.shape == (0,) and ids.dtype == np.int64
    assert vectors.shape == (0, 0) and vectors.dtype == np.float32
    assert store.face_vectors([12345])[0].shape == (0,)
    record(store, "/p/a.jpg", [make_face(1, dim=128)])
    record(store, "/p/b.jpg", [make_face(2, dim=64)])
    with pytest.raises(FacesimError, match="different vector sizes"):
        store.face_vectors()


def test_times_are_recorded_in_utc(store):
    record(store, "/p/a.jpg", [])
    run = store.start_run("/p")
    store.finish_run(run, {})
    last = store.last_run()
    for stamp in (store.photo("/p/a.jpg").indexed_at, last["started_at"], last["finished_at"]):
        assert datetime.fromisoformat(stamp).utcoffset() == timedelta(0)


def test_a_run_without_a_root_reads_back_without_one(store):
    """The schema allows a run with no root (the column is nullable); it must read back, not crash."""
    store.db.execute("INSERT INTO runs (root, started_at) VALUES (NULL, '2026-01-01T00:00:00+00:00')")
    assert store.last_run()["root"] is None and store.last_run()["started_at"] == "2026-01-01T00:00:00+00:00"


def test_a_reader_opens_while_the_indexer_holds_the_write_lock(tmp_path, monkeypatch):
    """`match` opens the gallery while an indexer is mid-batch: opening must not wait for the write
    lock (here it would time out after 0.1 s)."""
    monkeypatch.setattr(store_module, "SQLITE_BUSY_TIMEOUT_MS", 100)
    path = tmp_path / "g.db"
    with Store(path) as writer:
        record(writer, "/p/a.jpg", [make_face(1)])
        with writer.transaction():
            record(writer, "/p/b.jpg", [make_face(2)])
            with Store(path, create=False) as reader:
                assert reader.face_count() == 1


def test_no_sqlite_utils_plugin_touches_a_gallery_connection(tmp_path):
    """A plugin installed for some other tool must not get to run code on the gallery's connection."""
    from sqlite_utils import hookimpl
    from sqlite_utils.plugins import pm

    prepared = []

    class Plugin:
        @hookimpl
        def prepare_connection(self, conn):
            prepared.append(conn)

    plugin = Plugin()
    pm.register(plugin, name="facesim-test-plugin")
    try:
        with Store(tmp_path / "g.db") as store:
            record(store, "/p/a.jpg", [])
    finally:
        pm.unregister(plugin)
    assert prepared == []


def test_vectors_are_stored_as_float32_whatever_the_model_returns(store):
    face = make_face(1)
    as64 = Face(face.detection, face.embedding.astype(np.float64))
    photo = record(store, "/p/a.jpg", [as64])
    (saved,) = store.faces_of(photo)
    assert saved["embedding"].dtype == np.float32
    np.testing.assert_array_equal(saved["embedding"], face.embedding)
    ids, vectors = store.face_vectors()
    assert ids.dtype == np.int64 and store.face_ids().dtype == np.int64
    assert vectors.dtype == np.float32 and vectors.shape == (1, 128)


def test_face_lookups_cover_every_chunk(store):
    """More faces than two SQL statements take (_CHUNK ids each): every one is found."""
    count = 2 * CHUNK + 7
    with store.transaction():
        photos = [record(store, f"/p/{n}.jpg", [make_face(n, dim=4)]) for n in range(count)]
    ids = store.face_ids()
    assert len(ids) == count
    found_ids, vectors = store.face_vectors(ids[::-1])
    assert found_ids.tolist() == ids.tolist() and vectors.shape == (count, 4)
    hits = store.face_hits(ids.tolist())
    assert sorted(hits) == ids.tolist()
    assert all(hit.face_id == face_id for face_id, hit in hits.items())
    store.forget_photos(photos)
    assert store.face_count() == 0 and store.photos_by_path() == {}

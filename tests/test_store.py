"""The SQLite store: schema, whole-photo transactions, face replacement and concurrency."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from facesim.detection import DetectedFace
from facesim.errors import FacesimError
from facesim.pipeline import Face
from index import store as store_module
from index.store import SCHEMA_VERSION, Store

MODEL = "model-a"


def make_face(seed: int, box: tuple[int, int, int, int] = (10, 20, 110, 120), dim: int = 128) -> Face:
    vector = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    landmarks = ((30, 40), (50, 40), (80, 40), (100, 40), (60, 90))
    return Face(DetectedFace(box=box, score=0.5 + seed / 100, landmarks=landmarks), vector / np.linalg.norm(vector))


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
    real = store_module._face_record
    calls = []

    def failing(photo_id, face, model_id):
        calls.append(photo_id)
        if len(calls) == 2:
            raise FaceWriteFailed
        return real(photo_id, face, model_id)

    monkeypatch.setattr(store_module, "_face_record", failing)
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
    count = 2 * store_module._CHUNK + 7
    with store.transaction():
        ids = [record(store, f"/p/{n}.jpg", [make_face(n)]) for n in range(count)]
    assert store.mark_gone(ids) == count
    assert store.status_counts() == {"indexed": 0, "no_face": 0, "error": 0, "gone": count}
    assert store.face_count() == 0


def test_a_database_without_the_schema_is_not_opened_for_reading(tmp_path):
    plain = tmp_path / "plain.db"
    sqlite3.connect(plain).close()
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

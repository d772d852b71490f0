"""The FAISS index: exact and IVF-PQ search, atomic save, and repair from SQLite."""

from __future__ import annotations

import json

import numpy as np
import pytest

import index.store.vectors as vectors_module
from index.store.database import Store
from index.store.gallery import META_VECTOR_INDEX, Gallery
from index.store.vectors import (
    Fingerprint,
    VectorIndex,
    choose_kind,
    load_trained,
    open_vectors,
    sidecar_path,
    trained_path,
)

from support.fake_faces import fake_face

MODEL = "model-a"
DIM = 128


def unit_vectors(count: int, seed: int = 0, dim: int = DIM) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def add_photos(store: Store, count: int, seed: int, faces_per_photo: int = 1) -> None:
    vectors = unit_vectors(count * faces_per_photo, seed)
    for index in range(count):
        faces = [
            fake_face(vectors[index * faces_per_photo + offset], (0, 0, 10, 10)) for offset in range(faces_per_photo)
        ]
        store.record_photo(
            f"/photos/{seed}-{index}.jpg",
            status="indexed",
            content_hash=str(index),
            size=1,
            mtime_ns=1,
            model_id=MODEL,
            faces=faces,
        )


def brute_force(gallery_ids: np.ndarray, gallery: np.ndarray, query: np.ndarray, k: int) -> list[tuple[int, float]]:
    distances = np.linalg.norm(gallery - query, axis=1)
    order = np.argsort(distances)[:k]
    return [(int(gallery_ids[i]), float(distances[i])) for i in order]


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "gallery.db") as opened:
        opened.set_meta("model_id", MODEL)
        yield opened


def test_flat_search_matches_brute_force_euclidean():
    ids = np.arange(1000, 1200, dtype=np.int64) * 3  # sparse, non-contiguous ids
    vectors = unit_vectors(200, seed=1)
    index = VectorIndex.build(ids, vectors)
    assert index.kind == "flat"
    queries = unit_vectors(5, seed=2)
    for query, found in zip(queries, index.search(queries, 7), strict=True):
        expected = brute_force(ids, vectors, query, 7)
        assert [face_id for face_id, _ in found] == [face_id for face_id, _ in expected]
        np.testing.assert_allclose([d for _, d in found], [d for _, d in expected], atol=1e-5)


def test_search_caps_k_and_handles_empty_and_single_queries():
    vectors = unit_vectors(3, seed=3)
    index = VectorIndex.build(np.array([7, 8, 9]), vectors)
    (found,) = index.search(vectors[1], 50)  # a 1-D vector is one query
    assert len(found) == 3
    assert found[0][0] == 8 and found[0][1] == pytest.approx(0.0, abs=1e-3)
    assert VectorIndex.empty().search(vectors, 5) == [[], [], []]
    with pytest.raises(ValueError):
        index.search(np.ones((1, DIM + 1), dtype=np.float32), 1)


def test_kind_follows_the_size_threshold():
    assert choose_kind(999, ivfpq_min_faces=1000) == "flat"
    assert choose_kind(1000, ivfpq_min_faces=1000) == "ivfpq"
    # Never fewer vectors than the PQ codebooks need to train on, whatever the threshold.
    assert choose_kind(255, ivfpq_min_faces=10) == "flat"
    assert choose_kind(256, ivfpq_min_faces=10) == "ivfpq"


def clustered_vectors(count: int, seed: int, per_person: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Face-like vectors (persons as random centres, faces around them) and one fresh query per person."""
    rng = np.random.default_rng(seed)
    centres = unit_vectors(count // per_person, seed)
    picks = np.concatenate([np.repeat(np.arange(len(centres)), per_person), np.arange(len(centres))])
    vectors = centres[picks] + 0.035 * rng.standard_normal((picks.size, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors[:count], vectors[count:]


def exact_lookup(ids: np.ndarray, vectors: np.ndarray):
    """What Store.face_vectors gives an IVF-PQ index, from arrays."""
    by_id = dict(zip(ids.tolist(), vectors, strict=True))

    def lookup(wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        present = np.array([i for i in np.sort(wanted).tolist() if i in by_id], dtype=np.int64)
        return present, np.array([by_id[i] for i in present.tolist()], dtype=np.float32).reshape(-1, DIM)

    return lookup


def test_ivfpq_re_ranks_to_exact_distances_and_recall():
    vectors, queries = clustered_vectors(3000, seed=20)
    ids = np.arange(3000, dtype=np.int64) * 7 + 5  # sparse, non-contiguous ids
    index = VectorIndex.build(ids, vectors, ivfpq_min_faces=1000, exact=exact_lookup(ids, vectors))
    assert index.kind == "ivfpq"
    hits = 0
    for query, found in zip(queries, index.search(queries, 10), strict=True):
        expected = dict(brute_force(ids, vectors, query, 10))
        hits += len(expected.keys() & {face_id for face_id, _ in found})
        distances = [distance for _, distance in found]
        assert distances == sorted(distances)
        for face_id, distance in found:  # exact distances, not PQ estimates
            assert distance == pytest.approx(float(np.linalg.norm(vectors[(face_id - 5) // 7] - query)), abs=1e-5)
    assert hits / (10 * len(queries)) >= 0.99


def test_ivfpq_without_exact_vectors_refuses_to_search():
    vectors = unit_vectors(300, seed=21)
    index = VectorIndex.build(np.arange(300), vectors, kind="ivfpq")
    with pytest.raises(ValueError, match="exact vectors"):
        index.search(vectors[:1], 1)


def test_ivfpq_adds_and_removes_in_place():
    vectors = unit_vectors(1200, seed=22)
    ids = np.arange(1, 1201, dtype=np.int64)
    index = VectorIndex.build(ids[:1000], vectors[:1000], kind="ivfpq", exact=exact_lookup(ids, vectors))
    index.add(ids[1000:], vectors[1000:])
    index.remove(ids[:100])
    assert index.ids().tolist() == ids[100:].tolist()
    found = index.search(vectors, 1)
    assert [row[0][0] for row in found[100:]] == ids[100:].tolist()
    assert not {row[0][0] for row in found[:100]} & set(ids[:100].tolist())


def test_fingerprint_names_the_id_set_and_model():
    ids = np.array([5, 1, 9])
    assert Fingerprint.of(ids, MODEL) == Fingerprint.of(np.array([1, 5, 9]), MODEL)
    assert Fingerprint.of(ids, MODEL) != Fingerprint.of(np.array([1, 5, 10]), MODEL)
    assert Fingerprint.of(ids, MODEL) != Fingerprint.of(ids, "model-b")
    empty = Fingerprint.of(np.array([], dtype=np.int64), None)
    assert (empty.count, empty.max_id) == (0, 0)


def test_save_load_round_trip_leaves_no_temp_files(tmp_path):
    ids = np.array([3, 4, 11], dtype=np.int64)
    index = VectorIndex.build(ids, unit_vectors(3, seed=5))
    path = tmp_path / "faces.faiss"
    index.save(path, MODEL)
    loaded, model_id = VectorIndex.load(path)
    assert model_id == MODEL
    assert loaded.ids().tolist() == ids.tolist()
    assert loaded.search(unit_vectors(1, seed=5), 3) == index.search(unit_vectors(1, seed=5), 3)
    sidecar = json.loads(sidecar_path(path).read_text())
    assert (sidecar["count"], sidecar["max_id"], sidecar["model_id"], sidecar["kind"]) == (3, 11, MODEL, "flat")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faces.faiss", "faces.faiss.json"]


@pytest.mark.parametrize("damage", ["missing", "flipped", "truncated", "garbage", "no_sidecar", "bad_sidecar"])
def test_damaged_file_is_rebuilt_from_sqlite_with_the_same_ids(store, tmp_path, damage):
    add_photos(store, 40, seed=6, faces_per_photo=2)
    path = tmp_path / "faces.faiss"
    saved, changed = open_vectors(store, path, model_id=MODEL)
    assert changed  # no file yet
    saved.save(path, MODEL)
    data = path.read_bytes()
    if damage == "missing":
        path.unlink()
    elif damage == "flipped":
        flipped = bytearray(data)
        flipped[len(data) // 2] ^= 0xFF  # inside the vectors: FAISS alone would not notice
        path.write_bytes(bytes(flipped))
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 3])
    elif damage == "garbage":
        path.write_bytes(b"\0not faiss" * 50)
    elif damage == "no_sidecar":
        sidecar_path(path).unlink()
    else:
        sidecar_path(path).write_text("{not json")
    assert VectorIndex.load(path) is None
    rebuilt, changed = open_vectors(store, path, model_id=MODEL)
    assert changed
    assert rebuilt.ids().tolist() == store.face_ids().tolist()
    _, vectors = store.face_vectors()
    assert [row[0][0] for row in rebuilt.search(vectors, 1)] == store.face_ids().tolist()


def test_sound_file_is_used_as_is(store, tmp_path):
    add_photos(store, 10, seed=7)
    path = tmp_path / "faces.faiss"
    first, _ = open_vectors(store, path, model_id=MODEL)
    first.save(path, MODEL)
    again, changed = open_vectors(store, path, model_id=MODEL)
    assert not changed
    assert again.ids().tolist() == store.face_ids().tolist()


def test_stale_file_catches_up_with_added_and_removed_faces(store, tmp_path):
    add_photos(store, 10, seed=8)
    path = tmp_path / "faces.faiss"
    index, _ = open_vectors(store, path, model_id=MODEL)
    index.save(path, MODEL)
    first_photo = store.photos_by_path()["/photos/8-0.jpg"]
    store.mark_gone([first_photo.id])
    add_photos(store, 5, seed=9)
    caught_up, changed = open_vectors(store, path, model_id=MODEL)
    assert changed
    assert caught_up.ids().tolist() == store.face_ids().tolist()
    _, vectors = store.face_vectors()
    assert [row[0][0] for row in caught_up.search(vectors, 1)] == store.face_ids().tolist()


def test_file_from_another_model_is_rebuilt(store, tmp_path):
    add_photos(store, 5, seed=10)
    path = tmp_path / "faces.faiss"
    index, _ = open_vectors(store, path, model_id=MODEL)
    index.save(path, "some-older-model")
    _, changed = open_vectors(store, path, model_id=MODEL)
    assert changed


IVFPQ_AT = 1000  # the threshold the IVF-PQ gallery tests pass: 1,200 faces are past it


def test_ivfpq_gallery_switches_kind_with_size_and_keeps_its_quantizer(store, tmp_path):
    add_photos(store, 120, seed=11, faces_per_photo=10)
    path = tmp_path / "faces.faiss"
    index, _ = open_vectors(store, path, model_id=MODEL, ivfpq_min_faces=IVFPQ_AT)
    assert index.kind == "ivfpq"
    index.save(path, MODEL)
    assert load_trained(path, MODEL) is not None
    gone = [row.id for row in list(store.photos_by_path().values())[:30]]
    store.mark_gone(gone)  # 900 faces left: under the threshold
    shrunk, changed = open_vectors(store, path, model_id=MODEL, ivfpq_min_faces=IVFPQ_AT)
    assert changed and shrunk.kind == "flat"
    assert shrunk.ids().tolist() == store.face_ids().tolist()
    shrunk.save(path, MODEL)
    add_photos(store, 30, seed=14, faces_per_photo=10)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(vectors_module, "train_ivfpq", _no_training)
        grown, changed = open_vectors(store, path, model_id=MODEL, ivfpq_min_faces=IVFPQ_AT)
    assert changed and grown.kind == "ivfpq"
    assert grown.ids().tolist() == store.face_ids().tolist()


def _no_training(vectors: np.ndarray) -> None:
    raise AssertionError("trained again although a sound quantizer was stored")


def test_a_saved_ivfpq_file_reopens_and_catches_up_in_place(store, tmp_path):
    """Every match on a gallery past the IVF-PQ size reopens a saved IVF-PQ file."""
    add_photos(store, 120, seed=12, faces_per_photo=10)
    path = tmp_path / "faces.faiss"
    index, _ = open_vectors(store, path, model_id=MODEL, ivfpq_min_faces=IVFPQ_AT)
    index.save(path, MODEL)
    assert json.loads(sidecar_path(path).read_text())["kind"] == "ivfpq"
    reopened, changed = open_vectors(store, path, model_id=MODEL, ivfpq_min_faces=IVFPQ_AT)
    assert not changed and reopened.kind == "ivfpq"
    add_photos(store, 2, seed=13, faces_per_photo=10)
    store.mark_gone([store.photos_by_path()["/photos/12-0.jpg"].id])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(vectors_module, "train_ivfpq", _no_training)  # caught up, not rebuilt
        caught_up, changed = open_vectors(store, path, model_id=MODEL, ivfpq_min_faces=IVFPQ_AT)
    assert changed and caught_up.kind == "ivfpq"
    assert caught_up.ids().tolist() == store.face_ids().tolist()
    _, vectors = store.face_vectors()
    assert [row[0][0] for row in caught_up.search(vectors, 1)] == store.face_ids().tolist()


def test_damaged_ivfpq_file_is_rebuilt_from_sqlite_with_the_stored_quantizer(store, tmp_path):
    add_photos(store, 120, seed=15, faces_per_photo=10)
    path = tmp_path / "faces.faiss"
    index, _ = open_vectors(store, path, model_id=MODEL, ivfpq_min_faces=IVFPQ_AT)
    index.save(path, MODEL)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(vectors_module, "train_ivfpq", _no_training)
        rebuilt, changed = open_vectors(store, path, model_id=MODEL, ivfpq_min_faces=IVFPQ_AT)
    assert changed and rebuilt.kind == "ivfpq"
    assert rebuilt.ids().tolist() == store.face_ids().tolist()
    # A quantizer learnt for another model is not reused; a damaged one is replaced on save.
    assert load_trained(path, "some-other-model") is None
    trained_path(path).write_bytes(b"\0" + trained_path(path).read_bytes()[1:])
    assert load_trained(path, MODEL) is None
    retrained, _ = open_vectors(store, path, model_id=MODEL, ivfpq_min_faces=IVFPQ_AT)
    retrained.save(path, MODEL)
    assert load_trained(path, MODEL) is not None


def test_search_drops_candidates_that_left_sqlite(store, tmp_path):
    """A reader's IVF-PQ index can be behind a writer that just removed faces."""
    add_photos(store, 120, seed=16, faces_per_photo=10)
    index, _ = open_vectors(store, tmp_path / "faces.faiss", model_id=MODEL, ivfpq_min_faces=IVFPQ_AT)
    _, vectors = store.face_vectors()
    first = store.photos_by_path()["/photos/16-0.jpg"]
    removed = set(store.face_ids().tolist())
    store.mark_gone([first.id])
    removed -= set(store.face_ids().tolist())
    assert len(removed) == 10
    found = index.search(vectors[:10], 5)
    assert all(len(row) == 5 and not {face_id for face_id, _ in row} & removed for row in found)


def test_a_file_of_the_old_format_is_rebuilt(store, tmp_path):
    add_photos(store, 5, seed=17)
    path = tmp_path / "faces.faiss"
    index, _ = open_vectors(store, path, model_id=MODEL)
    index.save(path, MODEL)
    sidecar = json.loads(sidecar_path(path).read_text())
    sidecar_path(path).write_text(json.dumps({**sidecar, "format": 1, "kind": "hnsw"}))
    assert VectorIndex.load(path) is None
    _, changed = open_vectors(store, path, model_id=MODEL)
    assert changed


def test_gallery_repairs_and_records_kind(tmp_path):
    with Gallery.open(tmp_path / "g") as gallery:
        gallery.store.set_meta("model_id", MODEL)
        add_photos(gallery.store, 12, seed=12)
        index = gallery.vectors()
        assert index.ids().tolist() == gallery.store.face_ids().tolist()
        assert gallery.vectors_path.exists()  # no writer running: the repaired file is cached
        assert gallery.store.get_meta(META_VECTOR_INDEX) == "flat"
        gallery.vectors_path.write_bytes(b"corrupt")
    with Gallery.open(tmp_path / "g", create=False) as reader:
        assert reader.vectors().ids().tolist() == reader.store.face_ids().tolist()
        assert VectorIndex.load(reader.vectors_path) is not None


def test_gallery_past_the_threshold_records_ivfpq_and_matches_after_reopening(tmp_path):
    with Gallery.open(tmp_path / "g", ivfpq_min_faces=IVFPQ_AT) as gallery, gallery.write_lock():
        gallery.store.set_meta("model_id", MODEL)
        add_photos(gallery.store, 120, seed=18, faces_per_photo=10)
        assert gallery.sync_vectors().kind == "ivfpq"
        assert gallery.store.get_meta(META_VECTOR_INDEX) == "ivfpq"
        assert load_trained(gallery.vectors_path, MODEL) is not None
        _, vectors = gallery.store.face_vectors()
    with Gallery.open(tmp_path / "g", create=False, ivfpq_min_faces=IVFPQ_AT) as reader:
        index = reader.vectors()
        assert index.kind == "ivfpq"
        assert [row[0][0] for row in index.search(vectors[:20], 1)] == reader.store.face_ids()[:20].tolist()


def test_reader_does_not_write_while_a_writer_holds_the_lock(tmp_path):
    with Gallery.open(tmp_path / "g") as writer, writer.write_lock():
        writer.store.set_meta("model_id", MODEL)
        add_photos(writer.store, 4, seed=13)
        with Gallery.open(tmp_path / "g", create=False) as reader:
            assert reader.vectors().size == 4
        assert not writer.vectors_path.exists()
        assert writer.sync_vectors().size == 4
        assert VectorIndex.load(writer.vectors_path)[0].size == 4

"""match(): nearest gallery faces with paths, boxes, distances and the same-person verdict."""

from __future__ import annotations

import numpy as np
import pytest

from facesim import model_card
from facesim.detection import DetectedFace
from facesim.errors import FacesimError
from facesim.pipeline import Face
from index.gallery import Gallery
from index.search import match

from unit_vectors import at_distance

MODEL = "model-a"
DIM = 128
LANDMARKS = ((1, 1), (2, 2), (3, 3), (4, 4), (5, 5))


def add(gallery: Gallery, path: str, vectors: list[np.ndarray], boxes: list[tuple[int, int, int, int]]) -> int:
    faces = [Face(DetectedFace(box, 1.0, LANDMARKS), vector) for vector, box in zip(vectors, boxes, strict=True)]
    return gallery.store.record_photo(
        path, status="indexed", content_hash=path, size=1, mtime_ns=1, model_id=MODEL, faces=faces
    )


@pytest.fixture
def gallery(tmp_path):
    with Gallery.open(tmp_path / "g") as opened:
        opened.store.set_meta("model_id", MODEL)
        yield opened


@pytest.fixture
def query() -> np.ndarray:
    vector = np.random.default_rng(0).normal(size=DIM)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def test_results_are_nearest_first_with_paths_boxes_and_verdicts(gallery, query):
    limit = model_card.threshold()
    near, far = 0.5 * limit, min(1.9, 1.5 * limit)
    add(gallery, "/photos/far.jpg", [at_distance(query, far, 1)], [(5, 6, 7, 8)])
    add(
        gallery,
        "/photos/group.jpg",
        [at_distance(query, near, 2), at_distance(query, 1.99, 3)],
        [(1, 2, 3, 4), (9, 9, 20, 20)],
    )
    (results,) = match(gallery, query, top_k=2, model_id=MODEL)
    assert [str(hit.path) for hit in results] == ["/photos/group.jpg", "/photos/far.jpg"]
    assert results[0].box == (1, 2, 3, 4)
    assert [hit.distance for hit in results] == pytest.approx([near, far], abs=1e-4)
    assert [hit.same_person for hit in results] == [True, False]
    photo = gallery.store.photo("/photos/group.jpg")
    assert results[0].photo_id == photo.id
    assert results[0].face_id == gallery.store.faces_of(photo.id)[0]["id"]


def test_explicit_threshold_overrides_the_model_card(gallery, query):
    add(gallery, "/photos/a.jpg", [at_distance(query, 0.8, 1)], [(0, 0, 1, 1)])
    (strict,) = match(gallery, query, model_id=MODEL, threshold=0.5)
    (loose,) = match(gallery, query, model_id=MODEL, threshold=1.0)
    assert not strict[0].same_person and loose[0].same_person


def test_several_queries_and_top_k_capped_at_gallery_size(gallery, query):
    add(gallery, "/photos/a.jpg", [at_distance(query, 0.3, 1)], [(0, 0, 1, 1)])
    add(gallery, "/photos/b.jpg", [at_distance(-query, 0.3, 2)], [(0, 0, 1, 1)])
    results = match(gallery, np.stack([query, -query]), top_k=10, model_id=MODEL)
    assert [len(row) for row in results] == [2, 2]
    assert [str(row[0].path) for row in results] == ["/photos/a.jpg", "/photos/b.jpg"]


def test_only_indexed_photos_count(gallery, query):
    gone = add(gallery, "/photos/gone.jpg", [at_distance(query, 0.1, 1)], [(0, 0, 1, 1)])
    add(gallery, "/photos/kept.jpg", [at_distance(query, 0.6, 2)], [(0, 0, 1, 1)])
    gallery.vectors()  # the index now holds both faces
    gallery.store.mark_gone([gone])
    (results,) = match(gallery, query, top_k=5, model_id=MODEL)
    assert [str(hit.path) for hit in results] == ["/photos/kept.jpg"]
    gallery.store.db.execute("UPDATE photos SET status = 'error' WHERE path = '/photos/kept.jpg'")
    assert match(gallery, query, top_k=5, model_id=MODEL) == [[]]


def test_empty_gallery_returns_no_matches(gallery, query):
    assert match(gallery, query, model_id=MODEL) == [[]]


def test_gallery_from_another_model_is_refused(gallery, query):
    add(gallery, "/photos/a.jpg", [at_distance(query, 0.3, 1)], [(0, 0, 1, 1)])
    assert gallery.model_mismatch(MODEL) is None
    assert "model-b" in gallery.model_mismatch("model-b")
    with pytest.raises(FacesimError, match="re-embed"):
        match(gallery, query, model_id="model-b")


def test_bad_queries_are_rejected(gallery, query):
    with pytest.raises(FacesimError, match="dimensions"):
        match(gallery, np.ones(DIM + 3, dtype=np.float32), model_id=MODEL)
    with pytest.raises(ValueError):
        match(gallery, query, top_k=0, model_id=MODEL)


def test_reads_a_gallery_while_its_writer_holds_the_lock(tmp_path, query):
    with Gallery.open(tmp_path / "g") as writer, writer.write_lock():
        writer.store.set_meta("model_id", MODEL)
        add(writer, "/photos/a.jpg", [at_distance(query, 0.2, 1)], [(0, 0, 1, 1)])
        with Gallery.open(tmp_path / "g", create=False) as reader:
            (results,) = match(reader, query, model_id=MODEL)
        assert [str(hit.path) for hit in results] == ["/photos/a.jpg"]


def test_missing_gallery_is_a_clear_error(tmp_path):
    with pytest.raises(FacesimError, match="facesim index"):
        Gallery.open(tmp_path / "nowhere", create=False)
    assert not (tmp_path / "nowhere").exists()

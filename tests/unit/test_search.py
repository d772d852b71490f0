"""match(): the persons a query is, by the match rule, and the nearest gallery faces with paths,
boxes, distances and each face's verdict."""

from __future__ import annotations

import numpy as np
import pytest

from facesim import model_card
from facesim.errors import FacesimError
from facesim.model_card import MatchRule
from index.persons.persons import previous_assignment
from index.search import MATCH_CANDIDATES, Answer, PersonMatch, match
from index.store.gallery import Gallery

from support.fake_faces import fake_face
from support.unit_vectors import at_distance

MODEL = "model-a"
DIM = 128


def add(gallery: Gallery, path: str, vectors: list[np.ndarray], boxes: list[tuple[int, int, int, int]]) -> int:
    faces = [fake_face(vector, box) for vector, box in zip(vectors, boxes, strict=True)]
    return gallery.store.record_photo(
        path, status="indexed", content_hash=path, size=1, mtime_ns=1, model_id=MODEL, faces=faces
    )


def save_persons(gallery: Gallery, persons_of: dict[int, int], named: dict[int, str]) -> None:
    """Stores persons as `facesim clusters` would leave them."""
    previous_assignment(gallery.store)  # creates the persons tables
    with gallery.store.transaction():
        gallery.store.db["face_persons"].insert_all({"face_id": f, "person_id": p} for f, p in persons_of.items())
        gallery.store.db["persons"].insert_all({"id": p, "name": name} for p, name in named.items())


@pytest.fixture
def gallery(tmp_path):
    with Gallery.open(tmp_path / "g") as opened:
        opened.store.set_meta("model_id", MODEL)
        yield opened


@pytest.fixture
def query() -> np.ndarray:
    vector = np.random.default_rng(0).normal(size=DIM)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def cut_at(limit: float) -> MatchRule:
    """A rule that only cuts, so a face's verdict is its distance against `limit`."""
    return MatchRule(limit, None, None, limit)


def test_results_are_nearest_first_with_paths_boxes_and_verdicts(gallery, query):
    limit = model_card.match_rule().list_cut
    near, far = 0.5 * limit, min(1.9, 1.5 * limit)
    add(gallery, "/photos/far.jpg", [at_distance(query, far, 1)], [(5, 6, 7, 8)])
    add(
        gallery,
        "/photos/group.jpg",
        [at_distance(query, near, 2), at_distance(query, 1.99, 3)],
        [(1, 2, 3, 4), (9, 9, 20, 20)],
    )
    (answer,) = match(gallery, query, top_k=2, model_id=MODEL)
    results = answer.matches
    assert [str(hit.path) for hit in results] == ["/photos/group.jpg", "/photos/far.jpg"]
    assert results[0].box == (1, 2, 3, 4)
    assert [hit.distance for hit in results] == pytest.approx([near, far], abs=1e-4)
    assert [hit.same_person for hit in results] == [True, False]
    photo = gallery.store.photo("/photos/group.jpg")
    assert results[0].photo_id == photo.id
    assert results[0].face_id == gallery.store.faces_of(photo.id)[0]["id"]
    assert not answer.nobody and answer.persons == []  # a gallery never clustered has no persons to name


def test_an_explicit_rule_overrides_the_model_card(gallery, query):
    add(gallery, "/photos/a.jpg", [at_distance(query, 0.8, 1)], [(0, 0, 1, 1)])
    (strict,) = match(gallery, query, model_id=MODEL, rule=cut_at(0.5))
    (loose,) = match(gallery, query, model_id=MODEL, rule=cut_at(1.0))
    assert not strict.matches[0].same_person and strict.nobody
    assert loose.matches[0].same_person and not loose.nobody


def test_several_queries_and_top_k_capped_at_gallery_size(gallery, query):
    add(gallery, "/photos/a.jpg", [at_distance(query, 0.3, 1)], [(0, 0, 1, 1)])
    add(gallery, "/photos/b.jpg", [at_distance(-query, 0.3, 2)], [(0, 0, 1, 1)])
    results = match(gallery, np.stack([query, -query]), top_k=10, model_id=MODEL)
    assert [len(answer.matches) for answer in results] == [2, 2]
    assert [str(answer.matches[0].path) for answer in results] == ["/photos/a.jpg", "/photos/b.jpg"]


def test_answers_name_the_persons_with_their_agreeing_faces(gallery, query):
    """Ada's two faces under the cut agree, her third is over it; Bob is far. A ratio test
    would refuse Ada if her own faces counted as the next person."""
    rule = MatchRule(0.6, 0.8, None, 0.6)
    ada = [
        add(gallery, f"/photos/ada{n}.jpg", [at_distance(query, d, n)], [(0, 0, 1, 1)])
        for n, d in ((1, 0.3), (2, 0.32), (3, 0.7))
    ]
    bob = add(gallery, "/photos/bob.jpg", [at_distance(-query, 0.3, 9)], [(0, 0, 1, 1)])
    face_of = {photo: gallery.store.faces_of(photo)[0]["id"] for photo in [*ada, bob]}
    persons_of = {face_of[photo]: 5 for photo in ada} | {face_of[bob]: 6}
    save_persons(gallery, persons_of, {5: "Ada"})
    (answer,) = match(gallery, query, model_id=MODEL, rule=rule)
    assert answer.persons == [PersonMatch(5, "Ada", 2, pytest.approx(0.3, abs=1e-4))]
    assert [(hit.person, hit.name, hit.same_person) for hit in answer.matches] == [
        (5, "Ada", True),
        (5, "Ada", True),
        (5, "Ada", False),
        (6, "", False),
    ]
    (stranger,) = match(gallery, at_distance(query, 1.2, 20), model_id=MODEL, rule=rule)
    assert stranger.nobody and stranger.persons == [] and len(stranger.matches) == 4
    (every,) = match(gallery, at_distance(query, 1.2, 20), top_k=2, model_id=MODEL, rule=rule, every_match=True)
    assert every.nobody and len(every.matches) == 2  # the nearest faces, not the same person


def test_faces_in_no_person_are_grouped_before_the_ratio_test(gallery, query):
    """A gallery never clustered: two faces of one person, close together and equally near the
    query, are one person to the rule, not two look-alikes that cancel each other."""
    add(gallery, "/photos/a.jpg", [at_distance(query, 0.30, 1)], [(0, 0, 1, 1)])
    add(gallery, "/photos/b.jpg", [at_distance(query, 0.31, 2)], [(0, 0, 1, 1)])
    (answer,) = match(gallery, query, model_id=MODEL, rule=MatchRule(0.6, 0.8, None, 0.6))
    assert [hit.same_person for hit in answer.matches] == [True, True]


def test_every_match_widens_past_the_first_candidates(gallery, query):
    """More faces under the listing cut than the first search looks at: --all lists them all."""
    limit = 1.0
    near = MATCH_CANDIDATES + 20
    for n in range(near):
        add(gallery, f"/photos/near{n}.jpg", [at_distance(query, 0.2 + 0.5 * n / near, n + 1)], [(0, 0, 1, 1)])
    for n in range(10):
        add(gallery, f"/photos/far{n}.jpg", [at_distance(query, 1.3 + 0.01 * n, 1000 + n)], [(0, 0, 1, 1)])
    (top,) = match(gallery, query, top_k=3, model_id=MODEL, rule=cut_at(limit))
    (every,) = match(gallery, query, top_k=3, model_id=MODEL, rule=cut_at(limit), every_match=True)
    assert len(top.matches) == 3
    assert len(every.matches) == near and all(hit.same_person for hit in every.matches)


def test_only_indexed_photos_count(gallery, query):
    gone = add(gallery, "/photos/gone.jpg", [at_distance(query, 0.1, 1)], [(0, 0, 1, 1)])
    add(gallery, "/photos/kept.jpg", [at_distance(query, 0.6, 2)], [(0, 0, 1, 1)])
    gallery.vectors()  # the index now holds both faces
    gallery.store.mark_gone([gone])
    (answer,) = match(gallery, query, top_k=5, model_id=MODEL)
    assert [str(hit.path) for hit in answer.matches] == ["/photos/kept.jpg"]
    gallery.store.db.execute("UPDATE photos SET status = 'error' WHERE path = '/photos/kept.jpg'")
    assert match(gallery, query, top_k=5, model_id=MODEL) == [Answer([], [])]


def test_empty_gallery_returns_no_matches(gallery, query):
    (answer,) = match(gallery, query, model_id=MODEL)
    assert answer == Answer([], []) and answer.nobody


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
            (answer,) = match(reader, query, model_id=MODEL)
        assert [str(hit.path) for hit in answer.matches] == ["/photos/a.jpg"]


def test_missing_gallery_is_a_clear_error(tmp_path):
    with pytest.raises(FacesimError, match="facesim index"):
        Gallery.open(tmp_path / "nowhere", create=False)
    assert not (tmp_path / "nowhere").exists()

"""What `clusters` decides before it shows anything: store the first clustering, try another rule
without storing it, store it with --apply, or show the stored persons once new faces joined
them; and the notes that say so when that is not what was asked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facesim import model_card
from index.gallery_clusters import list_persons
from index.persons.persons import has_persons, previous_assignment, set_name, unassigned_count
from index.store import gallery as gallery_module
from index.store.gallery import Gallery

from support.fake_faces import fake_face

MODEL = "model-under-test"
CARD = {
    "threshold": 1.0,
    "model_id": MODEL,
    "clustering": {"linkage": "complete", "cuts": {"complete": 1.0, "average": 0.9}, "params": {}},
    "matching": {"rule": {"cut": 1.0, "ratio": None, "cohort_z": None, "list_cut": 1.0}},
}

# A photo as `facesim index` records one it found faces in, made by the model the card names.
INDEXED = {"status": "indexed", "size": 1, "mtime_ns": 1, "model_id": MODEL}


def unit(rng: np.random.Generator, centre: np.ndarray) -> np.ndarray:
    vector = centre + 0.3 * rng.normal(size=centre.shape) / np.sqrt(len(centre))
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def add_photo(opened: Gallery, path: str, vector: np.ndarray) -> None:
    opened.store.record_photo(path, content_hash=path, faces=[fake_face(vector)], **INDEXED)


@pytest.fixture
def gallery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two people of three one-face photos each and one face alone, never clustered."""
    monkeypatch.setattr(model_card, "_cached", lambda path: CARD)
    rng = np.random.default_rng(0)
    index_dir = tmp_path / "gallery"
    with Gallery.open(index_dir) as opened:
        opened.store.set_meta("model_id", MODEL)
        for name in "AB":
            centre = rng.normal(size=128)
            for number in range(3):
                add_photo(opened, f"/photos/{name}{number}.jpg", unit(rng, centre))
        add_photo(opened, "/photos/alone.jpg", unit(rng, rng.normal(size=128)))
    return index_dir


def stored(index_dir: Path) -> dict[int, int]:
    with Gallery.open(index_dir, create=False) as opened:
        return previous_assignment(opened.store)


def test_the_first_run_stores_the_calibrated_clustering_and_says_nothing_more(gallery: Path) -> None:
    listing = list_persons(gallery, linkage=None, apply=False, min_size=2)
    assert listing.notes == [] and len(stored(gallery)) == 7
    assert (listing.clustering.persons, listing.clustering.singletons, listing.hidden) == (2, 1, 1)
    assert listing.summary() == "2 persons, 1 face that matches nobody (1 face in persons under --min-size 2 not shown)"
    (first, second) = listing.table_rows()
    assert (first[:3], second[:3]) == (["1", "", "3"], ["2", "", "3"])
    assert sorted(first[3].split(",")) == ["1", "2", "3"]  # the faces nearest the person's centre first
    assert sorted(first[4].split(", ")) == ["/photos/A0.jpg", "/photos/A1.jpg", "/photos/A2.jpg"]


def test_another_linkage_is_a_trial_unless_applied(gallery: Path) -> None:
    list_persons(gallery, linkage=None, apply=False, min_size=1)
    before = stored(gallery)
    trial = list_persons(gallery, linkage="average", apply=False, min_size=1)
    assert trial.notes == [
        "a trial of --linkage average, not stored: the gallery keeps its persons (add --apply to store this clustering)"
    ]
    assert stored(gallery) == before
    assert list_persons(gallery, linkage="average", apply=True, min_size=1).notes == []


def test_the_calibrated_rule_named_on_a_new_gallery_is_tried_not_stored(gallery: Path) -> None:
    assert list_persons(gallery, linkage="average", apply=False, min_size=2).notes[0].startswith("a trial of")
    assert stored(gallery) == {}


def test_a_read_only_gallery_clusters_without_storing(gallery: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gallery_module, "_writable", lambda directory, database: False)
    listing = list_persons(gallery, linkage=None, apply=False, min_size=2)
    assert listing.notes == ["persons clustered now and not stored: the gallery is read-only"]
    assert listing.clustering.persons == 2


def test_new_faces_join_the_stored_persons_or_wait_for_the_writer(gallery: Path, monkeypatch) -> None:
    list_persons(gallery, linkage=None, apply=False, min_size=2)
    a_face = next(iter(stored(gallery)))
    with Gallery.open(gallery, create=False) as opened:
        add_photo(opened, "/photos/A3.jpg", opened.store.face_vectors([a_face])[1][0])
        with opened.write_lock():  # a running `facesim index`
            assert list_persons(gallery, linkage=None, apply=False, min_size=2).notes == [
                "1 faces of the running `facesim index` join persons when it ends"
            ]
    assert list_persons(gallery, linkage=None, apply=False, min_size=2).notes == []
    with Gallery.open(gallery, create=False) as opened:
        assert unassigned_count(opened.store) == 0 and has_persons(opened.store)
        add_photo(opened, "/photos/A4.jpg", opened.store.face_vectors([a_face])[1][0])
    monkeypatch.setattr(gallery_module, "_writable", lambda directory, database: False)
    assert list_persons(gallery, linkage=None, apply=False, min_size=2).notes == [
        "1 faces are in no person yet: the gallery is read-only"
    ]


def test_a_list_of_faces_says_which_it_left_out_and_names_kept_without_faces(gallery: Path, monkeypatch) -> None:
    list_persons(gallery, linkage=None, apply=False, min_size=2)
    with Gallery.open(gallery, create=False) as opened:
        set_name(opened.store, 1, "Ada")
        set_name(opened.store, 2, "Bea")
    everyone = {**CARD, "clustering": {**CARD["clustering"], "cuts": {"complete": 1.0, "average": 2.0}}}
    monkeypatch.setattr(model_card, "_cached", lambda path: everyone)  # one person of every face
    listing = list_persons(gallery, linkage="average", apply=False, min_size=2)
    (kept,) = {row.person_id for row in listing.rows}
    named = f"names kept for persons with no face in this clustering: {3 - kept} {'Bea' if kept == 1 else 'Ada'}"
    assert listing.notes_for(faces_listed=False) == [listing.notes[0], named]
    monkeypatch.setattr(model_card, "_cached", lambda path: CARD)
    listing = list_persons(gallery, linkage=None, apply=False, min_size=2)
    left_out = "left out 1 face of persons under --min-size 2 (--min-size 1 exports every face)"
    assert listing.notes_for(faces_listed=True) == [left_out]
    assert listing.notes_for(faces_listed=False) == []
    assert len(listing.every_face) == 7
    assert listing.after_export("csv", None) == ([left_out], None)
    assert listing.after_export("html", None) == ([], None)  # the sheet says how many it hid
    assert listing.after_export("xmp", Path("sidecars")) == ([left_out], None)
    written = f"wrote 6 faces to people.json: {listing.summary()}"
    assert listing.after_export("json", Path("people.json")) == ([], written)
    every = list_persons(gallery, linkage=None, apply=False, min_size=1)
    assert every.hidden == 0 and every.notes_for(faces_listed=True) == [] and every.every_face == []

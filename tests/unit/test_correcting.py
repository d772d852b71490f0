"""The corrections as a user gives them: persons by id or name, and what each did in the sentence
the command prints, one a person when faces go to several."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facesim import model_card
from facesim.errors import FacesimError
from index.persons import correcting
from index.persons.persons import cluster_gallery, previous_assignment
from index.store.gallery import Gallery

from support.fake_faces import fake_face

MODEL = "model-under-test"
CARD = {
    "threshold": 1.0,
    "model_id": MODEL,
    "clustering": {"linkage": "complete", "cuts": {"complete": 1.0}, "params": {}},
}

# A photo as `facesim index` records one it found faces in, made by the model the card names.
INDEXED = {"status": "indexed", "size": 1, "mtime_ns": 1, "model_id": MODEL}


@pytest.fixture
def gallery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Persons 1, 2 and 3 of one-face photos (faces 1-3, 4-5 and 6-7), stored."""
    monkeypatch.setattr(model_card, "_cached", lambda path: CARD)
    index_dir = tmp_path / "gallery"
    axes = np.eye(128, dtype=np.float32)
    with Gallery.open(index_dir) as opened:
        opened.store.set_meta("model_id", MODEL)
        for number, person in enumerate((0, 0, 0, 1, 1, 2, 2)):
            vector = axes[person] * 0.99 + axes[10 + number] * np.sqrt(1 - 0.99**2)
            face = fake_face(vector.astype(np.float32))
            opened.store.record_photo(f"/p/{number}.jpg", content_hash=str(number), faces=[face], **INDEXED)
        cluster_gallery(opened.store, 1.0, "complete")
        assert sorted(set(previous_assignment(opened.store).values())) == [1, 2, 3]
    return index_dir


def test_each_correction_says_what_it_did(gallery: Path) -> None:
    assert correcting.name_person(gallery, "1", "Ada").said == ["person 1 is now 'Ada'"]
    assert correcting.merge(gallery, "ada", ["2", "3"]).said == ["persons 2, 3 merged into person 1 (4 faces)"]
    assert correcting.split(gallery, "Ada").said == ["undid 6 corrections of person 1; now 3 persons"]
    (moved,) = correcting.move(gallery, [6, 7], "new").said
    new = moved.removeprefix("faces 6, 7 are now in person ")
    assert new.isdigit() and int(new) > 3  # a new person gets an id never handed out
    assert correcting.move(gallery, [5], new).said == [f"face 5 is now in person {new}"]


def test_a_reject_says_where_each_face_went(gallery: Path) -> None:
    assert correcting.reject(gallery, [1, 2], None, each=True, new_name=None).said == [
        "face 1 is now person 4",
        "face 2 is now person 5",
    ]
    assert correcting.reject(gallery, [4], "2", each=False, new_name="Bea").said == ["face 4 is now person 6 'Bea'"]
    assert correcting.unreject(gallery, [1], None).said == ["face 1 is in person 1"]


def test_a_name_goes_with_the_one_person_the_faces_make_together(gallery: Path) -> None:
    with pytest.raises(FacesimError, match="cannot go with --each"):
        correcting.reject(gallery, [1, 2], None, each=True, new_name="Bob")
    with pytest.raises(FacesimError, match="none of them is in 3"):
        correcting.reject(gallery, [1], "3", each=False, new_name="Bob")
    assert correcting.reject(gallery, [1, 2], None, each=False, new_name=None).said == ["faces 1, 2 are now person 4"]

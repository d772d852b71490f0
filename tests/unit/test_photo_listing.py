"""What `facesim photos` lists, without the model: the options it refuses, every photo in path
order with its copies and what went wrong with it, and one person's faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facesim import model_card
from facesim.errors import FacesimError
from index.persons.persons import cluster_gallery
from index.photo_listing import NO_FACE_HINT, list_photos
from index.store.gallery import Gallery

from support.fake_faces import fake_face

MODEL = "model-under-test"


@pytest.fixture
def gallery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """b.jpg with a face and a copy, a.png that is no image, c.jpg without a face; clustered."""
    monkeypatch.setattr(model_card, "_cached", lambda path: {"threshold": 1.0, "model_id": MODEL})
    index_dir = tmp_path / "gallery"
    face = fake_face(np.eye(128, dtype=np.float32)[0], (1, 2, 30, 40))
    with Gallery.open(index_dir) as opened:
        store = opened.store
        store.set_meta("model_id", MODEL)
        seen = {"size": 1, "mtime_ns": 1, "model_id": MODEL}
        photo = store.record_photo("/p/b.jpg", status="indexed", content_hash="b", faces=[face], **seen)
        store.add_location(photo, "/q/b copy.jpg", size=1, mtime_ns=1)
        store.record_photo("/p/a.png", status="error", content_hash=None, error="/p/a.png: not an image", **seen)
        store.record_photo("/p/c.jpg", status="no_face", content_hash="c", **seen)
        cluster_gallery(store, 1.0, "complete")
    return index_dir


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"status": "faceless", "export": "pdf"}, "unknown status 'faceless'; choose one of: indexed, no_face"),
        ({"export": "csv"}, "--export csv lists one person's photos: give PERSON"),
        ({"person": "1", "export": "json"}, "--export csv lists one person's photos: give PERSON"),
        ({"person": "1", "status": "indexed"}, "give PERSON or --status, not both"),
    ],
)
def test_options_that_cannot_go_together_are_refused_before_the_gallery_is_opened(
    tmp_path: Path, options: dict, message: str
) -> None:
    with pytest.raises(FacesimError, match=f"^{message}"):
        list_photos(tmp_path / "none", **{"person": None, "status": None, "export": None, **options})


def test_every_photo_in_path_order_with_its_copies_and_its_error_said_once(gallery: Path) -> None:
    listing = list_photos(gallery, person=None, status=None, export=None)
    assert [(row["path"], row["status"], row["faces"]) for row in listing.data] == [
        ("/p/a.png", "error", 0),
        ("/p/b.jpg", "indexed", 1),
        ("/p/c.jpg", "no_face", 0),
    ]
    assert listing.data[1]["other_paths"] == ["/q/b copy.jpg"]
    assert listing.cells == [
        ["error", "/p/a.png", "not an image"],
        ["indexed", "/p/b.jpg"],
        ["indexed", "/q/b copy.jpg", "copy of /p/b.jpg"],
        ["no_face", "/p/c.jpg"],
    ]
    assert listing.faces == [] and listing.notices == [] and listing.hints == []


def test_one_status_drops_the_status_column_and_photos_without_a_face_get_the_hint(gallery: Path) -> None:
    assert list_photos(gallery, person=None, status="indexed", export=None).cells == [
        ["/p/b.jpg"],
        ["/q/b copy.jpg", "copy of /p/b.jpg"],
    ]
    assert list_photos(gallery, person=None, status="no_face", export=None).hints == [NO_FACE_HINT]
    assert list_photos(gallery, person=None, status="gone", export=None).hints == []


def test_a_persons_faces_with_their_boxes(gallery: Path) -> None:
    listing = list_photos(gallery, person="1", status=None, export="csv")
    assert listing.cells == [["/p/b.jpg", "face 1", "box 1,2,30,40"]]
    assert listing.data == [
        {
            "path": "/p/b.jpg",
            "face_id": 1,
            "box": [1, 2, 30, 40],
            "person": 1,
            "name": "",
            "other_paths": ["/q/b copy.jpg"],
        }
    ]
    assert [face.face_id for face in listing.faces] == [1]

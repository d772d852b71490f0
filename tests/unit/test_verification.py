"""verify's questions without the model: the closest pair of the faces compared, the verdict at
the threshold, and a CSV of pairs, each photo embedded once and a bad photo failing its pairs
alone. Detection and the encoder are stood in for through facesim.pipeline."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from facesim import pipeline
from facesim.errors import NoFaceError
from facesim.pipeline import Face
from facesim.verification import (
    PAIRS_CSV_COLUMNS,
    PhotoFaces,
    closest_pair,
    pairs_csv,
    verdict,
    verify_pairs,
    verify_photos,
)

from support.fake_faces import fake_face
from support.unit_vectors import at_distance, on_circle


def face(vector: np.ndarray, left: int = 10) -> Face:
    return fake_face(vector, (left, 10, left + 40, 50))


@dataclass
class Photos:
    """Photo name -> its faces, largest first (a name not here shows no face), and the photos
    embedded so far, in order."""

    faces: dict[str, list[Face]] = field(default_factory=dict)
    embedded: list[str] = field(default_factory=list)

    def locate_faces(self, path: Path, detector: str = "yunet", every_face: bool = False) -> tuple:
        faces = self.faces.get(Path(path).name, [])
        if not faces:
            raise NoFaceError(f"{path}: no face found")
        return Path(path).name, [f.detection for f in (faces if every_face else faces[:1])], len(faces)

    def embed_faces(self, rgb: str, detections: list, embedder: object = None) -> list[Face]:
        self.embedded.append(rgb)
        return [f for f in self.faces[rgb] if f.detection in detections]


@pytest.fixture
def photos(monkeypatch: pytest.MonkeyPatch) -> Photos:
    stand_in = Photos()
    monkeypatch.setattr(pipeline, "locate_faces", stand_in.locate_faces)
    monkeypatch.setattr(pipeline, "embed_faces", stand_in.embed_faces)
    return stand_in


def test_the_closest_pair_is_the_nearest_of_all_the_faces_compared() -> None:
    a, b, c, d = on_circle([0.0, 0.5, 2.0, 2.1])
    found = closest_pair(PhotoFaces([face(a, 1), face(b, 2)], 3), PhotoFaces([face(c, 3), face(d, 4)], 2))
    assert found.distance == pytest.approx(np.linalg.norm(b - c), abs=1e-6)
    assert (found.faces_a, found.faces_b, found.box_a, found.box_b) == (3, 2, [2, 10, 42, 50], [3, 10, 43, 50])


@pytest.mark.parametrize(("offset", "same"), [(-1e-3, True), (0.0, False), (1e-3, False)])
def test_the_verdict_is_same_person_strictly_under_the_threshold(offset: float, same: bool) -> None:
    anchor = on_circle([0.0])[0]
    pair = closest_pair(PhotoFaces([face(anchor)], 1), PhotoFaces([face(at_distance(anchor, 0.9, 1))], 1))
    answer = verdict(pair, pair.distance - offset)
    assert answer.same_person is same
    assert list(answer.as_dict()) == ["distance", "faces_a", "faces_b", "box_a", "box_b", "threshold", "same_person"]
    assert answer.as_dict()["distance"] == round(pair.distance, 4)


def test_a_group_photo_says_which_face_was_compared(photos: Photos, tmp_path: Path) -> None:
    a, b, c = on_circle([0.0, 1.0, 1.1])
    photos.faces["group.jpg"], photos.faces["one.jpg"] = [face(a, 1), face(b, 2)], [face(c, 3)]
    largest = verify_photos(tmp_path / "group.jpg", tmp_path / "one.jpg", "hog", False, 1.0)
    closest = verify_photos(tmp_path / "group.jpg", tmp_path / "one.jpg", "hog", True, 1.0)
    assert (largest.pair.box_a, closest.pair.box_a) == ([1, 10, 41, 50], [2, 10, 42, 50])
    assert largest.face_lines(Path("group.jpg"), Path("one.jpg"), False) == [
        "group.jpg shows 2 faces; compared the largest, box 1,10,41,50 (--all-faces compares every face)"
    ]
    assert closest.face_lines(Path("group.jpg"), Path("one.jpg"), True) == [
        "group.jpg shows 2 faces; compared the closest, box 2,10,42,50"
    ]
    assert (
        verify_photos(tmp_path / "one.jpg", tmp_path / "one.jpg", "hog", False, 1.0).face_lines(
            Path("one.jpg"), Path("one.jpg"), False
        )
        == []
    )


def test_both_photos_are_checked_before_either_is_embedded(photos: Photos, tmp_path: Path) -> None:
    photos.faces["one.jpg"] = [face(on_circle([0.0])[0])]
    with pytest.raises(NoFaceError):
        verify_photos(tmp_path / "one.jpg", tmp_path / "blank.jpg", "hog", False, 1.0)
    assert photos.embedded == []


def test_pairs_are_answered_in_order_each_photo_embedded_once_a_bad_photo_failing_its_pairs_alone(
    photos: Photos, tmp_path: Path
) -> None:
    a, b = on_circle([0.0, 0.3])
    photos.faces["a.jpg"], photos.faces["b.jpg"] = [face(a)], [face(b)]
    source = tmp_path / "pairs.csv"
    source.write_text("path_a,path_b\na.jpg,b.jpg\na.jpg,blank.jpg\nb.jpg,a.jpg\n")
    answers = verify_pairs(source, "hog", False, 0.5)
    assert photos.embedded == ["a.jpg", "b.jpg"]
    assert [answer.error for answer in answers] == [None, f"{tmp_path / 'blank.jpg'}: no face found", None]
    good, bad, _ = (answer.as_dict() for answer in answers)
    assert list(good) == [
        "path_a",
        "path_b",
        "distance",
        "faces_a",
        "faces_b",
        "box_a",
        "box_b",
        "same_person",
        "error",
        "threshold",
    ]
    assert (good["path_a"], good["same_person"], good["threshold"]) == (str(tmp_path / "a.jpg"), True, 0.5)
    assert bad == {
        "path_a": str(tmp_path / "a.jpg"),
        "path_b": str(tmp_path / "blank.jpg"),
        "error": f"{tmp_path / 'blank.jpg'}: no face found",
        "threshold": 0.5,
    }
    rows = list(csv.reader(io.StringIO(pairs_csv(answers))))
    assert rows[0] == list(PAIRS_CSV_COLUMNS)
    assert rows[1][2:] == [str(good["distance"]), "True", "1", "1", ""]
    assert rows[2][2:] == ["", "", "", "", bad["error"]]

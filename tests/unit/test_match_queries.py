"""How match's answers are gathered and shown, without the model: query folders give their photos
and their unreadable entries as failed queries, and an answer's rows say which face was searched,
who matched and where the query's own photo is."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from index.match.queries import persons_rows, photos_rows, query_photos, searched_note

from support.sample_gallery import SAMPLE_PHOTOS

PHOTO = {
    "path": "/p/a.jpg",
    "other_paths": [],
    "face_id": 7,
    "box": [1, 2, 3, 4],
    "distance": 0.41234,
    "same_person": True,
    "person": 3,
    "name": "",
    "query_photo": False,
}
FACE = {
    "query_face": 0,
    "query_box": [10, 20, 30, 40],
    "nobody": False,
    "persons": [{"person": 3, "name": "Ada", "faces": 2, "distance": 0.4123}],
    "photos": [PHOTO],
}


def test_a_folder_gives_its_photos_and_an_empty_one_is_a_failed_query(tmp_path: Path) -> None:
    folder, empty = tmp_path / "folder", tmp_path / "empty"
    folder.mkdir()
    empty.mkdir()
    (folder / "a.jpg").write_bytes((SAMPLE_PHOTOS / "Salma_Hayek_0001.jpg").read_bytes())
    missing = tmp_path / "missing.jpg"
    assert query_photos([folder, empty, missing]) == [
        (folder / "a.jpg", None),
        (empty, f"{empty}: a folder with no photos"),
        (missing, None),  # reported when it is read, as verify reports it
    ]


@pytest.mark.skipif(os.geteuid() == 0, reason="permissions do not stop root")
def test_an_unreadable_folder_inside_is_a_failed_query(tmp_path: Path) -> None:
    locked = tmp_path / "folder" / "locked"
    locked.mkdir(parents=True)
    locked.chmod(0)
    try:
        ((path, problem),) = query_photos([tmp_path / "folder"])
    finally:
        locked.chmod(0o755)
    assert path == locked and "cannot read" in problem


def test_the_searched_face_is_named_only_when_the_photo_shows_several_and_one_was_searched() -> None:
    answer = {"query": "/elsewhere/group.jpg", "query_faces": 3, "faces": [FACE]}
    assert searched_note(answer, all_faces=False) == [
        "/elsewhere/group.jpg shows 3 faces; searched the largest, box 10,20,30,40 (--all-faces searches each)"
    ]
    assert searched_note(answer, all_faces=True) == []
    assert searched_note({**answer, "query_faces": 1}, all_faces=False) == []


def test_rows_give_persons_and_photos_with_the_verdict_left_for_the_table() -> None:
    assert persons_rows(FACE) == [["3", "Ada", "2", "0.412"]]
    assert photos_rows(FACE) == [["0.412", True, "/p/a.jpg", "7", "1,2,3,4", "3"]]
    copies = {
        **PHOTO,
        "other_paths": ["/q/a.jpg", "/r/a.jpg"],
        "query_photo": True,
        "name": "Ada",
        "same_person": False,
    }
    assert photos_rows({**FACE, "photos": [copies]}) == [
        ["0.412", False, "/p/a.jpg (+2 duplicates) (the query photo)", "7", "1,2,3,4", "Ada"]
    ]
    assert photos_rows({**FACE, "photos": [{**PHOTO, "person": None}]})[0][-1] == ""

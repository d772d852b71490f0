"""`facesim match` over query photos and folders: each photo's answer in the one shape a script
reads, whether anyone matched or nobody did, given one photo at a time so a folder's answers
stream and a photo that cannot be used costs only its own answer; and the rows of the tables
that show an answer to people."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from facesim.config import checked_detector
from facesim.errors import FacesimError
from facesim.pipeline import Face
from facesim.verification import DISTANCE_DECIMALS, photo_faces
from facesim.wording import absolute, plural, shown
from index.ingest.examine import file_hash
from index.ingest.scan import scan_folder
from index.search import Answer
from index.search import match as search
from index.store.database import Store
from index.store.gallery import Gallery

PERSONS_COLUMNS = ("person", "name", "faces that agree", "best distance")
PHOTOS_COLUMNS = ("distance", "same person", "photo", "face", "box", "person")


def answer_queries(
    index_dir: Path | None, queries: list[Path], *, top_k: int, all_faces: bool, every_match: bool, detector: str
) -> Iterator[dict[str, Any]]:
    """One answer per query photo, in order: {query, query_faces, error, faces}, where `faces`
    holds one answer per query face searched (the main one, or with all_faces each)."""
    photos = query_photos(queries)
    with Gallery.open(index_dir, create=False) as gallery:
        for photo, problem in photos:
            if problem is None:
                try:
                    found = photo_faces(photo, checked_detector(detector), all_faces)
                except FacesimError as exc:
                    problem = str(exc)
            if problem is not None:
                yield {"query": absolute(photo), "query_faces": 0, "error": problem, "faces": []}
                continue
            vectors = np.stack([face.embedding for face in found.faces])
            answers = search(gallery, vectors, top_k, every_match=every_match)
            copies = gallery.store.other_paths([hit.photo_id for answer in answers for hit in answer.matches])
            itself = gallery_photo_of(gallery.store, photo)
            yield {
                "query": absolute(photo),
                "query_faces": found.count,
                "error": None,
                "faces": [
                    face_answer(number, face, answer, copies, itself)
                    for number, (face, answer) in enumerate(zip(found.faces, answers, strict=True))
                ],
            }


def query_photos(queries: list[Path]) -> list[tuple[Path, str | None]]:
    """Each query photo with the reason it cannot be used, if any: a folder gives its photos, and
    its unreadable entries as failed queries."""
    photos: list[tuple[Path, str | None]] = []
    for query in queries:
        if query.is_dir():
            found = scan_folder(query)
            photos += [(photo, None) for photo in found.photos]
            photos += [(Path(path), message) for path, message in found.errors]
            if not found.photos and not found.errors:
                photos.append((query, f"{query}: a folder with no photos"))
        else:  # a missing or unreadable file is reported when it is read, as verify reports it
            photos.append((query, None))
    return photos


def face_answer(number: int, face: Face, answer: Answer, copies: dict[int, list[str]], itself: int | None) -> dict:
    """One query face's answer, the same shape whether someone matched or nobody did; the query's
    own photo, when the gallery holds it, is marked as such rather than shown as a find."""
    return {
        "query_face": number,
        "query_box": list(face.detection.box),
        "nobody": answer.nobody,
        "persons": [
            {
                "person": person.person,
                "name": person.name,
                "faces": person.faces,
                "distance": round(person.distance, DISTANCE_DECIMALS),
            }
            for person in answer.persons
        ],
        "photos": [
            {
                "path": absolute(hit.path),
                "other_paths": [absolute(path) for path in copies.get(hit.photo_id, [])],
                "face_id": hit.face_id,
                "box": list(hit.box),
                "distance": round(hit.distance, DISTANCE_DECIMALS),
                "same_person": hit.same_person,
                "person": hit.person,
                "name": hit.name,
                "query_photo": hit.photo_id == itself,
            }
            for hit in answer.matches
        ],
    }


def gallery_photo_of(store: Store, query: Path) -> int | None:
    """The gallery's photo holding the query's very bytes (the query file or a copy of it), so a
    match of the query with itself is shown as such, not as a find at distance 0."""
    try:
        same = store.photo_with_hash(file_hash(query))
    except OSError:
        return None
    return None if same is None else same.id


def searched_note(answer: dict[str, Any], all_faces: bool) -> list[str]:
    """For a photo of several faces searched by its main one, which face that was."""
    if answer["query_faces"] <= 1 or all_faces:
        return []
    box = ",".join(map(str, answer["faces"][0]["query_box"]))
    return [
        f"{shown(answer['query'])} shows {answer['query_faces']} faces; searched the largest, box {box} "
        "(--all-faces searches each)"
    ]


def persons_rows(face: dict[str, Any]) -> list[list[str]]:
    """A query face's persons under PERSONS_COLUMNS, nearest first."""
    return [
        [str(person["person"]), person["name"], str(person["faces"]), f"{person['distance']:.3f}"]
        for person in face["persons"]
    ]


def photos_rows(face: dict[str, Any]) -> list[list[str | bool]]:
    """A query face's nearest photos under PHOTOS_COLUMNS; the verdict stays a bool, for the table
    to show as yes or no."""
    rows: list[list[str | bool]] = []
    for row in face["photos"]:
        person = row["name"] or ("" if row["person"] is None else str(row["person"]))
        copies = f" (+{plural(len(row['other_paths']), 'duplicate')})" if row["other_paths"] else ""
        photo = shown(row["path"]) + copies + (" (the query photo)" if row["query_photo"] else "")
        box = ",".join(map(str, row["box"]))
        rows.append([f"{row['distance']:.3f}", row["same_person"], photo, str(row["face_id"]), box, person])
    return rows

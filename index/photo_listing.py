"""What `facesim photos` lists: the gallery's photos (by status, with their copies), or every
face of one person, named by id or name or shown in a photo (by the rule `match` answers with)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facesim.config import HEIC_SUFFIXES, IMAGE_SUFFIXES
from facesim.errors import FacesimError
from facesim.wording import absolute, printable
from index.persons.face_rows import FaceRow
from index.persons.persons import faces_of_person, has_persons
from index.search import match as search
from index.store.gallery import Gallery
from index.store.rows import STATUSES

# Said after the photos without a face, for people reading the list (not with --json).
NO_FACE_HINT = (
    "`facesim index PATH --detector cnn` looks for faces in these again with another detector "
    "(--retry-no-face: with the same one)"
)


@dataclass(frozen=True)
class PhotoListing:
    data: list[dict[str, Any]]  # one dict a photo (or a person's face): the JSON form
    cells: list[list[str]]  # the lines form: tab-separated cells a line
    faces: list[FaceRow]  # a person's faces, for --export csv; empty when listing photos
    notices: list[str] = field(default_factory=list)  # said however the list is shown: why it is empty
    hints: list[str] = field(default_factory=list)  # said after the lines only


def list_photos(index_dir: Path | None, *, person: str | None, status: str | None, export: str | None) -> PhotoListing:
    """Every photo (with `status`, only those), paths in order; or, given `person`, that person's
    faces. `export` is the format the caller will write a person's faces in: csv only."""
    if status not in (None, *STATUSES):
        raise FacesimError(f"unknown status {status!r}; choose one of: {', '.join(STATUSES)}")
    if export not in (None, "csv") or (export and person is None):
        raise FacesimError("--export csv lists one person's photos: give PERSON")
    if person is not None and status is not None:
        raise FacesimError("give PERSON or --status, not both")
    with Gallery.open(index_dir, create=False) as gallery:
        if person is None:
            return _photos_with_status(gallery, status)
        if _is_photo(person):
            return _photos_of_the_person_in(gallery, Path(person))
        return _person_listing(faces_of_person(gallery.store, person))


def _photos_with_status(gallery: Gallery, status: str | None) -> PhotoListing:
    rows = [row for row in gallery.store.photos_by_path().values() if status in (None, row.status)]
    copies = gallery.store.other_paths([row.id for row in rows])
    listed = [
        {
            "path": absolute(row.path),
            "status": row.status,
            "faces": row.n_faces,
            "error": row.error,
            "other_paths": [absolute(path) for path in copies.get(row.id, [])],
        }
        for row in sorted(rows, key=lambda row: row.path)
    ]
    cells = []
    for row in listed:
        first = [row["path"]] if status else [row["status"], row["path"]]
        # An error names its file first ("PATH: unreadable image"); the row has said the path already.
        error = (row["error"] or "").removeprefix(f"{row['path']}: ")
        cells.append(first + ([error] if error else []))
        for copy in row["other_paths"]:
            cells.append([copy] if status else [row["status"], copy])
            cells[-1].append(f"copy of {row['path']}")
    return PhotoListing(listed, cells, [], hints=[NO_FACE_HINT] if status == "no_face" and listed else [])


def _is_photo(argument: str) -> bool:
    path = Path(argument)
    return path.suffix.lower() in IMAGE_SUFFIXES | HEIC_SUFFIXES and path.is_file()


def _photos_of_the_person_in(gallery: Gallery, photo: Path) -> PhotoListing:
    """Every stored face of the person the photo's main face is, by the match rule `match`
    answers with (the nearest person it accepts); none when it accepts nobody."""
    from facesim.verification import photo_faces  # dlib and the encoder: only for a photo

    if not has_persons(gallery.store):
        raise FacesimError("the gallery keeps no persons yet: run `facesim clusters` (or `facesim match --all PHOTO`)")
    (answer,) = search(gallery, photo_faces(photo, "hog", False).faces[0].embedding)
    if not answer.persons:
        return PhotoListing([], [], [], notices=[f"nobody in the gallery matches {printable(photo)}"])
    return _person_listing(faces_of_person(gallery.store, str(answer.persons[0].person)))


def _person_listing(faces: list[FaceRow]) -> PhotoListing:
    listed = [
        {
            "path": absolute(face.photo_path),
            "face_id": face.face_id,
            "box": list(face.box),
            "person": face.person_id,
            "name": face.name,
            "other_paths": [absolute(path) for path in face.other_paths],
        }
        for face in faces
    ]
    cells = [[row["path"], f"face {row['face_id']}", f"box {','.join(map(str, row['box']))}"] for row in listed]
    return PhotoListing(listed, cells, faces)

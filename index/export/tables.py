"""Export person clusters as CSV, JSON, or a self-contained HTML contact sheet.

The rows are the persons' faces (index.persons.face_rows), written in the order they come in:
largest person first, and within a person the most typical faces first, outliers last.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from facesim.errors import ImageError
from index.persons.face_rows import FaceRow

CSV_HEADER = ("person_id", "name", "face_id", "photo_path", "left", "top", "right", "bottom", "distance")
# Spreadsheets evaluate a cell that starts with one of these as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# The sheet needs nothing but its own inline styles and data: images; forbidding everything else
# means it works offline and that nothing in a file name can run or fetch anything.
CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
DISTANCE_DECIMALS = 6
_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1rem;background:#fafafa;color:#222}"
    ".person{margin:0 0 1.5rem}.person h2{font-size:1.1rem;margin:.2rem 0}.size{color:#777;font-weight:normal}"
    ".id{color:#777;font-weight:normal;font-size:.9rem}.faces{display:flex;flex-wrap:wrap;gap:4px}"
    ".face-card{margin:0;flex:none}.face-id{font-size:.7rem;color:#555;text-align:center}"
    ".face-card{margin:0;flex:none}.face{display:block;width:96px;height:96px;object-fit:cover}"
    ".missing{width:96px;height:96px;background:#ddd;color:#777;font-size:.7rem;display:flex;"
    "align-items:center;justify-content:center;text-align:center}"
)

Destination = str | os.PathLike[str] | TextIO
ThumbnailLoader = Callable[[FaceRow], bytes]


def hide_small(rows: Sequence[FaceRow], min_size: int) -> tuple[list[FaceRow], int]:
    """Drop unnamed persons with fewer than min_size faces; returns the kept rows and the hidden
    face count.

    Singletons are clusters too, but a sheet of thousands of one-face "persons" buries the real
    ones, so callers hide them and report how many faces were left unclustered. A person the user
    named is never hidden, however few faces it has: they know them, and look for them.
    """
    sizes: dict[int, int] = {}
    for row in rows:
        sizes[row.person_id] = sizes.get(row.person_id, 0) + 1
    kept = [row for row in rows if sizes[row.person_id] >= min_size or row.name]
    return kept, len(rows) - len(kept)


def faces_in_no_person(rows: Sequence[FaceRow]) -> list[FaceRow]:
    """The faces that matched nobody: a person of one face is no person to the user, unless they
    named it."""
    sizes: dict[int, int] = {}
    for row in rows:
        sizes[row.person_id] = sizes.get(row.person_id, 0) + 1
    return [row for row in rows if sizes[row.person_id] == 1 and not row.name]


def write_csv(rows: Sequence[FaceRow], file: Destination) -> None:
    """One line per face under CSV_HEADER, text cells guarded against formula injection.

    Only text cells (name, path) are guarded: they come from users and file systems. Numbers are
    written as numbers; a negative box coordinate (a face cut by the photo edge) is not a formula,
    and quoting it would turn it into text.
    """
    with _text_destination(file, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_HEADER)
        for row in rows:
            writer.writerow(
                [
                    row.person_id,
                    guard_formula(row.name),
                    row.face_id,
                    guard_formula(row.photo_path),
                    *row.box,
                    round(row.distance, DISTANCE_DECIMALS),
                ]
            )


def guard_formula(text: str) -> str:
    """Prefix a single quote to text a spreadsheet would run as a formula; other text unchanged."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def write_json(rows: Sequence[FaceRow], file: Destination) -> None:
    """A list of persons in row order: {id, name, size, faces: [{face_id, photo_path, other_paths,
    box, distance}]}; box is [left, top, right, bottom], as in every command's JSON."""
    persons = [
        {
            "id": person_id,
            "name": faces[0].name,
            "size": len(faces),
            "faces": [
                {
                    "face_id": row.face_id,
                    "photo_path": row.photo_path,
                    "other_paths": list(row.other_paths),
                    "box": list(row.box),
                    "distance": round(row.distance, DISTANCE_DECIMALS),
                }
                for row in faces
            ],
        }
        for person_id, faces in _by_person(rows).items()
    ]
    with _text_destination(file) as handle:
        json.dump(persons, handle, indent=2, ensure_ascii=False)
        handle.write("\n")


def write_html(
    rows: Sequence[FaceRow],
    file: Destination,
    thumbnail_loader: ThumbnailLoader,
    *,
    hidden_faces: int = 0,
    unassigned: Sequence[FaceRow] = (),
    title: str = "facesim: people",
) -> None:
    """A self-contained offline contact sheet: one <section class="person"> per person, then one
    <section class="unassigned"> for the faces in no person.

    Each section (data-person-id, data-size) is headed by the person's name and id (the id is
    what `facesim name` takes) and holds <img class="face"> thumbnails, wrapped onto as many
    rows as the person needs, with JPEG bytes from thumbnail_loader(row) embedded as data: URIs,
    so the file can be mailed or archived without the photos. Each thumbnail links to its full
    photo (a file: URL, which works where the photos are). A thumbnail whose photo cannot be read
    (ImageError or OSError from the loader, e.g. a photo deleted since indexing) becomes a
    visible "missing" placeholder instead of aborting the sheet. Every name and path is
    HTML-escaped, and a Content-Security-Policy forbids scripts and network access. hidden_faces
    (faces of persons under --min-size) is reported at the top, so faces left out are never
    silently missing.
    """
    persons = _by_person(rows)
    with _text_destination(file) as handle:
        handle.write(
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">\n'
            f"<title>{_escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
            f"<h1>{_escape(title)}</h1>\n"
            f'<p class="summary" data-persons="{len(persons)}" data-faces="{len(rows)}" '
            f'data-unassigned-faces="{len(unassigned)}" data-hidden-faces="{hidden_faces}">'
            f"{len(persons)} people, {len(rows)} faces; {len(unassigned)} faces in no person; "
            f"{hidden_faces} faces of smaller persons hidden.</p>\n"
        )
        for person_id, faces in persons.items():
            heading = _escape(faces[0].name) if faces[0].name else "Person"
            handle.write(
                f'<section class="person" data-person-id="{person_id}" data-size="{len(faces)}">\n'
                f'<h2>{heading} <span class="id">#{person_id}</span> <span class="size">{len(faces)} faces</span>'
                '</h2>\n<div class="faces">\n'
            )
            for row in faces:
                handle.write(_face_html(row, thumbnail_loader))
            handle.write("</div>\n</section>\n")
        if unassigned:
            handle.write(
                f'<section class="unassigned" data-size="{len(unassigned)}">\n'
                f'<h2>Faces in no person <span class="size">{len(unassigned)} faces</span></h2>\n<div class="faces">\n'
            )
            for row in unassigned:
                handle.write(_face_html(row, thumbnail_loader))
            handle.write("</div>\n</section>\n")
        handle.write("</body>\n</html>\n")


def _face_html(row: FaceRow, thumbnail_loader: ThumbnailLoader) -> str:
    label = _escape(f"{row.photo_path} (distance {row.distance:.3f})")
    try:
        jpeg = thumbnail_loader(row)
    except (ImageError, OSError):
        image = f'<div class="missing" title="{label}">photo unavailable</div>'
    else:
        data = base64.b64encode(jpeg).decode("ascii")
        image = f'<img class="face" src="data:image/jpeg;base64,{data}" alt="{label}" title="{label}">'
    link = _escape(Path(os.path.abspath(row.photo_path)).as_uri())
    caption = f'<figcaption class="face-id">face {row.face_id}</figcaption>'
    return f'<figure class="face-card" data-face-id="{row.face_id}"><a href="{link}">{image}</a>{caption}</figure>\n'


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


def _by_person(rows: Sequence[FaceRow]) -> dict[int, list[FaceRow]]:
    """Rows grouped by person, persons in order of first appearance (build_rows' order)."""
    persons: dict[int, list[FaceRow]] = {}
    for row in rows:
        persons.setdefault(row.person_id, []).append(row)
    return persons


@contextmanager
def _text_destination(file: Destination, newline: str | None = None) -> Iterator[TextIO]:
    """Write to an open text stream as is, or to a path opened as UTF-8 and closed afterwards."""
    if isinstance(file, (str, os.PathLike)):
        with open(file, "w", encoding="utf-8", newline=newline) as handle:
            yield handle
    else:
        yield file

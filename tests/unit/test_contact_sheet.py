"""The HTML contact sheet: rows that wrap, links to the photos, ids beside names, and a section
for the faces in no person."""

from __future__ import annotations

import io
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
from PIL import Image

from index.export.tables import faces_in_no_person, hide_small, write_html
from index.persons.face_rows import FaceRow, build_rows

PERSONS = [3] * 30 + [7] * 2 + [8, 9]  # a large person, a small named one, two faces in no person


def rows_for(tmp_path: Path) -> list[FaceRow]:
    folder = tmp_path / "odd & <folder>"
    folder.mkdir()
    paths = [folder / f"photo {i}.jpg" for i in range(len(PERSONS))]
    for i, path in enumerate(paths):
        Image.new("RGB", (20, 20), (i * 7 % 255, 90, 160)).save(path, "JPEG")
    angles = np.linspace(0, 1, len(PERSONS))
    vectors = np.zeros((len(PERSONS), 4))
    vectors[:, 0], vectors[:, 1] = np.cos(angles), np.sin(angles)
    boxes = np.tile([0, 0, 10, 10], (len(PERSONS), 1))
    ids = np.arange(len(PERSONS)) + 100
    return build_rows(np.array(PERSONS), ids, vectors, [str(p) for p in paths], boxes, {7: "Ada"})


def loader(row: FaceRow) -> bytes:
    buffer = io.BytesIO()
    Image.open(row.photo_path).save(buffer, "JPEG")
    return buffer.getvalue()


def test_sheet_wraps_links_names_ids_and_lists_faces_in_no_person(tmp_path: Path) -> None:
    rows = rows_for(tmp_path)
    kept, hidden = hide_small(rows, 2)
    unassigned = faces_in_no_person(rows)
    assert [row.person_id for row in unassigned] == [8, 9] and hidden == 2
    buffer = io.StringIO()
    write_html(kept, buffer, loader, hidden_faces=hidden - len(unassigned), unassigned=unassigned)
    page = buffer.getvalue()
    assert "flex-wrap:wrap" in page and "nowrap" not in page and "overflow-x" not in page
    assert re.search(r'<h2>Ada <span class="id">#7</span>', page)
    assert re.search(r'<h2>Person <span class="id">#3</span> <span class="size">30 faces', page)
    links = re.findall(r'<a href="([^"]+)"><img class="face"', page)
    assert len(links) == len(rows)
    targets = [Path(unquote(urlparse(link.replace("&amp;", "&")).path)) for link in links]
    assert sorted(targets) == sorted(Path(row.photo_path) for row in rows)
    section = page[page.index('<section class="unassigned"') :]
    assert 'data-size="2"' in section and section.count('<img class="face"') == 2
    assert 'data-unassigned-faces="2" data-hidden-faces="0"' in page

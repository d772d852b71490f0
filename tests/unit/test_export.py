"""Exports: row order and centre distances, the CSV formula guard, JSON shape, HTML escaping and counts."""

from __future__ import annotations

import base64
import csv
import io
import json
import shutil
import subprocess
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facesim.errors import ImageError
from index.export.tables import (
    CONTENT_SECURITY_POLICY,
    CSV_HEADER,
    hide_small,
    write_csv,
    write_html,
    write_json,
)
from index.persons.face_rows import FaceRow, build_rows

DIM = 8
NASTY_NAME = '<script>document.body.dataset.pwned="name"</script> & "Bob"'
NASTY_FILE = "<img src=x onerror=document.body.dataset.pwned=1>.jpg"


def on_circle(*angles: float) -> np.ndarray:
    vectors = np.zeros((len(angles), DIM))
    vectors[:, 0], vectors[:, 1] = np.cos(angles), np.sin(angles)
    return vectors


@pytest.fixture()
def photos(tmp_path: Path) -> list[Path]:
    """Six real JPEGs, two with markup in their names (a folder name and a file name)."""
    odd_folder = tmp_path / 'a&b "quoted"'
    odd_folder.mkdir()
    paths = [tmp_path / f"p{i}.jpg" for i in range(4)] + [odd_folder / "<script>.jpg", tmp_path / NASTY_FILE]
    for i, path in enumerate(paths):
        Image.new("RGB", (40, 30), (40 * i, 100, 200)).save(path, "JPEG")
    return paths


@pytest.fixture()
def rows(photos: list[Path]) -> list[FaceRow]:
    """Person 5: three faces; person 2: two faces; person 9: one face."""
    person_ids = np.array([2, 5, 9, 5, 2, 5])
    vectors = on_circle(0.3, 1.0, 2.0, 1.2, 0.5, 1.05)
    boxes = np.array([[-3, 0, 10, 10], [5, 5, 20, 25], [0, 0, 8, 8], [1, 1, 9, 9], [2, 2, 30, 28], [0, 0, 40, 30]])
    names = {5: NASTY_NAME, 2: "=cmd|' /C calc'!A0"}
    return build_rows(person_ids, np.arange(100, 106), vectors, [str(p) for p in photos], boxes, names)


def crop_loader(row: FaceRow) -> bytes:
    with Image.open(row.photo_path) as image:
        crop = image.convert("RGB").crop(row.box)
    buffer = io.BytesIO()
    crop.save(buffer, "JPEG")
    return buffer.getvalue()


def test_rows_largest_person_first_then_nearest_to_centre(rows: list[FaceRow]) -> None:
    assert [r.person_id for r in rows] == [5, 5, 5, 2, 2, 9]
    # Person 5's faces at angles 1.0, 1.2, 1.05: centre at 1.0833, so 1.05 is nearest, 1.2 farthest.
    assert [r.face_id for r in rows[:3]] == [105, 101, 103]
    expected = [2 * np.sin(angle / 2) for angle in (1.0833 - 1.05, 1.0833 - 1.0, 1.2 - 1.0833)]
    assert [r.distance for r in rows[:3]] == pytest.approx(expected, abs=1e-3)
    # Person 2's faces sit at angles 0.3 and 0.5: the centre is at 0.4, each 2 sin(0.05) away.
    assert [r.distance for r in rows[3:5]] == pytest.approx([2 * np.sin(0.05)] * 2)
    assert rows[5].distance == pytest.approx(0.0)
    assert rows[0].name == NASTY_NAME and rows[5].name == ""
    assert {r.face_id: r.box for r in rows}[100] == (-3, 0, 10, 10)


def test_hide_small_reports_hidden_faces(rows: list[FaceRow]) -> None:
    kept, hidden = hide_small(rows, min_size=2)
    assert {r.person_id for r in kept} == {5, 2} and hidden == 1
    kept, hidden = hide_small(rows, min_size=3)
    assert {r.person_id for r in kept} == {5, 2} and hidden == 1  # person 2 is named: never hidden
    kept, hidden = hide_small([replace(r, name="") for r in rows], min_size=3)
    assert {r.person_id for r in kept} == {5} and hidden == 3
    assert hide_small(rows, min_size=1) == (rows, 0)


def test_build_rows_rejects_mismatched_input() -> None:
    with pytest.raises(ValueError, match="boxes"):
        build_rows(np.array([1]), np.array([1]), on_circle(0.0), ["a.jpg"], np.array([[0, 0, 1]]))


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_guards_every_formula_start(start: str, tmp_path: Path) -> None:
    row = FaceRow(1, f"{start}SUM(A1:A9)", 7, f"{start}evil.jpg", (-3, 0, 10, 10), 0.25)
    safe = FaceRow(2, "Ann Smith", 8, "/photos/ann.jpg", (0, 0, 10, 10), 0.5)
    path = tmp_path / "people.csv"
    write_csv([row, safe], path)
    with open(path, newline="", encoding="utf-8") as handle:
        header, guarded, plain = list(csv.reader(handle))
    assert tuple(header) == CSV_HEADER
    assert guarded[1] == f"'{start}SUM(A1:A9)" and guarded[3] == f"'{start}evil.jpg"
    assert guarded[4:] == ["-3", "0", "10", "10", "0.25"]  # numbers stay numbers
    assert plain == ["2", "Ann Smith", "8", "/photos/ann.jpg", "0", "0", "10", "10", "0.5"]


def test_csv_to_an_open_stream(rows: list[FaceRow]) -> None:
    buffer = io.StringIO(newline="")
    write_csv(rows, buffer)
    lines = list(csv.reader(io.StringIO(buffer.getvalue(), newline="")))
    assert len(lines) == 1 + len(rows)
    assert lines[4][1] == "'=cmd|' /C calc'!A0"


def test_json_is_a_list_of_persons(rows: list[FaceRow], tmp_path: Path) -> None:
    path = tmp_path / "people.json"
    write_json(rows, path)
    persons = json.loads(path.read_text(encoding="utf-8"))
    assert [(p["id"], p["name"], p["size"]) for p in persons] == [
        (5, NASTY_NAME, 3),
        (2, "=cmd|' /C calc'!A0", 2),
        (9, "", 1),
    ]
    face = next(f for f in persons[1]["faces"] if f["face_id"] == 100)
    assert set(face) == {"face_id", "photo_path", "other_paths", "box", "distance"}
    assert face["box"] == [-3, 0, 10, 10]
    assert face["photo_path"].endswith("p0.jpg") and face["distance"] == pytest.approx(2 * np.sin(0.05), abs=1e-6)
    assert [len(p["faces"]) for p in persons] == [p["size"] for p in persons]


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def having(self, tag: str, css_class: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.elements if t == tag and css_class in (a.get("class") or "").split()]


def parse(page: str) -> _Elements:
    parser = _Elements()
    parser.feed(page)
    return parser


def test_html_counts_and_embedded_thumbnails(rows: list[FaceRow]) -> None:
    kept, hidden = hide_small(rows, min_size=2)
    buffer = io.StringIO()
    write_html(kept, buffer, crop_loader, hidden_faces=hidden)
    page = parse(buffer.getvalue())
    persons = page.having("section", "person")
    assert [(p["data-person-id"], p["data-size"]) for p in persons] == [("5", "3"), ("2", "2")]
    faces = page.having("img", "face")
    assert len(faces) == 5
    src = faces[0]["src"] or ""
    assert src.startswith("data:image/jpeg;base64,")
    assert base64.b64decode(src.split(",", 1)[1]) == crop_loader(kept[0])
    assert page.having("p", "summary")[0]["data-hidden-faces"] == "1"


def test_html_escapes_names_and_paths(rows: list[FaceRow]) -> None:
    buffer = io.StringIO()
    write_html(rows, buffer, crop_loader, title="<i>mine</i>")
    page = buffer.getvalue()
    assert "<script" not in page and "<img src=x" not in page and "<i>" not in page
    assert "&lt;script&gt;.jpg" in page and "&lt;img src=x onerror=" in page
    assert "&amp; &quot;Bob&quot;" in page and "a&amp;b &quot;quoted&quot;" in page
    parsed = parse(page)
    assert len(parsed.having("img", "face")) == 6  # no extra element smuggled in by a file name
    assert f'content="{CONTENT_SECURITY_POLICY}"' in page


def test_html_marks_unreadable_photos_instead_of_failing(rows: list[FaceRow]) -> None:
    def loader(row: FaceRow) -> bytes:
        if row.face_id == 101:
            raise ImageError(f"{row.photo_path}: no such file")
        return crop_loader(row)

    buffer = io.StringIO()
    write_html(rows, buffer, loader)
    page = parse(buffer.getvalue())
    assert len(page.having("img", "face")) == 5 and len(page.having("div", "missing")) == 1


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _dump_dom(page: Path, profile: Path) -> str:
    """The page's DOM after load in headless Chromium, with the background traffic a closed
    network refuses switched off and a fresh profile."""
    command = [
        _chromium() or "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--dump-dom",
        page.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout


@pytest.mark.skipif(_chromium() is None, reason="no chromium binary (the CI script installs it)")
def test_html_renders_in_a_real_browser(rows: list[FaceRow], tmp_path: Path) -> None:
    """Every thumbnail decodes under the sheet's CSP, and no name or path runs as markup.

    A test copy of the page gets one inline script (and script-src in its CSP, so that an
    unescaped name or path would run too) that records on <body> how many faces decoded.
    """
    buffer = io.StringIO()
    write_html(rows, buffer, crop_loader)
    page = buffer.getvalue()
    assert page.count(CONTENT_SECURITY_POLICY) == 1
    probe = (
        "<script>window.addEventListener('load', () => {"
        "const faces = [...document.querySelectorAll('img.face')];"
        "document.body.dataset.decoded = faces.filter(f => f.complete && f.naturalWidth > 0).length;"
        "document.body.dataset.persons = document.querySelectorAll('section.person').length;});</script>"
    )
    test_copy = tmp_path / "sheet.html"
    test_copy.write_text(
        page.replace(CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY + "; script-src 'unsafe-inline'").replace(
            "</body>", probe + "</body>"
        ),
        encoding="utf-8",
    )
    dom = _dump_dom(test_copy, tmp_path / "profile")
    body = next(a for t, a in parse(dom).elements if t == "body")
    assert body.get("data-persons") == "3"
    assert body.get("data-decoded") == "6"
    assert "data-pwned" not in body


def _requests_made(page: str, tmp_path: Path, name: str) -> list[str]:
    """Opens the page in headless Chromium and returns the paths it asked a loopback server for."""
    import http.server
    import threading

    asked: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the name http.server calls
            asked.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        bait = (
            f'<img src="{base}/img"><link rel="stylesheet" href="{base}/css">'
            f'<script src="{base}/js"></script><iframe src="{base}/frame"></iframe>'
        )
        copy = tmp_path / f"{name}.html"
        copy.write_text(page.replace("</body>", bait + "</body>"), encoding="utf-8")
        _dump_dom(copy, tmp_path / f"profile-{name}")
    finally:
        server.shutdown()
    return asked


@pytest.mark.skipif(_chromium() is None, reason="no chromium binary (the CI script installs it)")
def test_the_csp_blocks_network_requests_in_a_real_browser(rows: list[FaceRow], tmp_path: Path) -> None:
    """Markup that got into the sheet (an image, a stylesheet, a script, a frame pointing at a
    server) asks that server for nothing under the sheet's CSP; the same page without the CSP asks,
    so the probe itself works."""
    buffer = io.StringIO()
    write_html(rows, buffer, crop_loader)
    page = buffer.getvalue()
    assert _requests_made(page, tmp_path, "with-csp") == []
    without = page.replace(f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">', "")
    assert without != page
    assert {"/img", "/js"} <= set(_requests_made(without, tmp_path, "without-csp"))

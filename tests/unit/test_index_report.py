"""What `facesim index` and `facesim forget` say: each count in its place, the rare ones only when
they happened, and the same numbers in JSON under the words the text uses."""

from __future__ import annotations

from pathlib import Path

from index.ingest.indexer import Forgotten, IndexSummary
from index.ingest.report import IndexReport, forgotten_line
from index.store.gallery import GalleryInfo

GALLERY = GalleryInfo(
    directory=Path("/galleries/g"),
    photos={"indexed": 1, "no_face": 0, "error": 1, "gone": 0},
    detectors={},
    faces=1,
    model_id="m",
    vector_index=None,
    last_run=None,
)


def report(**counts: object) -> IndexReport:
    return IndexReport(IndexSummary(**counts), GALLERY)  # type: ignore[arg-type]


def test_the_usual_phrases_always_stand_in_their_places() -> None:
    assert report(indexed=1, faces=1).phrases() == [
        "1 indexed",
        "1 face",
        "0 unchanged",
        "0 without a face",
        "0 errors",
        "0 gone",
        "0 moved",
        "0 duplicates",
    ]
    assert report().gallery_line() == "gallery /galleries/g: 1 photo, 1 face"


def test_the_rare_phrases_come_only_when_they_happened() -> None:
    bad = [(Path("/p/x.jpg"), "/p/x.jpg: not an image")]
    phrases = report(excluded=2, known_errors=bad, joined=1, new_persons=2).phrases()
    assert phrases[-3:] == ["2 excluded", "1 bad file from earlier runs; 1 face joined known persons", "2 new persons"]
    assert report(joined=3, new_persons=1).phrases()[-2:] == [
        "0 duplicates; 3 faces joined known persons",
        "1 new person",
    ]


def test_failures_of_this_run_and_earlier_ones_each_get_their_line_and_json_entry() -> None:
    failed = report(
        errors=[(Path("/p/a.jpg"), "/p/a.jpg: not an image")],
        unreadable=[(Path("/p/locked"), "/p/locked: cannot read (Permission denied)")],
        known_errors=[(Path("/p/b.jpg"), "/p/b.jpg: truncated")],
        skipped=4,
    )
    assert failed.warnings() == [
        "skipped /p/a.jpg: not an image",
        "skipped /p/locked: cannot read (Permission denied)",
        "still bad (--retry-errors to retry): /p/b.jpg: truncated",
    ]
    assert failed.phrases()[4] == "2 errors"
    data = failed.as_dict()
    assert "skipped" not in data and data["unchanged"] == 4 and list(data)[-2:] == ["unchanged", "gallery"]
    assert data["errors"] == [
        {"path": "/p/a.jpg", "error": "/p/a.jpg: not an image"},
        {"path": "/p/locked", "error": "/p/locked: cannot read (Permission denied)"},
    ]
    assert data["known_errors"] == [{"path": "/p/b.jpg", "error": "/p/b.jpg: truncated"}]
    assert data["gallery"] == {"path": "/galleries/g", "photos": 1, "faces": 1, "photo_status": GALLERY.photos}


def test_forget_says_what_stays_at_a_copy_elsewhere() -> None:
    assert forgotten_line(Forgotten(1, 1, 0, 0)) == "forgot 1 photo, 1 face, 0 duplicates"
    assert forgotten_line(Forgotten(2, 3, 1, 1)) == (
        "forgot 2 photos, 3 faces, 1 duplicate; 1 photo kept at its duplicate elsewhere"
    )
    assert forgotten_line(Forgotten(0, 0, 2, 2)).endswith("; 2 photos kept at their duplicates elsewhere")

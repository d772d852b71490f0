"""How `facesim info` and `facesim doctor` put the gallery in words: statuses, counts that are not
trusted from a damaged database, a few examples of each problem with the command that fixes it."""

from __future__ import annotations

from pathlib import Path

from index.doctor import Checkup, Finding
from index.doctor_report import checkup_lines
from index.overview import overview_lines, status_words

STATUS = {"indexed": 44, "no_face": 1, "error": 1, "gone": 0}


def test_statuses_in_words_with_errors_counted_as_nouns() -> None:
    assert status_words(STATUS) == "44 indexed, 1 without a face, 1 error, 0 gone"
    assert status_words({**STATUS, "error": 3}).endswith("3 errors, 0 gone")


def test_a_healthy_gallery_is_its_counts_and_the_verdict() -> None:
    lines = checkup_lines(Checkup(Path("/g"), 44, 56, STATUS, []))
    assert lines == [
        ("gallery /g: 44 photos, 56 faces", False),
        ("photo status: 44 indexed, 1 without a face, 1 error, 0 gone", False),
        ("healthy", False),
    ]


def test_each_problem_has_examples_how_many_more_and_its_fix_kept_whole() -> None:
    findings = [
        Finding("missing_photos", "photos are missing", 5, ["/p/a.jpg", "/p/b.jpg"], "run `facesim doctor --repair`"),
        Finding("damaged_database", "damaged database", 1, ["gallery.db"], "run `facesim doctor --repair`"),
    ]
    lines = checkup_lines(Checkup(Path("/g"), 0, 0, STATUS, findings, ["rebuilt the FAISS file"]))
    assert lines == [  # a damaged database's counts are not shown: they could not be trusted
        ("repaired: rebuilt the FAISS file", True),
        ("problem: 5 photos are missing", True),
        ("  e.g. /p/a.jpg; /p/b.jpg (3 more)", True),
        ("  fix: run `facesim doctor --repair`", True),
        ("problem: 1 damaged database", True),
        ("  e.g. gallery.db", True),
        ("  fix: run `facesim doctor --repair`", True),
        ("not healthy: 2 kinds of problem", False),
    ]
    assert checkup_lines(Checkup(Path("/g"), 0, 0, STATUS, findings[:1]))[-1] == (
        "not healthy: 1 kind of problem",
        False,
    )


def test_info_lines_say_what_was_not_evaluated_or_examined() -> None:
    data = {
        "photos": 1,
        "faces": 2,
        "persons": 0,
        "named_persons": 1,
        "faces_alone": 2,
        "faces_in_no_person": 0,
        "photo_status": STATUS,
        "detectors": {},
        "index_path": "/g",
        "vector_index": None,
        "model": {
            "model_id": "m-1",
            "architecture": "net",
            "input_size": 112,
            "threshold": 1.07,
            "lfw_devtest": {"f1": None},
        },
    }
    assert overview_lines(data) == [
        "model    m-1 (net, 112 px input)",
        "         threshold 1.07; LFW DevTest: not evaluated",
        "gallery  /g (no vector index)",
        "         1 photo, 2 faces, 0 persons",
        "         1 named person, 2 faces alone, 0 faces in no person yet",
        "         photo status: 44 indexed, 1 without a face, 1 error, 0 gone",
    ]
    examined = {**data, "detectors": {"yunet": 3, "hog": 1}, "model": {**data["model"], "lfw_devtest": {"f1": 0.91234}}}
    assert overview_lines(examined)[1] == "         threshold 1.07; LFW DevTest: f1 0.912"
    assert overview_lines(examined)[-1] == "         photos examined by detector: hog 1, yunet 3"

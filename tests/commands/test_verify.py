"""verify on photos with several faces: which face was compared, --all-faces, and --pairs."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from support.cli_runs import run
from support.sample_gallery import SAMPLE_DATA, SAMPLE_PHOTOS, single_face_photos

GROUP = SAMPLE_PHOTOS / "group_01.jpg"
GROUP_PEOPLE = json.loads((SAMPLE_DATA / "groups.json").read_text())["group_01.jpg"]["people"]


def tile_of(box: list[int]) -> str:
    centre_x, centre_y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    for person in GROUP_PEOPLE:
        left, top, right, bottom = person["tile"]
        if left <= centre_x < right and top <= centre_y < bottom:
            return person["name"]
    raise AssertionError(box)


def other_photo(name: str) -> Path:
    """A photo of this person that is not the one the group shot was made from."""
    source = next(person["source"] for person in GROUP_PEOPLE if person["name"] == name)
    return next(photo for photo in single_face_photos()[name] if photo.name != source)


def test_all_faces_finds_the_group_member_and_says_which_face() -> None:
    for person in GROUP_PEOPLE:
        code, stdout, stderr = run("verify", GROUP, other_photo(person["name"]), "--all-faces", "--json")
        assert code == 0, stderr
        answer = json.loads(stdout)
        assert (answer["faces_a"], answer["faces_b"]) == (len(GROUP_PEOPLE), 1)
        assert answer["same_person"] and tile_of(answer["box_a"]) == person["name"]
    code, stdout, _ = run("verify", GROUP, other_photo(GROUP_PEOPLE[0]["name"]), "--all-faces")
    assert code == 0 and f"shows {len(GROUP_PEOPLE)} faces; compared the closest, box" in stdout


def test_main_face_answer_names_the_face_it_compared() -> None:
    code, stdout, _ = run("verify", GROUP, other_photo(GROUP_PEOPLE[0]["name"]), "--json")
    answer = json.loads(stdout)
    assert code == 0 and answer["faces_a"] == len(GROUP_PEOPLE) and len(answer["box_a"]) == 4
    code, stdout, _ = run("verify", GROUP, other_photo(GROUP_PEOPLE[0]["name"]))
    assert code == 0 and f"shows {len(GROUP_PEOPLE)} faces; compared the largest, box" in stdout
    code, stdout, _ = run("verify", other_photo(GROUP_PEOPLE[0]["name"]), other_photo(GROUP_PEOPLE[0]["name"]))
    assert code == 0 and "faces" not in stdout


def test_pairs_answers_every_row_in_order_and_reports_bad_ones(tmp_path: Path) -> None:
    people = single_face_photos()
    names = sorted(people)
    pairs = [
        (people[names[0]][0], people[names[0]][1]),
        (people[names[0]][0], SAMPLE_PHOTOS / "bad_truncated.jpg"),
        (people[names[0]][0], people[names[1]][0]),
    ]
    source = tmp_path / "pairs.csv"
    with open(source, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path_a", "path_b", "label"])
        writer.writerows(pairs)
    code, stdout, stderr = run("verify", "--pairs", source)
    assert code == 2 and len(stderr.strip().splitlines()) == 1 and "1 pairs" in stderr
    rows = list(csv.DictReader(io.StringIO(stdout)))
    assert [(Path(row["path_a"]), Path(row["path_b"])) for row in rows] == pairs
    assert [row["same_person"] for row in rows] == ["True", "", "False"]
    assert rows[1]["error"] and "truncated" in rows[1]["error"] and not rows[0]["error"]
    single = json.loads(run("verify", *pairs[0], "--json")[1])
    assert float(rows[0]["distance"]) == single["distance"]
    code, _, stderr = run("verify", pairs[0][0], "--pairs", source)
    assert code == 2 and len(stderr.strip().splitlines()) == 1
    code, _, stderr = run("verify", pairs[0][0])
    assert code == 2 and "two photos" in stderr

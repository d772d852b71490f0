"""Every command on the sample gallery, through the real CLI, with answers checked against the
people in the photos (file names and groups.json say who is who)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from facesim.detection import detect_faces
from facesim.images import load_rgb
from index.clustering.metrics import bcubed
from index.store.gallery import Gallery

from support.cli_runs import answers_of, match_rows, run, run_json
from support.indexed_sample import IndexedSample
from support.sample_gallery import SAMPLE_DATA, SAMPLE_PHOTOS, single_face_photos

GROUPS = json.loads((SAMPLE_DATA / "groups.json").read_text())
BAD_FILES = ("bad_empty.jpg", "bad_text.png", "bad_truncated.jpg")


@lru_cache(maxsize=1)
def expected_faces() -> int:
    """Each group shot's listed people, rotated_exif.jpg's one face, and each portrait's faces: its
    subject and whoever the default detector finds behind it (test_images checks that the subject
    is always the face at the centre)."""
    singles = sum(len(detect_faces(load_rgb(photo))) for photos in single_face_photos().values() for photo in photos)
    return singles + 1 + sum(len(group["people"]) for group in GROUPS.values())


def person_of(path: str, box: list[int]) -> str:
    """Who a face is: LFW file names name the person; group shots are looked up by tile."""
    name = Path(path).name
    if name in GROUPS:
        centre_x, centre_y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        for person in GROUPS[name]["people"]:
            left, top, right, bottom = person["tile"]
            if left <= centre_x < right and top <= centre_y < bottom:
                return person["name"]
        raise AssertionError(f"no tile holds the face at {box} in {name}")
    if name == "rotated_exif.jpg":
        return "Amelie_Mauresmo"
    centre_x, centre_y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    if not (box[0] <= 125 <= box[2] and box[1] <= 125 <= box[3]):
        # Someone behind the 250 px portrait's subject, in this photo only.
        return f"{name} at {centre_x:.0f},{centre_y:.0f}"
    return Path(path).stem.rsplit("_", 1)[0]


@pytest.fixture(scope="module")
def gallery(indexed_sample: IndexedSample, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """The session's sample gallery, copied once for this module: its tests rerun `index` over it
    and store persons, each on what the tests before left."""
    index_dir = indexed_sample.copy_to(tmp_path_factory.mktemp("cli") / "gallery")
    return indexed_sample.photos, index_dir, indexed_sample.summary


def test_index_finds_every_face_and_reports_bad_files(gallery: tuple[Path, Path, dict]) -> None:
    photos, _, summary = gallery
    assert summary["photos_seen"] == len(list(photos.iterdir()))
    assert summary["faces"] == expected_faces()
    assert summary["no_face"] == 1
    bad = sorted(Path(e["path"]).name for e in summary["errors"])
    assert bad == sorted(BAD_FILES)
    for error in summary["errors"]:
        assert Path(error["path"]).name in error["error"] and "\n" not in error["error"]


def test_rerun_does_only_new_or_changed_files(gallery: tuple[Path, Path, dict], tmp_path: Path) -> None:
    photos, index_dir, _ = gallery
    again = run_json("index", photos, "--index", index_dir)
    assert (again["indexed"], again["faces"], again["unchanged"]) == (0, 0, again["photos_seen"])

    extra = tmp_path / "more"
    shutil.copytree(photos, extra)
    new_photo = next(extra.glob("Jiang_Zemin_*.jpg"))
    shutil.copy(new_photo, extra / "new_copy.jpg")
    changed = next(extra.glob("Salma_Hayek_*.jpg"))
    changed.write_bytes(changed.read_bytes() + b"\0")  # same picture, new content hash
    scratch = tmp_path / "scratch_gallery"
    first = run_json("index", extra, "--index", scratch)
    (extra / "new_copy.jpg").unlink()
    shutil.copy(new_photo, extra / "another_copy.jpg")
    changed.write_bytes(changed.read_bytes() + b"\0")
    second = run_json("index", extra, "--index", scratch)
    assert first["indexed"] > 40 and first["duplicates"] == 1
    # new_copy.jpg was a second location of a Jiang Zemin photo: deleting it loses nothing, and
    # another_copy.jpg is one more location; only the changed photo is embedded again.
    assert (second["indexed"], second["gone"], second["duplicates"]) == (1, 0, 1)


def test_match_ranks_the_same_person_first(gallery: tuple[Path, Path, dict]) -> None:
    """Floors sit just under what the shipped encoder measures here (rank 1 right for 9 of 10
    people, 28 of 29 same-person verdicts right), so a regression fails; the model card states the
    model's real accuracy."""
    _, index_dir, _ = gallery
    people = single_face_photos()
    rank1 = correct = total = 0
    for name, photos in people.items():
        hits = match_rows(photos[0], "--index", index_dir, "--top-k", "4")
        assert hits[0]["distance"] < 0.01 and Path(hits[0]["path"]).name == photos[0].name
        rank1 += person_of(hits[1]["path"], hits[1]["box"]) == name
        for hit in hits[1:]:
            if hit["same_person"]:
                total += 1
                correct += person_of(hit["path"], hit["box"]) == name
    assert rank1 >= 8
    assert correct / total >= 0.9


def test_match_all_faces_of_a_group_photo(gallery: tuple[Path, Path, dict]) -> None:
    photos, index_dir, _ = gallery
    hits = match_rows(photos / "group_02.jpg", "--index", index_dir, "--all-faces", "--top-k", "2")
    assert len({hit["query_face"] for hit in hits}) == len(GROUPS["group_02.jpg"]["people"])
    for hit in hits:
        if Path(hit["path"]).name != "group_02.jpg":
            box = hit["query_box"]
            assert person_of(hit["path"], hit["box"]) == person_of(str(photos / "group_02.jpg"), box)


def test_match_answers_several_queries_and_reports_a_bad_one_in_one_line(
    gallery: tuple[Path, Path, dict], tmp_path: Path, cli_runner: CliRunner
) -> None:
    photos, index_dir, _ = gallery
    folder = tmp_path / "new"
    folder.mkdir()
    for name in ("Jiang_Zemin_0001.jpg", "bad_text.png"):
        shutil.copy(photos / name, folder / name)
    query = photos / "Salma_Hayek_0001.jpg"
    result = cli_runner.invoke(
        app, ["match", str(query), str(folder), "--index", str(index_dir), "--json", "--top-k", "1"]
    )
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "bad_text.png" in line and "not an image" in line
    answers = {Path(answer["query"]).name: answer for answer in answers_of(result.stdout)}
    assert set(answers) == {"Salma_Hayek_0001.jpg", "Jiang_Zemin_0001.jpg", "bad_text.png"}
    assert answers["bad_text.png"]["faces"] == [] and "not an image" in answers["bad_text.png"]["error"]
    for name in ("Salma_Hayek_0001.jpg", "Jiang_Zemin_0001.jpg"):
        (face,) = answers[name]["faces"]
        assert answers[name]["error"] is None and set(face) == {
            "query_face",
            "query_box",
            "nobody",
            "persons",
            "photos",
        }
        (nearest,) = face["photos"]
        assert nearest["distance"] < 0.01 and nearest["same_person"] and not face["nobody"]  # the photo itself


def test_photos_of_a_photo_are_its_persons_photos(gallery: tuple[Path, Path, dict]) -> None:
    photos, index_dir, _ = gallery
    assert run("clusters", "--index", index_dir)[0] == 0  # the gallery keeps persons
    listed = run_json("photos", photos / "Salma_Hayek_0001.jpg", "--index", index_dir)
    assert str(photos / "Salma_Hayek_0001.jpg") in {row["path"] for row in listed}
    (person,) = {row["person"] for row in listed}
    assert listed == run_json("photos", str(person), "--index", index_dir)


def test_verify_same_and_different_people() -> None:
    people = single_face_photos()
    names = sorted(people)
    same = run_json("verify", people[names[0]][0], people[names[0]][1])
    different = run_json("verify", people[names[0]][0], people[names[1]][0])
    assert set(same) == {"distance", "threshold", "same_person", "faces_a", "faces_b", "box_a", "box_b"}
    assert same["same_person"] is True and different["same_person"] is False
    assert same["distance"] < same["threshold"] <= different["distance"]


def test_verify_reads_exif_rotation() -> None:
    result = run_json("verify", SAMPLE_PHOTOS / "rotated_exif.jpg", SAMPLE_PHOTOS / "Amelie_Mauresmo_0001.jpg")
    assert result["same_person"] is True


@pytest.mark.parametrize(
    ("photo", "says"),
    [
        ("missing.jpg", "no such file"),
        ("bad_empty.jpg", "not an image"),
        ("bad_text.png", "not an image"),
        ("bad_truncated.jpg", "truncated"),
        ("no_face.jpg", "no face"),
        (".", "folder"),
    ],
)
def test_verify_bad_input_is_one_line_and_non_zero(photo: str, says: str) -> None:
    path = SAMPLE_PHOTOS / photo if photo != "." else SAMPLE_PHOTOS
    code, stdout, stderr = run("verify", path, SAMPLE_PHOTOS / "Jiang_Zemin_0001.jpg")
    assert code != 0 and stdout == ""
    assert len(stderr.strip().splitlines()) == 1 and says in stderr and path.name in stderr


def test_a_real_process_prints_no_traceback(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "cli", "verify", str(SAMPLE_PHOTOS / "bad_truncated.jpg"), str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_clusters_group_the_people(gallery: tuple[Path, Path, dict]) -> None:
    _, index_dir, _ = gallery
    code, stdout, stderr = run("clusters", "--index", index_dir, "--export", "csv", "--min-size", "1")
    assert code == 0, stderr
    rows = list(csv.DictReader(io.StringIO(stdout)))
    assert len(rows) == expected_faces()
    truth = [person_of(r["photo_path"], [int(r[k]) for k in ("left", "top", "right", "bottom")]) for r in rows]
    predicted = np.array([int(r["person_id"]) for r in rows])
    labels = {name: i for i, name in enumerate(sorted(set(truth)))}
    quality = bcubed(np.array([labels[t] for t in truth]), predicted)
    # The shipped encoder and its calibrated rule (average linkage at 0.75 T, chosen on held-out
    # people, where it favours precision) measure precision 1.0, recall 0.823, F 0.903 here with
    # YuNet's faces (0.805 / 0.892 with HOG's), the five people YuNet sees behind a portrait's
    # subject counted as people of their own: regression floors, and no two people may ever be
    # merged.
    assert quality.precision == 1.0 and quality.recall >= 0.80 and quality.f1 >= 0.89, quality
    by_photo: dict[str, list[int]] = {}
    for row in rows:
        by_photo.setdefault(row["photo_path"], []).append(int(row["person_id"]))
    for persons in by_photo.values():
        assert len(persons) == len(set(persons)), "two faces of one photo in one person"


def test_clusters_linkage_choice(gallery: tuple[Path, Path, dict], tmp_path: Path) -> None:
    """Complete linkage never puts two faces further apart than the threshold in one person;
    an unknown linkage is one line and exit 2."""
    _, index_dir, _ = gallery
    scratch = tmp_path / "gallery"
    shutil.copytree(index_dir, scratch)
    threshold = run_json("info", "--index", scratch)["model"]["threshold"]
    for linkage in ("complete", "average"):
        persons = run_json("clusters", "--index", scratch, "--linkage", linkage, "--min-size", "1")
        assert sum(len(p["faces"]) for p in persons) == expected_faces()
    code, _, stderr = run("clusters", "--index", scratch, "--linkage", "ward")
    assert code == 2 and len(stderr.strip().splitlines()) == 1 and "linkage" in stderr
    persons = run_json("clusters", "--index", scratch, "--linkage", "complete")
    assert persons
    with Gallery.open(scratch, create=False) as opened:
        for person in persons:
            _, vectors = opened.store.face_vectors([face["face_id"] for face in person["faces"]])
            distances = np.linalg.norm(vectors[:, None] - vectors[None], axis=2)
            assert distances.max() < threshold


def test_person_ids_and_names_survive_reindexing(gallery: tuple[Path, Path, dict], tmp_path: Path) -> None:
    photos, index_dir, _ = gallery
    scratch = tmp_path / "gallery"
    shutil.copytree(index_dir, scratch)
    first = run_json("clusters", "--index", scratch)
    biggest = first[0]
    assert run("name", str(biggest["id"]), "Ada Lovelace", "--index", scratch)[0] == 0
    more = tmp_path / "more"
    more.mkdir()
    for photo in list(photos.glob("*_0*.jpg"))[:3]:
        shutil.copy(photo, more / f"copy_{photo.name}")
    run_json("index", more, "--index", scratch)
    second = run_json("clusters", "--index", scratch)
    renamed = [person for person in second if person["id"] == biggest["id"]]
    assert renamed and renamed[0]["name"] == "Ada Lovelace"
    kept = {f["face_id"] for f in biggest["faces"]} & {f["face_id"] for f in renamed[0]["faces"]}
    assert len(kept) >= 0.8 * len(biggest["faces"])


def test_html_contact_sheet(gallery: tuple[Path, Path, dict], tmp_path: Path) -> None:
    _, index_dir, _ = gallery
    sheet = tmp_path / "people.html"
    code, _, stderr = run("clusters", "--index", index_dir, "--export", "html", "--output", sheet)
    assert code == 0, stderr
    text = sheet.read_text()
    persons = run_json("clusters", "--index", index_dir)
    assert text.count('<section class="person"') == len(persons)
    singles = [p for p in run_json("clusters", "--index", index_dir, "--min-size", "1") if p["size"] == 1]
    # faces in no person have their own section at the end
    assert text.count('<img class="face"') == sum(len(p["faces"]) for p in persons) + len(singles)


def test_info_counts(gallery: tuple[Path, Path, dict]) -> None:
    _, index_dir, _ = gallery
    run("clusters", "--index", index_dir)
    info = run_json("info", "--index", index_dir)
    assert info["faces"] == expected_faces()
    assert info["photos"] == len(list(SAMPLE_PHOTOS.iterdir())) - len(BAD_FILES) - 1
    assert info["persons"] >= 8
    assert info["model"]["threshold"] > 0


def test_index_of_a_missing_folder_fails_cleanly(tmp_path: Path) -> None:
    code, _, stderr = run("index", tmp_path / "nowhere", "--index", tmp_path / "g")
    assert code != 0 and "nowhere" in stderr and len(stderr.strip().splitlines()) == 1

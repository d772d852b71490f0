"""Person identity through everything ordinary: trying another clustering, re-indexing, moving
folders, new photos; and names that stay unique. Through the real CLI on the sample gallery."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from facesim import model_card
from facesim.config import CLUSTER_LINKAGES, MODEL_CARD_PATH
from facesim.model_card import MatchRule, clustering_rule
from facesim.pipeline import Face
from index.ingest.indexer import index_folder
from index.persons.ids import assign_stable_ids
from index.persons.persons import (
    Joined,
    cluster_gallery,
    join_new_faces,
    names,
    previous_assignment,
    set_name,
    unassigned_count,
)
from index.store.database import Store
from index.store.gallery import Gallery

from support.cli_runs import run, run_json
from support.fake_faces import fake_face
from support.sample_gallery import single_face_photos
from support.unit_vectors import chord


def stored(index_dir: Path) -> tuple[dict[int, int], dict[int, str]]:
    with Gallery.open(index_dir, create=False) as gallery:
        return previous_assignment(gallery.store), names(gallery.store)


def person_of_photo(index_dir: Path, photo: Path) -> int:
    with Gallery.open(index_dir, create=False) as gallery:
        row = gallery.store.photo(photo)
        assert row is not None, photo
        # The portrait's subject: its largest face (a few show someone behind them too).
        face = gallery.store.faces_of(row.id)[0]  # faces_of lists the largest first
        return previous_assignment(gallery.store)[face["id"]]


@pytest.fixture(scope="module")
def named(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, list[Path]]]:
    """The sample's one-person photos but each person's last one, in a folder per person,
    clustered once, with each person whose photos form one person named after them."""
    base = tmp_path_factory.mktemp("persons")
    people = {}
    for person, photos in single_face_photos().items():
        folder = base / "photos" / person
        folder.mkdir(parents=True)
        for photo in photos[:-1]:
            shutil.copy2(photo, folder / photo.name)
        people[person] = sorted(folder.iterdir())
    index_dir = base / "gallery"
    run_json("index", base / "photos", "--index", index_dir)
    assert run("clusters", "--index", index_dir)[0] == 0
    for person, photos in people.items():
        ids = {person_of_photo(index_dir, photo) for photo in photos}
        if len(ids) == 1:
            assert run("name", str(ids.pop()), person, "--index", index_dir)[0] == 0
    return base / "photos", index_dir, people


@pytest.fixture()
def scratch(named, tmp_path: Path) -> tuple[Path, Path, dict[str, list[Path]]]:
    """A copy of the named gallery and its photos, at the same photo paths' layout."""
    photos, index_dir, people = named
    copy = tmp_path / "gallery"
    shutil.copytree(index_dir, copy)
    return photos, copy, people


def test_a_linkage_trial_and_an_export_change_no_person_and_no_name(scratch, tmp_path):
    _, index_dir, _ = scratch
    before = stored(index_dir)
    assert len(before[1]) >= 5
    code, stdout, stderr = run("clusters", "--index", index_dir, "--linkage", "average", "--min-size", "1", "--json")
    assert code == 0 and "not stored" in stderr and "--apply" in stderr
    assert sum(len(person["faces"]) for person in json.loads(stdout)) == len(before[0])
    for fmt in ("csv", "html", "json"):
        assert run("clusters", "--index", index_dir, "--export", fmt, "-o", tmp_path / f"people.{fmt}")[0] == 0
    assert run("clusters", "--index", index_dir, "--linkage", "complete")[0] == 0
    assert stored(index_dir) == before
    shown = run_json("clusters", "--index", index_dir, "--min-size", "1")
    assert {face["face_id"]: person["id"] for person in shown for face in person["faces"]} == before[0]
    assert {person["id"]: person["name"] for person in shown if person["name"]} == before[1]


def test_apply_stores_a_new_clustering_keeps_names_and_says_which_lost_their_faces(scratch, monkeypatch):
    """The linkage the card did not choose, at half its cut, must cluster the sample differently:
    --apply stores that, every name is kept, and a name whose person lost its faces is reported
    rather than dropped."""
    _, index_dir, _ = scratch
    before_assignment, before_names = stored(index_dir)
    other = next(linkage for linkage in CLUSTER_LINKAGES if linkage != clustering_rule()[0])
    card = json.loads(json.dumps(model_card._cached(MODEL_CARD_PATH)))
    card["clustering"]["cuts"][other] /= 2
    monkeypatch.setattr(model_card, "_cached", lambda path: card)
    code, _, stderr = run("clusters", "--index", index_dir, "--linkage", other, "--apply")
    assert code == 0
    assignment, after_names = stored(index_dir)
    assert assignment != before_assignment and after_names == before_names
    faceless = set(before_names) - set(assignment.values())
    assert len(faceless) < len(before_names) / 2
    for person in faceless:
        assert f"{person} {before_names[person]}" in stderr


def test_renamed_folders_keep_their_persons_and_names(scratch):
    photos, index_dir, people = scratch
    before = stored(index_dir)
    moved_root = photos.parent / "moved"
    shutil.copytree(photos, moved_root)
    try:
        for person in people:
            (moved_root / person).rename(moved_root / f"{person}_renamed")
        summary = run_json("index", moved_root, "--index", index_dir)
        summary = run_json("index", photos, "--index", index_dir)  # the old folders are still there
        assert summary["indexed"] == 0
        shutil.rmtree(photos)
        summary = run_json("index", photos.parent, "--index", index_dir, "--exclude", "gallery")
        moved = sum(len(paths) for paths in people.values())  # every photo, whatever its faces
        assert (summary["indexed"], summary["gone"], summary["moved"]) == (0, 0, moved)
        assert stored(index_dir) == before
    finally:
        if not photos.exists():
            shutil.copytree(moved_root, photos)
            for person in people:
                (photos / f"{person}_renamed").rename(photos / person)
        shutil.rmtree(moved_root)


def test_new_photos_join_their_person_at_the_next_index(scratch, tmp_path):
    _, index_dir, people = scratch
    before_assignment, before_names = stored(index_dir)
    clusters_before = run_json("info", "--index", index_dir)["persons"]
    new = tmp_path / "new"
    new.mkdir()
    for photos in single_face_photos().values():
        shutil.copy2(photos[-1], new / photos[-1].name)
    summary = run_json("index", new, "--index", index_dir)
    assert summary["indexed"] == len(people)
    assignment, after_names = stored(index_dir)
    assert after_names == before_names
    assert {face: assignment[face] for face in before_assignment} == before_assignment
    # Every new face is in a person now: one a photo, plus anyone seen behind a subject.
    assert summary["faces"] >= len(people)
    assert len(assignment) == len(before_assignment) + summary["faces"]
    by_name = {name: person for person, name in before_names.items()}
    right = sum(
        person_of_photo(index_dir, new / photos[-1].name) == by_name.get(name)
        for name, photos in ((name, single_face_photos()[name]) for name in by_name)
    )
    assert summary["joined"] >= right >= len(by_name) - 1
    assert summary["joined"] + summary["new_persons"] <= summary["faces"]
    assert run_json("info", "--index", index_dir)["persons"] >= clusters_before


def test_names_are_unique(scratch):
    _, index_dir, _ = scratch
    assignment, given = stored(index_dir)
    first, second = sorted(given)[:2]
    code, stdout, stderr = run("name", str(second), given[first].upper(), "--index", index_dir)
    assert code == 2 and len(stderr.strip().splitlines()) == 1
    assert f"person {first}" in stderr and "Traceback" not in stderr
    assert stored(index_dir)[1] == given
    assert run("name", str(first), given[first], "--index", index_dir)[0] == 0  # its own name again
    assert run("name", str(second), "Someone Else", "--index", index_dir)[0] == 0
    assert stored(index_dir)[1][second] == "Someone Else"


def _circle_face(angle: float) -> Face:
    vector = np.zeros(8, dtype=np.float32)
    vector[:2] = np.cos(angle), np.sin(angle)
    return fake_face(vector, (0, 0, 10, 10))


def _record_circle_photo(store: Store, name: str, angles: list[float]) -> None:
    store.record_photo(
        f"/p/{name}.jpg",
        status="indexed",
        content_hash=name,
        size=1,
        mtime_ns=1,
        model_id="m",
        faces=[_circle_face(angle) for angle in angles],
    )


def test_a_new_face_joins_the_nearest_person_the_match_rule_accepts(tmp_path):
    """Chord distance on the unit circle is 2 sin(angle / 2). Person 1 spans 0.0 to 0.4 rad,
    person 2 sits at 3.0. The rule accepts a person whose nearest face is under 0.5."""
    rule = MatchRule(0.5, None, None, 0.5)
    with Store(tmp_path / "g.db") as store:
        for number, angle in enumerate([0.0, 0.4, 3.0]):
            _record_circle_photo(store, str(number), [angle])
        first = cluster_gallery(store, 0.5)
        assert (first.persons, first.singletons) == (1, 1)
        person = previous_assignment(store)[1]
        assert set_name(store, person, "Ada") is None
        # 0.8 is 0.4 rad from person 1's nearest face (0.397 apart): it joins, far as 0.0 is. The
        # group shot's faces at 0.2 and 0.25 are both near person 1, but may not share a person.
        _record_circle_photo(store, "chain", [0.8])
        _record_circle_photo(store, "group", [0.2, 0.25])
        joined = join_new_faces(store, rule)
        assignment = previous_assignment(store)
        assert assignment[4] == assignment[5] == person
        assert len({assignment[6], person, assignment[3]}) == 3
        assert (joined.existing, joined.new_persons) == (2, 1)
        assert join_new_faces(store, rule) == Joined(0, 0)
        assert names(store) == {person: "Ada"}


@pytest.mark.parametrize(("offset", "joins"), [(-1e-3, True), (1e-3, False)])
def test_joining_flips_at_the_match_rules_cut_and_ratio(tmp_path, offset: float, joins: bool):
    """A face `cut + offset` from a lone person joins it only under the cut; a face as near two
    persons (a ratio of 1) joins neither when the rule asks for a clear winner."""
    cut = float(chord(0.5))
    with Store(tmp_path / "g.db") as store:
        _record_circle_photo(store, "ada", [0.0])
        _record_circle_photo(store, "bob", [2.0])
        _record_circle_photo(store, "carl", [2.8])
        cluster_gallery(store, 0.1)
        ada = previous_assignment(store)[1]
        _record_circle_photo(store, "new", [2 * np.arcsin((cut + offset) / 2)])
        _record_circle_photo(store, "between", [2.4])  # 0.4 rad from bob and from carl, under the cut
        join_new_faces(store, MatchRule(cut, 0.9, None, cut))
        assignment = previous_assignment(store)
        assert (assignment[4] == ada) is joins
        assert assignment[5] not in {ada, assignment[2], assignment[3]}
        join_new_faces(store, MatchRule(cut, None, None, cut))  # nothing left to join: the verdicts stand
        assert previous_assignment(store) == assignment


def test_named_persons_keep_their_id_through_a_merge_with_a_larger_unnamed_one() -> None:
    previous = {1: 10, 2: 10, 3: 10, 4: 11}
    faces = np.array([1, 2, 3, 4])
    merged = np.zeros(4, dtype=int)
    assert assign_stable_ids(previous, faces, merged, 12)[0] == dict.fromkeys(range(1, 5), 10)
    assert assign_stable_ids(previous, faces, merged, 12, prefer={11})[0] == dict.fromkeys(range(1, 5), 11)


def test_contact_sheet_shows_the_stored_persons_and_the_faces_in_no_person(scratch, tmp_path):
    _, index_dir, _ = scratch
    persons = run_json("clusters", "--index", index_dir, "--min-size", "1")
    sheet = tmp_path / "people.html"
    assert run("clusters", "--index", index_dir, "--export", "html", "-o", sheet)[0] == 0
    page = sheet.read_text()
    assert page.count('<section class="person"') == sum(person["size"] >= 2 for person in persons)
    singles = sum(person["size"] == 1 for person in persons)
    assert f'data-unassigned-faces="{singles}" data-hidden-faces="0"' in page
    for person in persons:
        if person["name"]:
            assert f'{person["name"]} <span class="id">#{person["id"]}</span>' in page


def test_faces_left_by_an_interrupted_run_join_their_persons_when_clusters_shows_them(scratch, tmp_path):
    _, index_dir, _ = scratch
    new = tmp_path / "new"
    new.mkdir()
    for photos in single_face_photos().values():
        shutil.copy2(photos[-1], new / photos[-1].name)

    done: list[Path] = []

    def stop_at_the_second_photo(_total: int, _done: int, path: Path | None) -> None:
        if path is not None:
            done.append(path)
            if len(done) == 2:
                raise KeyboardInterrupt

    with Gallery.open(index_dir) as gallery, pytest.raises(KeyboardInterrupt):
        index_folder(gallery, new, batch_size=1, progress=stop_at_the_second_photo)
    with Gallery.open(index_dir, create=False) as gallery:
        committed = sum(len(gallery.store.faces_of(gallery.store.photo(path).id)) for path in done)
        assert len(done) <= committed == unassigned_count(gallery.store)  # each committed before it was reported
    shown = run_json("clusters", "--index", index_dir, "--min-size", "1")
    with Gallery.open(index_dir, create=False) as gallery:
        assert unassigned_count(gallery.store) == 0
        assert sum(person["size"] for person in shown) == gallery.store.face_count()

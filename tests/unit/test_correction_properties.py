"""Hypothesis drives a user through any sequence of reject, move, merge, split, unreject and name,
with new photos and `clusters --apply` in between, and checks after every step that every
correction still standing holds in the stored persons, that no photo is twice in one person, that
a person the user built keeps the faces it had through a re-clustering, and that every named
person is in the default table.

The model below is what the user said, kept apart from the code under test: a reject says "face F
is not person P", a move or merge "these faces are one person", and split, unreject or a later
move take back exactly what the commands document."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from facesim.errors import FacesimError
from facesim.model_card import MatchRule
from index.export.tables import hide_small
from index.persons.corrections import merge_persons, move_faces, reject_faces, take_back, unreject_faces
from index.persons.persons import (
    cluster_gallery,
    join_new_faces,
    names,
    previous_assignment,
    set_name,
    stored_clustering,
)
from index.store.database import Store

from support.fake_faces import fake_face

CUT = 1.0  # complete linkage: every two faces of a person closer than this
DIMENSIONS = 8
# Four people; 0 and 1 close enough that the clustering may make them one person.
CENTRES = np.array(
    [[1, 0, 0, 0, 0, 0, 0, 0], [0.85, 0.53, 0, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1, 0, 0]]
)

STEPS = ("reject", "reject_each", "move", "move_new", "merge", "split", "unreject", "name", "photo", "apply")


class UserModel:
    """What the user said, and the commands' documented rules for taking it back."""

    def __init__(self) -> None:
        self.apart: dict[tuple[int, int], str] = {}  # (face, person) -> the command that said so
        self.together: dict[tuple[int, int], str] = {}  # (face, face) -> the command that said so
        self.named: set[str] = set()

    def forget_faces(self, faces: set[int], *, rejects_only: bool = False) -> None:
        for face, person in list(self.apart):
            if face in faces:
                del self.apart[face, person]
        for pair, command in list(self.together.items()):
            if set(pair) & faces and (not rejects_only or command == "reject"):
                del self.together[pair]


def _add_photo(store: Store, rng: np.random.Generator, number: int, people: list[int]) -> None:
    faces = []
    for slot, person in enumerate(people):
        vector = CENTRES[person] + 0.12 * rng.normal(size=DIMENSIONS)
        box = (10 + 60 * slot, 10, 50 + 60 * slot, 50)
        faces.append(fake_face((vector / np.linalg.norm(vector)).astype(np.float32), box))
    path = f"/photos/{number}.jpg"
    store.record_photo(path, status="indexed", content_hash=path, size=1, mtime_ns=1, model_id="m", faces=faces)


def _records(store: Store) -> tuple:
    return (
        previous_assignment(store),
        sorted(store.db.execute("SELECT kind, face_a, face_b FROM face_links")),
        sorted(store.db.execute("SELECT face_id, person_id FROM face_rejects")),
        names(store),
    )


def _members(assignment: dict[int, int]) -> dict[int, list[int]]:
    members: dict[int, list[int]] = {}
    for face, person in sorted(assignment.items()):
        members.setdefault(person, []).append(face)
    return members


def _check(store: Store, model: UserModel) -> None:
    assignment = previous_assignment(store)
    for face, person in model.apart:
        assert assignment.get(face) != person, f"face {face} is in person {person}, which it was said not to be"
    for a, b in model.together:
        assert assignment[a] == assignment[b], f"faces {a} and {b} were said to be one person"
    photo_of = dict(store.db.execute("SELECT id, photo_id FROM faces"))
    for person, faces in _members(assignment).items():
        assert len({photo_of[face] for face in faces}) == len(faces), f"person {person} holds one photo twice"
    shown = {row.person_id for row in hide_small(stored_clustering(store).rows, 2)[0]}
    given = names(store)
    assert {given[person] for person in set(assignment.values()) & set(given)} <= model.named
    for person in set(assignment.values()) & set(given):
        assert person in shown, f"named person {person} is hidden from the default table"


def _built(store: Store) -> list[list[int]]:
    """The persons holding a face some correction names: what the user built."""
    named = {face for pair in store.db.execute("SELECT face_a, face_b FROM face_links") for face in pair}
    named |= {face for (face,) in store.db.execute("SELECT face_id FROM face_rejects")}
    members = _members(previous_assignment(store))
    return [faces for faces in members.values() if set(faces) & named]


@given(seed=st.integers(0, 2**32 - 1), steps=st.lists(st.sampled_from(STEPS), min_size=1, max_size=14))
def test_every_correction_stays_true_through_new_photos_and_apply(tmp_path_factory, seed: int, steps: list) -> None:
    rng = np.random.default_rng(seed)
    folder: Path = tmp_path_factory.mktemp("props")
    with Store(folder / "g.db") as store:
        for number in range(8):
            _add_photo(store, rng, number, [number % 4] if number < 6 else [0, 1])
        cluster_gallery(store, CUT, "complete")
        model = UserModel()
        photos = 8
        for step in steps:
            assignment = previous_assignment(store)
            members = _members(assignment)
            persons = sorted(members)
            faces = sorted(assignment)
            picked = [
                int(face) for face in rng.choice(faces, size=min(len(faces), int(rng.integers(1, 4))), replace=False)
            ]
            person = int(rng.choice(persons))
            before = _records(store)
            try:
                if step in ("reject", "reject_each"):
                    now = reject_faces(store, picked, together=step == "reject")
                    leaving = [face for face in picked if now[face] != assignment[face]]
                    for face in picked:
                        model.apart[face, assignment[face]] = "reject"
                    if step == "reject":
                        model.together.update({(leaving[0], face): "reject" for face in leaving[1:]})
                elif step in ("move", "move_new"):
                    target = person if step == "move" else None
                    done = move_faces(store, picked, target)
                    moving = [face for face in picked if assignment[face] != target]
                    anchor = members[target][0] if target is not None else moving[0]
                    for face in moving:
                        if len(members[assignment[face]]) > 1:
                            model.apart[face, assignment[face]] = "move"
                        model.apart.pop((face, done.person_id), None)
                        if face != anchor:
                            model.together[anchor, face] = "move"
                elif step == "merge":
                    others = [int(other) for other in rng.choice(persons, size=min(2, len(persons)), replace=False)]
                    others = [other for other in others if other != person]
                    merge_persons(store, person, others)
                    merged = members[person] + [face for other in others for face in members[other]]
                    model.together.update({(members[person][0], face): "merge" for face in merged[1:]})
                    model.apart = {
                        (face, person if old in others else old): command
                        for (face, old), command in model.apart.items()
                    }
                elif step == "split":
                    take_back(store, person)
                    model.forget_faces(set(members[person]))
                    cluster_gallery(store, CUT, "complete")
                elif step == "unreject":
                    unreject_faces(store, picked[:1])
                    model.forget_faces(set(picked[:1]), rejects_only=True)
                elif step == "name":
                    name = f"Person {int(rng.integers(0, 3))}"
                    set_name(store, person, name)
                    model.named.add(name)
                elif step == "photo":
                    people = [int(rng.integers(0, 4))] if rng.random() < 0.7 else [0, 1]
                    _add_photo(store, rng, photos, people)
                    photos += 1
                    join_new_faces(store, MatchRule(CUT, None, None, CUT))
                else:
                    built = _built(store)
                    cluster_gallery(store, CUT, "complete")
                    after = previous_assignment(store)
                    for faces_of_person in built:
                        assert len({after[face] for face in faces_of_person}) == 1, "a person the user built came apart"
            except FacesimError:
                assert _records(store) == before, f"a refused {step} changed the gallery"
            _check(store, model)

"""`facesim merge`, `move`, `reject` and `split`: a user's corrections to persons.

Each correction changes the stored persons at once and records face pairs (index.constraints),
so that every later clustering, after new photos or with another rule, keeps it. A correction
that contradicts an earlier one is refused with one line naming both, never half applied.
"""

from __future__ import annotations

from dataclasses import dataclass

from facesim.errors import FacesimError
from index.constraints import DIFFERENT, SAME, add_links, ensure_schema, links
from index.persons import META_NEXT_PERSON_ID, names, next_person_id, previous_assignment
from index.store import Store


@dataclass(frozen=True)
class Correction:
    person_id: int  # the person the face or faces now belong to
    faces: int  # faces whose person changed
    note: str = ""  # something the user should know (a name given up in a merge)


def _faces_of(store: Store, person_id: int) -> list[int]:
    faces = sorted(face for face, person in previous_assignment(store).items() if person == person_id)
    if not faces:
        raise FacesimError(f"no person {person_id} in this gallery; run `facesim clusters` to see the ids")
    return faces


def _photo_of(store: Store, faces: list[int]) -> dict[int, int]:
    marks = ",".join("?" * len(faces))
    return dict(store.db.execute(f"SELECT id, photo_id FROM faces WHERE id IN ({marks})", faces).fetchall())


def _linked(pairs: list[tuple[int, int]], left: set[int], right: set[int]) -> tuple[int, int] | None:
    for a, b in pairs:
        if (a in left and b in right) or (a in right and b in left):
            return a, b
    return None


def merge_persons(store: Store, keep: int, other: int) -> Correction:
    """Person `other` is person `keep`: its faces take `keep`'s id, and `keep`'s name, or `other`'s
    when `keep` has none."""
    if keep == other:
        raise FacesimError(f"person {keep} cannot be merged with itself")
    ensure_schema(store)
    kept, moved = _faces_of(store, keep), _faces_of(store, other)
    _, different = links(store)
    clash = _linked(different, set(kept), set(moved))
    if clash:
        raise FacesimError(
            f"faces {clash[0]} and {clash[1]} were marked as different people; cannot merge {keep}/{other}"
        )
    photos = _photo_of(store, kept + moved)
    shared = {photos[f] for f in kept} & {photos[f] for f in moved}
    if shared:
        raise FacesimError(f"persons {keep} and {other} both appear in one photo (photo id {min(shared)}); not merged")
    known = names(store)
    note = ""
    with store.transaction():
        anchor = kept[0]
        add_links(store, SAME, ((anchor, face) for face in kept[1:] + moved), f"merge {keep} {other}")
        store.db.execute("UPDATE face_persons SET person_id = ? WHERE person_id = ?", [keep, other])
        if other in known:
            if keep in known:
                note = f"person {other}'s name {known[other]!r} was given up for {known[keep]!r}"
            else:
                store.db["persons"].upsert({"id": keep, "name": known[other]}, pk="id")
            store.db["persons"].update(other, {"name": ""})
    return Correction(keep, len(moved), note)


def move_face(store: Store, face: int, person_id: int) -> Correction:
    """This face is `person_id`: tied to that person's faces and parted from its current ones."""
    assignment = previous_assignment(store)
    if face not in assignment:
        raise FacesimError(f"no face {face} in any person; run `facesim clusters` to see the face ids")
    current = assignment[face]
    target = _faces_of(store, person_id)
    if current == person_id:
        return Correction(person_id, 0)
    same, different = links(store)
    clash = _linked(different, {face}, set(target))
    if clash:
        raise FacesimError(f"face {face} was marked as not person {person_id} (`facesim reject`); not moved")
    former = [f for f, p in assignment.items() if p == current and f != face]
    tie = _linked(same, {face}, set(former))
    if tie:
        raise FacesimError(f"face {face} was merged into person {current}; `facesim split {current}` first")
    photos = _photo_of(store, target + [face])
    if photos[face] in {photos[f] for f in target}:
        raise FacesimError(f"person {person_id} already has a face in the photo of face {face}; not moved")
    with store.transaction():
        add_links(store, SAME, [(target[0], face)], f"move {face} {person_id}")
        add_links(store, DIFFERENT, ((face, other) for other in former), f"move {face} {person_id}")
        store.db.execute("UPDATE face_persons SET person_id = ? WHERE face_id = ?", [person_id, face])
    return Correction(person_id, 1)


def reject_face(store: Store, face: int, person_id: int | None = None) -> Correction:
    """This face is not `person_id` (default: the person it is in now): parted from every one of
    that person's faces, it becomes a person of its own."""
    assignment = previous_assignment(store)
    if face not in assignment:
        raise FacesimError(f"no face {face} in any person; run `facesim clusters` to see the face ids")
    person_id = assignment[face] if person_id is None else person_id
    others = [f for f in _faces_of(store, person_id) if f != face]
    same, _ = links(store)
    tie = _linked(same, {face}, set(others))
    if tie:
        raise FacesimError(
            f"face {face} was merged or moved into person {person_id}; `facesim split {person_id}` first"
        )
    moved = assignment[face] == person_id
    new_id = next_person_id(store, assignment) if moved else assignment[face]
    with store.transaction():
        add_links(store, DIFFERENT, ((face, other) for other in others), f"reject {face} {person_id}")
        if moved:
            store.db.execute("UPDATE face_persons SET person_id = ? WHERE face_id = ?", [new_id, face])
            store.set_meta(META_NEXT_PERSON_ID, str(new_id + 1))
    return Correction(new_id, int(moved))


def unmerge_links(store: Store, person_id: int) -> int:
    """Takes back the merges and moves into `person_id`, so the next clustering may part what they
    joined; returns how many face pairs were dropped. The caller re-clusters."""
    ensure_schema(store)
    faces = set(_faces_of(store, person_id))
    rows = [
        (row_id, a, b)
        for row_id, a, b in store.db.execute("SELECT id, face_a, face_b FROM face_links WHERE kind = 'same'")
        if a in faces or b in faces
    ]
    if not rows:
        raise FacesimError(f"person {person_id} holds no merge or move to undo")
    with store.transaction():
        store.db.conn.executemany("DELETE FROM face_links WHERE id = ?", [(row_id,) for row_id, _, _ in rows])
    return len(rows)

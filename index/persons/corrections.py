"""`facesim merge`, `move`, `reject`, `unreject` and `split`: a user's corrections to persons.

Each correction changes the stored persons at once and records what the user said
(index.persons.constraints), so that every later clustering, after new photos or with another rule,
keeps it. A correction that contradicts an earlier one is refused with one line naming both,
never half applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from facesim.errors import FacesimError
from index.persons.constraints import SAME, add_links, add_rejects, links, rejects
from index.persons.persons import META_NEXT_PERSON_ID, names, next_person_id, previous_assignment
from index.store.database import Store


@dataclass(frozen=True)
class Correction:
    person_id: int  # the person the face or faces now belong to
    faces: int  # faces whose person changed
    note: str = ""  # something the user should know (a name given up in a merge)


def _members(assignment: dict[int, int]) -> dict[int, list[int]]:
    members: dict[int, list[int]] = {}
    for face, person in sorted(assignment.items()):
        members.setdefault(person, []).append(face)
    return members


def _faces_of(store: Store, person_id: int) -> list[int]:
    faces = sorted(face for face, person in previous_assignment(store).items() if person == person_id)
    if not faces:
        raise FacesimError(f"no person {person_id} in this gallery; run `facesim clusters` to see the ids")
    return faces


def _assignment_of(store: Store, faces: Sequence[int]) -> dict[int, int]:
    """The stored persons, once every given face is known to be in one."""
    assignment = previous_assignment(store)
    for face in faces:
        if face not in assignment:
            raise FacesimError(f"no face {face} in any person; run `facesim clusters` to see the face ids")
    return assignment


def _shared_photo(store: Store, faces: list[int]) -> tuple[int, int] | None:
    """Two of the faces that are in one photo, or None: one photo's faces are never one person."""
    seen: dict[int, int] = {}
    for face, photo in sorted(store.photos_of_faces(faces).items()):
        if photo in seen:
            return seen[photo], face
        seen[photo] = face
    return None


def _linked(pairs: list[tuple[int, int]], left: set[int], right: set[int]) -> tuple[int, int] | None:
    for a, b in pairs:
        if (a in left and b in right) or (a in right and b in left):
            return a, b
    return None


def _listed(faces: Sequence[int]) -> str:
    return ",".join(map(str, faces))


def merge_persons(store: Store, keep: int, others: Sequence[int]) -> Correction:
    """Persons `others` are person `keep`: their faces take `keep`'s id, and `keep`'s name, or the
    first name among `others` when `keep` has none. A reject naming one of them now names `keep`:
    a face that is not one of the merged persons is not the merged person either."""
    others = list(dict.fromkeys(others))
    if keep in others:
        raise FacesimError(f"person {keep} cannot be merged with itself")
    faces = {person: _faces_of(store, person) for person in [keep, *others]}
    owner = {face: person for person, held in faces.items() for face in held}
    for face, person in rejects(store):
        if person in faces and face in owner:
            raise FacesimError(
                f"face {face} of person {owner[face]} was rejected from person {person} "
                f"(`facesim unreject {face}` takes that back); not merged"
            )
    _, different = links(store)
    for other in others:
        clash = _linked(different, set(faces[keep]), set(faces[other]))
        if clash:
            raise FacesimError(
                f"faces {clash[0]} and {clash[1]} were marked as different people; cannot merge {keep}/{other}"
            )
    clash = _shared_photo(store, sorted(owner))
    if clash:
        first, second = sorted((owner[clash[0]], owner[clash[1]]))
        photo = store.photos_of_faces([clash[0]])[clash[0]]
        raise FacesimError(f"persons {first} and {second} both appear in one photo (photo id {photo}); not merged")
    known = names(store)
    given = [person for person in [keep, *others] if person in known]
    notes = [f"person {person}'s name {known[person]!r} was given up for {known[given[0]]!r}" for person in given[1:]]
    anchor = faces[keep][0]
    moved = [face for other in others for face in faces[other]]
    with store.transaction():
        correction = f"merge {keep} {' '.join(map(str, others))}"
        add_links(store, SAME, ((anchor, face) for face in faces[keep][1:] + moved), correction)
        for other in others:
            store.move_person_faces(other, into=keep)
            store.move_person_rejects(other, into=keep)
        if given:
            store.name_person(keep, known[given[0]])
        for person in given:
            if person != keep:
                store.clear_name(person)
    return Correction(keep, len(moved), "; ".join(notes))


def move_faces(store: Store, faces: Sequence[int], person_id: int | None) -> Correction:
    """These faces are `person_id` (None: a new person, of these faces together): tied to that
    person and not the persons they leave. Moving a face into a person it was rejected from is
    the user taking the reject back."""
    faces = list(dict.fromkeys(faces))
    assignment = _assignment_of(store, faces)
    target = [] if person_id is None else _faces_of(store, person_id)
    moving = [face for face in faces if assignment[face] != person_id]
    if person_id is not None and not moving:
        return Correction(person_id, 0)
    members = _members(assignment)
    same, different = links(store)
    for face in moving:
        current = assignment[face]
        tie = _linked(same, {face}, {f for f in members[current] if f not in moving})
        if tie:
            raise FacesimError(f"face {face} was merged into person {current}; `facesim split {current}` first")
        if person_id is not None and _linked(different, {face}, set(target)):
            raise FacesimError(f"face {face} was marked as not person {person_id} (`facesim reject`); not moved")
    clash = _shared_photo(store, target + moving)
    if clash:
        where = f"person {person_id} already has a face" if clash[0] in target else f"face {clash[0]} is"
        raise FacesimError(f"{where} in the photo of face {clash[1]}; one photo's faces are never one person")
    new_id = next_person_id(store, assignment) if person_id is None else person_id
    anchor = target[0] if target else moving[0]
    correction = f"move {_listed(moving)} {'new' if person_id is None else person_id}"
    with store.transaction():
        add_links(store, SAME, ((anchor, face) for face in moving if face != anchor), correction)
        left = [(face, assignment[face]) for face in moving if len(members[assignment[face]]) > 1]
        add_rejects(store, left, correction)
        store.drop_rejects_from_person(moving, new_id)
        store.move_faces_to_person(moving, new_id)
        if person_id is None:
            store.set_meta(META_NEXT_PERSON_ID, str(new_id + 1))
    return Correction(new_id, len(moving))


def reject_faces(
    store: Store, faces: Sequence[int], person_id: int | None = None, *, together: bool = True
) -> dict[int, int]:
    """These faces are not `person_id` (default: each face's person now). The faces that leave a
    person become one new person together (the user is pulling someone out), or, without
    `together`, a new person each. What is recorded is "face F is not person P", never "F differs
    from every face P held": two faces rejected one at a time can still be one person. Returns
    each face's person now."""
    faces = list(dict.fromkeys(faces))
    assignment = _assignment_of(store, faces)
    if person_id is not None:
        _faces_of(store, person_id)
    source = {face: assignment[face] if person_id is None else person_id for face in faces}
    leaving = [face for face in faces if assignment[face] == source[face]]
    members = _members(assignment)
    same, _ = links(store)
    for face in faces:
        tie = _linked(same, {face}, {f for f in members.get(source[face], ()) if f not in leaving})
        if tie:
            raise FacesimError(
                f"face {face} was put in person {source[face]} by a merge, move or reject; "
                f"`facesim split {source[face]}` first"
            )
    for person in sorted({source[face] for face in leaving}):
        if set(members[person]) <= set(leaving):
            held = members[person]
            if len(held) == 1:
                what = f"face {held[0]} is person {person}'s only face: there is no one left to pull it out of"
            else:
                what = f"faces {_listed(held)} are all of person {person}: there is no one left to pull them out of"
            raise FacesimError(f"{what} (`facesim name` renames a person)")
    clash = _shared_photo(store, leaving) if together else None
    if clash:
        raise FacesimError(
            f"faces {clash[0]} and {clash[1]} are in one photo, so never one person; reject them with --each"
        )
    next_id = next_person_id(store, assignment)
    if together:
        new_persons = dict.fromkeys(leaving, next_id)
    else:
        new_persons = {face: next_id + number for number, face in enumerate(leaving)}
    correction = f"reject {_listed(faces)}" + ("" if person_id is None else f" {person_id}")
    with store.transaction():
        add_rejects(store, ((face, source[face]) for face in faces), correction)
        if together:
            add_links(store, SAME, ((leaving[0], face) for face in leaving[1:]), correction)
        for face, person in new_persons.items():
            store.move_faces_to_person([face], person)
        if new_persons:
            store.set_meta(META_NEXT_PERSON_ID, str(max(new_persons.values()) + 1))
    return {face: new_persons.get(face, assignment[face]) for face in faces}


def unreject_faces(store: Store, faces: Sequence[int], person_id: int | None = None) -> dict[int, int]:
    """Takes back the rejects of these faces (from `person_id` only, when given; a move's "not the
    person it left" included), and the ties a reject made between faces pulled out together. A
    face free of every tie goes back to the person it was rejected from, unless that person is
    gone or already has a face of its photo; otherwise the next clustering may put it back.
    Returns each face's person now."""
    faces = list(dict.fromkeys(faces))
    assignment = _assignment_of(store, faces)
    recorded = store.face_rejects()
    taken: dict[int, list[tuple[int, int]]] = {}
    for face in faces:
        found = [(row, person) for row, of, person in recorded if of == face and person_id in (None, person)]
        if not found:
            whence = "" if person_id is None else f" from person {person_id}"
            raise FacesimError(f"face {face} was not rejected{whence}; nothing to take back")
        taken[face] = found
    members = _members(assignment)
    now = dict(assignment)
    with store.transaction():
        for face, found in taken.items():
            store.delete_rejects(row for row, _ in found)
            store.drop_reject_ties(face)
        same, _ = links(store)
        refused = set(rejects(store))
        for face, found in taken.items():
            back = found[-1][1]
            tied = any(face in pair for pair in same)
            if tied or back not in members or (face, back) in refused or now[face] == back:
                continue
            if _shared_photo(store, [face] + [f for f in members[back] if now[f] == back]):
                continue
            store.move_faces_to_person([face], back)
            now[face] = back
    return {face: now[face] for face in faces}


def take_back(store: Store, person_id: int) -> int:
    """Takes back the corrections that made person `person_id`: the merges and moves into it and
    the rejects that pulled its faces out of other persons, so the next clustering may part what
    they joined or join what they parted; returns how many were dropped. The caller re-clusters."""
    faces = set(_faces_of(store, person_id))
    pairs = [row_id for row_id, kind, a, b in store.face_links() if a in faces or (kind == SAME and b in faces)]
    refused = [row_id for row_id, face, _ in store.face_rejects() if face in faces]
    if not pairs and not refused:
        raise FacesimError(f"person {person_id} holds no merge, move or reject to undo")
    with store.transaction():
        store.delete_links(pairs)
        store.delete_rejects(refused)
    return len(pairs) + len(refused)

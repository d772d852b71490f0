"""Person clusters kept in the gallery database, so that IDs and names survive re-runs.

Clustering itself is pure (index.clustering.cluster); this module runs it over a gallery's indexed faces,
keeps each person's ID stable across runs (index.persons.ids) and stores the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from facesim.config import DEFAULT_LINKAGE
from facesim.errors import FacesimError
from facesim.geometry import box_iou, distance_from_inner_product
from facesim.model_card import MatchRule
from index.clustering.cluster import cluster_faces
from index.match.rule import accepted_persons, person_distances
from index.persons.constraints import honour_links, rejects, standing_pairs
from index.persons.face_rows import FaceRow, build_rows
from index.persons.ids import assign_stable_ids
from index.store.database import Store

META_NEXT_PERSON_ID = "next_person_id"
# New faces compared with the whole gallery at once: 64 x 1M faces of float32 is 256 MB.
_JOIN_BLOCK = 64


@dataclass(frozen=True)
class Clustering:
    rows: list[FaceRow]  # every indexed face, largest person first
    persons: int  # persons with at least two faces
    singletons: int  # faces that matched nobody
    # names whose person has no face in this clustering: kept, shown so the user can act on them
    faceless_names: dict[int, str] = field(default_factory=dict)


def previous_assignment(store: Store) -> dict[int, int]:
    """face id -> person id, as the last clustering and the corrections since left them."""
    return store.person_assignment()


def names(store: Store) -> dict[int, str]:
    """person id -> name, for the persons the user named."""
    return store.person_names()


def persons_of_faces(store: Store, face_ids: list[int]) -> dict[int, tuple[int, str]]:
    """face id -> (person id, name) from the last clustering, for match output."""
    return store.persons_of_faces(face_ids)


def set_name(store: Store, person_id: int, name: str) -> None:
    """Names live with the person id, so they follow the person through later re-clusterings.

    A name belongs to one person: two persons called "Penny" would make every match and export
    ambiguous, so a name another person with faces holds is refused (case aside). A name whose
    person has no face left moves to this one.
    """
    if not store.person_has_faces(person_id):
        raise FacesimError(f"no person {person_id} in this gallery; run `facesim clusters` to see the ids")
    name = name.strip()
    holders = check_name_free(store, name, person_id)
    with store.transaction():
        for other in holders:
            store.clear_name(other)
        store.name_person(person_id, name)


def check_name_free(store: Store, name: str, person_id: int | None = None) -> list[int]:
    """Refuses a name another person with faces holds (case aside); returns the faceless persons
    holding it, whose name gives way."""
    known = names(store)
    holders = [
        other
        for other, other_name in known.items()
        if other != person_id and name.strip() and other_name.casefold() == name.strip().casefold()
    ]
    for other in holders:
        if store.person_has_faces(other):
            whom = "the new person" if person_id is None else f"person {person_id}"
            raise FacesimError(
                f"person {other} is already named {known[other]!r}; names are unique: give {whom} "
                f"another name, or rename person {other} first"
            )
    return holders


def has_persons(store: Store) -> bool:
    """Whether the gallery keeps persons (from an applied clustering) for its faces."""
    return store.has_persons()


def unassigned_count(store: Store) -> int:
    """Indexed faces in no person yet: faces committed by an index run that has not ended."""
    return store.unassigned_face_count()


@dataclass(frozen=True)
class Joined:
    existing: int  # new faces that joined a person the gallery already had
    new_persons: int  # persons started by new faces that matched no one


def join_new_faces(store: Store, rule: MatchRule) -> Joined:
    """Puts every indexed face that has no person into one, without re-clustering anyone.

    Each new face is a query against the gallery's persons, answered by the match rule
    (index.match.rule), the rule `facesim match` answers with: it joins the nearest person the
    rule accepts among those with no face in the same photo (one photo's faces are never one
    person) and that no reject kept it from (a re-embedded face keeps its corrections), and starts
    a person of its own when the rule accepts nobody; later new faces may join it. Faces are taken
    in id order (the order they were indexed), so the same gallery always gives the same persons.
    Needs the writer's lock. Does nothing while the gallery keeps no persons: its first clustering
    is `facesim clusters`.
    """
    if not has_persons(store) or unassigned_count(store) == 0:
        return Joined(0, 0)
    face_ids, vectors, photo_ids, _ = _indexed_faces(store)
    previous = previous_assignment(store)
    person_of = np.array([previous.get(face, -1) for face in face_ids.tolist()], dtype=np.int64)
    new = np.flatnonzero(person_of < 0)
    next_id = next_person_id(store, previous)
    refused: dict[int, set[int]] = {}
    for face, person in rejects(store):
        refused.setdefault(face, set()).add(person)
    old_persons = set(previous.values())
    existing = created = 0
    added: dict[int, int] = {}
    for start in range(0, len(new), _JOIN_BLOCK):
        block = new[start : start + _JOIN_BLOCK]
        # Unit vectors: |a - b|^2 = 2 - 2 a.b, one matrix product for the whole block.
        distances = distance_from_inner_product(vectors[block] @ vectors.T)
        for row, position in enumerate(block.tolist()):
            same_photo = np.unique(person_of[(photo_ids == photo_ids[position]) & (person_of >= 0)])
            kept_from = list(refused.get(int(face_ids[position]), set()))
            barred = np.isin(person_of, same_photo) | np.isin(person_of, kept_from)
            eligible = np.flatnonzero((person_of >= 0) & ~barred)
            best = _accepted_person(distances[row, eligible], person_of[eligible], rule)
            if best is None:
                best, next_id = next_id, next_id + 1
                created += 1
            else:
                existing += best in old_persons
            person_of[position] = best
            added[int(face_ids[position])] = best
    with store.transaction():
        store.add_face_persons(added)
        store.set_meta(META_NEXT_PERSON_ID, str(next_id))
    return Joined(existing, created)


def _accepted_person(distances: np.ndarray, persons: np.ndarray, rule: MatchRule) -> int | None:
    """The nearest person the rule accepts for one face, or None."""
    if len(distances) == 0:
        return None
    found = person_distances(distances, persons)
    accepted = np.flatnonzero(accepted_persons(found.nearest, rule)[0])
    if len(accepted) == 0:
        return None
    return int(found.persons[accepted[np.argmin(found.nearest[0, accepted])]])


def stored_clustering(store: Store) -> Clustering:
    """The persons the gallery keeps, as rows; faces in no person yet are left out."""
    face_ids, vectors, photo_ids, paths_boxes = _indexed_faces(store)
    assignment = previous_assignment(store)
    keep = [i for i, face in enumerate(face_ids.tolist()) if face in assignment]
    person_ids = np.array([assignment[face] for face in face_ids[keep].tolist()], dtype=np.int64)
    return _clustering(
        store, person_ids, face_ids[keep], vectors[keep], photo_ids[keep], [paths_boxes[i] for i in keep]
    )


@dataclass(frozen=True)
class HeldPersons:
    """A photo's faces, their persons and the corrections naming them, read before the photo's
    faces are replaced (a re-embed with a new model deletes them, and their persons with them)."""

    boxes: dict[int, tuple[int, int, int, int]]  # old face id -> box
    persons: dict[int, int]  # old face id -> person id
    links: list[tuple[str, int, int, str]]  # (kind, face a, face b, correction) touching these faces
    rejects: list[tuple[int, int, str]] = field(default_factory=list)  # (face, person it is not, correction)


def hold_persons(store: Store, photo_id: int) -> HeldPersons:
    """Reads only: it runs inside the indexer's batch transaction. A photo without faces has
    nothing to hold."""
    boxes = store.face_boxes(photo_id)
    if not boxes:
        return HeldPersons({}, {}, [])
    ids = list(boxes)
    persons = {face: person for face, (person, _) in store.persons_of_faces(ids).items()}
    return HeldPersons(boxes, persons, store.links_of_faces(ids), store.rejects_of_faces(ids))


def restore_persons(store: Store, held: HeldPersons, photo_id: int) -> int:
    """Gives each new face of the photo the person and corrections of the old face it overlaps
    most (intersection over union at least 0.5), inside the caller's transaction; returns how
    many faces kept their person. A face that moved too far is left for the next join."""
    if not held.persons and not held.links and not held.rejects:
        return 0
    new_boxes = store.face_boxes(photo_id)
    successor: dict[int, int] = {}
    pairs = sorted(
        (
            (box_iou(old_box, new_box), old, new)
            for old, old_box in held.boxes.items()
            for new, new_box in new_boxes.items()
        ),
        reverse=True,
    )
    for overlap, old, new in pairs:
        if overlap >= 0.5 and old not in successor and new not in successor.values():
            successor[old] = new
    kept = 0
    for old, new in successor.items():
        if old in held.persons:
            store.put_face_in_person(new, held.persons[old])
            kept += 1
    links = []
    for kind, a, b, correction in held.links:
        a, b = successor.get(a, a), successor.get(b, b)
        if a in held.boxes or b in held.boxes:
            continue  # its face has no successor: the correction no longer names a face
        links.append((kind, a, b, correction))
    store.add_links(links)
    store.add_rejects((successor[face], person, said) for face, person, said in held.rejects if face in successor)
    return kept


def resolve_person(store: Store, person: str) -> int:
    """The id of a person given by id or by name, as every command that takes a person reads it:
    digits are an id, anything else a name (case aside). Names are unique, but a gallery of an
    older facesim may hold one twice: that is refused with the ids, never guessed."""
    text = person.strip()
    if text.isdigit():
        return int(text)
    matches = sorted(pid for pid, name in names(store).items() if name.casefold() == text.casefold())
    if not matches:
        raise FacesimError(f"no person named {person!r}; `facesim clusters` lists ids and names")
    if len(matches) > 1:
        listed = ", ".join(map(str, matches))
        raise FacesimError(f"{len(matches)} persons are named {person!r} (ids {listed}); give the id")
    return matches[0]


def faces_of_person(store: Store, person: str) -> list[FaceRow]:
    """Every stored face of a person named by id or by name (names are unique, case aside), in
    photo path order."""
    wanted = resolve_person(store, person)
    rows = [row for row in stored_clustering(store).rows if row.person_id == wanted]
    if not rows:
        raise FacesimError(f"no person {wanted} in this gallery; `facesim clusters` lists ids and names")
    return sorted(rows, key=lambda row: (row.photo_path, row.face_id))


def cluster_gallery(
    store: Store,
    threshold: float,
    linkage: str = DEFAULT_LINKAGE,
    *,
    params: Mapping[str, float] | None = None,
    save: bool = True,
) -> Clustering:
    """Clusters every indexed face by the rule `linkage` at cut `threshold` (with the rule's own
    `params`, see cluster_faces), then the user's corrections, with person ids carried over from
    the stored persons (names first, see assign_stable_ids). `save` replaces the stored persons in
    one transaction and needs the writer's lock; without it this is a trial that changes nothing."""
    face_ids, vectors, photo_ids, paths_boxes = _indexed_faces(store)
    if len(face_ids) == 0:
        return Clustering([], 0, 0)
    previous = previous_assignment(store)
    labels = honour_links(
        face_ids,
        cluster_faces(vectors, photo_ids, threshold, linkage=linkage, params=params),
        *standing_pairs(store, previous),
        photo_ids,
    )
    named = set(names(store))
    assignment, next_id = assign_stable_ids(previous, face_ids, labels, next_person_id(store, previous), prefer=named)
    if save:
        with store.transaction():
            store.replace_face_persons(assignment)
            store.set_meta(META_NEXT_PERSON_ID, str(next_id))
    person_ids = np.array([assignment[f] for f in face_ids.tolist()], dtype=np.int64)
    clustering = _clustering(store, person_ids, face_ids, vectors, photo_ids, paths_boxes)
    kept = set(person_ids.tolist())
    faceless = {person: name for person, name in names(store).items() if person not in kept}
    return Clustering(clustering.rows, clustering.persons, clustering.singletons, faceless)


def next_person_id(store: Store, previous: dict[int, int]) -> int:
    """The first id never handed out: a fresh person must never inherit an old one's name."""
    next_id = int(store.get_meta(META_NEXT_PERSON_ID) or 1)
    stored = store.largest_person_id()
    return max(next_id, max(previous.values(), default=0) + 1, stored + 1)


def _indexed_faces(store: Store) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[str, tuple[int, ...]]]]:
    """(face ids, vectors, photo ids, (path, box) per face) of the faces in photos still indexed."""
    face_ids, vectors = store.face_vectors()
    hits = store.face_hits(face_ids.tolist())
    keep = [i for i, face_id in enumerate(face_ids.tolist()) if hits[face_id].status == "indexed"]
    face_ids, vectors = face_ids[keep], vectors[keep]
    photo_ids = np.array([hits[f].photo_id for f in face_ids.tolist()], dtype=np.int64)
    return face_ids, vectors, photo_ids, [(hits[f].path, hits[f].box) for f in face_ids.tolist()]


def _clustering(
    store: Store,
    person_ids: np.ndarray,
    face_ids: np.ndarray,
    vectors: np.ndarray,
    photo_ids: np.ndarray,
    paths_boxes: list[tuple[str, tuple[int, ...]]],
) -> Clustering:
    if len(face_ids) == 0:
        return Clustering([], 0, 0)
    rows = build_rows(
        person_ids, face_ids, vectors, [path for path, _ in paths_boxes], [box for _, box in paths_boxes], names(store)
    )
    photo_of = dict(zip(face_ids.tolist(), photo_ids.tolist(), strict=True))
    copies = store.other_paths(sorted(set(photo_of.values())))
    if copies:
        rows = [replace(row, other_paths=tuple(copies.get(photo_of[row.face_id], ()))) for row in rows]
    sizes = np.unique(person_ids, return_counts=True)[1]
    return Clustering(rows, int((sizes >= 2).sum()), int((sizes == 1).sum()))

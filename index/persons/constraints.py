"""The corrections a user made to persons, kept as what the user said: pairs of faces that are
the same person (a merge, a move, faces pulled out together), and faces that are not a person
(a reject, or the person a face was moved out of); and the rule that makes every clustering
honour them.

A clustering is recomputed whenever photos are added or another rule is tried; what the user
already settled must come out the same every time, so the corrections live in SQLite and are
applied after the clustering algorithm, before person ids are assigned.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from facesim.errors import FacesimError
from index.clustering.disjoint_sets import DisjointSets
from index.store.database import Store

SAME, DIFFERENT = "same", "different"


def add_links(store: Store, kind: str, pairs: Iterable[tuple[int, int]], correction: str) -> None:
    """Records pairs inside the caller's transaction; `correction` says which command made them,
    so `split` can take back exactly what a merge added."""
    store.add_links((kind, a, b, correction) for a, b in pairs if a != b)


def add_rejects(store: Store, rejected: Iterable[tuple[int, int]], correction: str) -> None:
    """Records (face, person) pairs, "this face is not that person", inside the caller's
    transaction; one already recorded is not recorded twice."""
    known = set(rejects(store))
    store.add_rejects((face, person, correction) for face, person in rejected if (face, person) not in known)


def rejects(store: Store) -> list[tuple[int, int]]:
    """(face, person) of every reject still standing: the face is never in that person."""
    return [(face, person) for _, face, person in store.face_rejects()]


def standing_pairs(store: Store, previous: dict[int, int]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(same pairs, different pairs) a new clustering must honour, given the stored persons.

    Beside the stored pairs: a rejected face is different from every face its person holds now
    (not the faces it held when the user said so, which may since have been pulled out too), so it
    never shares a cluster with them and its cluster never inherits that person's id. And a person
    the user built, one holding a face some correction names, stays whole, with the faces that
    joined it since: the user's person, not the clustering's guess, is what new photos joined."""
    same, different = links(store)
    refused = rejects(store)
    members: dict[int, list[int]] = {}
    for face, person in previous.items():
        members.setdefault(person, []).append(face)
    for face, person in refused:
        if face in previous and previous[face] != person:
            different += [(face, other) for other in members.get(person, ())]
    named = {face for pair in same for face in pair} | {face for face, _ in refused}
    for person in sorted({previous[face] for face in named if face in previous}):
        anchor, *rest = sorted(members[person])
        same += [(anchor, face) for face in rest]
    return same, different


def links(store: Store) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(same pairs, different pairs) of every correction still standing."""
    found: dict[str, list[tuple[int, int]]] = {SAME: [], DIFFERENT: []}
    for _, kind, a, b in store.face_links():
        found[kind].append((a, b))
    return found[SAME], found[DIFFERENT]


def honour_links(
    face_ids: np.ndarray,
    labels: np.ndarray,
    same: list[tuple[int, int]],
    different: list[tuple[int, int]],
    photo_ids: np.ndarray,
) -> np.ndarray:
    """Labels in which every `same` pair shares a person, no `different` pair does, and no two
    faces of one photo do (labels must keep that already; so must the `same` pairs, which the
    correction commands check).

    Faces tied by `same` pairs (directly or through others) form a group, which goes to the cluster
    holding most of it (on a tie, its anchor's). A cluster the group makes up at least half of goes
    along whole: that is a merged person, and faces clustered with it belong too. From any other
    cluster only the group's faces move: a face moved out of a person leaves the rest behind.
    Where that brought a second face of one photo into a person, the face that ranks lower leaves
    for a person of its own (with its group): linked faces rank before unlinked ones (the user said
    so; the clustering only guessed), an earlier group before a later one, and a face clustered
    there before one carried in. Then, where a `different` pair still shares a cluster, the first
    face's group (the face a `move` or `reject` named) leaves for a cluster of its own. Pairs naming
    faces not in face_ids (deleted photos) are ignored. A `different` pair inside one group is a
    contradiction, reported with both faces rather than resolved by guessing."""
    face_ids = np.asarray(face_ids)
    position = {int(face): i for i, face in enumerate(face_ids.tolist())}
    groups = DisjointSets(len(face_ids))
    for a, b in same:
        if a in position and b in position:
            groups.union(position[a], position[b])
    apart = [(position[a], position[b]) for a, b in different if a in position and b in position]
    for a, b in apart:
        if groups.find(a) == groups.find(b):
            raise FacesimError(
                f"corrections contradict each other: faces {face_ids[a]} and {face_ids[b]} are marked both the same "
                "person and different people; `facesim split` the merged person first"
            )
    merged = np.unique(np.asarray(labels), return_inverse=True)[1].astype(np.int64)
    clustered = merged.copy()
    members: dict[int, list[int]] = {}
    for i in range(len(face_ids)):
        members.setdefault(groups.find(i), []).append(i)
    # A group's anchor is the first face of its first pair: the person a merge kept, or the face of
    # the person a face was moved to; it settles ties.
    anchor: dict[int, int] = {}
    for a, b in same:
        if a in position and b in position:
            anchor.setdefault(groups.find(position[a]), position[a])
    for root, group in members.items():
        if len(group) < 2:
            continue
        touched = np.unique(merged[group], return_counts=True)
        weight = touched[1] + 0.5 * (touched[0] == merged[anchor[root]])
        target = int(touched[0][np.argmax(weight)])
        for cluster, count in zip(touched[0].tolist(), touched[1].tolist(), strict=True):
            if cluster == target:
                continue
            if 2 * count >= int((merged == cluster).sum()):
                merged[merged == cluster] = target
        merged[group] = target
    merged, fresh = _part_photo_clashes(merged, clustered, np.asarray(photo_ids), members)
    for a, b in apart:
        if merged[a] == merged[b]:
            merged[members[groups.find(a)]] = fresh
            fresh += 1
    return np.unique(merged, return_inverse=True)[1].astype(np.int64)


def _part_photo_clashes(
    merged: np.ndarray, clustered: np.ndarray, photo_ids: np.ndarray, members: dict[int, list[int]]
) -> tuple[np.ndarray, int]:
    """Within each person, units (a linked group's faces there, or one unlinked face) claim their
    photos in rank order; a unit whose photo is already claimed leaves for a fresh person. Returns
    the labels and the next fresh label."""
    rank = np.empty(len(merged), dtype=np.int64)
    unit = np.arange(len(merged))
    alone = np.ones(len(merged), dtype=bool)
    groups = [group for group in members.values() if len(group) > 1]
    for order, group in enumerate(groups):
        rank[group] = order
        unit[group] = group[0]
        alone[group] = False
    rank[alone] = len(groups) + (clustered[alone] != merged[alone])
    fresh = int(merged.max()) + 1 if len(merged) else 0
    # Only a person holding some photo twice needs looking at; corrections make few of them.
    order = np.lexsort((photo_ids, merged))
    twice = (merged[order][1:] == merged[order][:-1]) & (photo_ids[order][1:] == photo_ids[order][:-1])
    for person in np.unique(merged[order][1:][twice]).tolist():
        faces = np.flatnonzero(merged == person)
        claimed: set[int] = set()
        for key in sorted({(int(rank[f]), int(unit[f])) for f in faces.tolist()}):
            faces_of_unit = faces[unit[faces] == key[1]]
            photos = set(photo_ids[faces_of_unit].tolist())
            if photos & claimed:
                merged[faces_of_unit] = fresh
                fresh += 1
            else:
                claimed |= photos
    return merged, fresh

"""Person clusters kept in the gallery database, so that IDs and names survive re-runs.

Clustering itself is pure (index.clustering); this module runs it over a gallery's indexed faces,
keeps each person's ID stable across runs (index.person_ids) and stores the result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facesim.config import DEFAULT_LINKAGE
from facesim.errors import FacesimError
from index.clustering import cluster_faces
from index.export import ExportRow, build_rows
from index.person_ids import assign_stable_ids
from index.store import Store

_SCHEMA = """
CREATE TABLE IF NOT EXISTS persons (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS face_persons (
    face_id INTEGER PRIMARY KEY REFERENCES faces (id) ON DELETE CASCADE,
    person_id INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS face_persons_person ON face_persons (person_id);
"""
META_NEXT_PERSON_ID = "next_person_id"


@dataclass(frozen=True)
class Clustering:
    rows: list[ExportRow]  # every indexed face, largest person first
    persons: int  # persons with at least two faces
    singletons: int  # faces that matched nobody


def _ensure_schema(store: Store) -> None:
    store.db.executescript(_SCHEMA)


def previous_assignment(store: Store) -> dict[int, int]:
    _ensure_schema(store)
    return dict(store.db.execute("SELECT face_id, person_id FROM face_persons").fetchall())


def names(store: Store) -> dict[int, str]:
    _ensure_schema(store)
    return {pid: name for pid, name in store.db.execute("SELECT id, name FROM persons") if name}


def persons_of_faces(store: Store, face_ids: list[int]) -> dict[int, tuple[int, str]]:
    """face id -> (person id, name) from the last clustering, for match output."""
    if not face_ids or not store.db["face_persons"].exists():
        return {}
    marks = ",".join("?" * len(face_ids))
    sql = (
        "SELECT fp.face_id, fp.person_id, coalesce(p.name, '') FROM face_persons fp "
        f"LEFT JOIN persons p ON p.id = fp.person_id WHERE fp.face_id IN ({marks})"
    )
    return {face: (person, name) for face, person, name in store.db.execute(sql, [int(f) for f in face_ids])}


def person_count(store: Store, min_size: int = 2) -> int:
    """Persons of the last `facesim clusters` run with at least `min_size` faces."""
    if not store.db["face_persons"].exists():
        return 0
    sql = "SELECT count(*) FROM (SELECT person_id FROM face_persons GROUP BY person_id HAVING count(*) >= ?)"
    return store.db.execute(sql, [min_size]).fetchone()[0]


def set_name(store: Store, person_id: int, name: str) -> None:
    """Names live with the person id, so they follow the person through later re-clusterings."""
    _ensure_schema(store)
    if store.db.execute("SELECT 1 FROM face_persons WHERE person_id = ? LIMIT 1", [person_id]).fetchone() is None:
        raise FacesimError(f"no person {person_id} in this gallery; run `facesim clusters` to see the ids")
    with store.transaction():
        store.db["persons"].upsert({"id": person_id, "name": name.strip()}, pk="id")


def cluster_gallery(store: Store, threshold: float, linkage: str = DEFAULT_LINKAGE) -> Clustering:
    """Clusters every indexed face and stores the stable person ids in one transaction."""
    face_ids, vectors = store.face_vectors()
    hits = store.face_hits(face_ids.tolist())
    keep = [i for i, face_id in enumerate(face_ids.tolist()) if hits[face_id].status == "indexed"]
    face_ids, vectors = face_ids[keep], vectors[keep]
    if len(face_ids) == 0:
        return Clustering([], 0, 0)
    photo_ids = np.array([hits[f].photo_id for f in face_ids.tolist()])
    labels = cluster_faces(vectors, photo_ids, threshold, linkage=linkage)
    previous = previous_assignment(store)
    next_id = int(store.get_meta(META_NEXT_PERSON_ID) or 1)
    next_id = max(next_id, max(previous.values(), default=0) + 1)
    assignment, next_id = assign_stable_ids(previous, face_ids, labels, next_id)
    with store.transaction():
        store.db.execute("DELETE FROM face_persons")
        store.db["face_persons"].insert_all(
            ({"face_id": face, "person_id": person} for face, person in assignment.items()), batch_size=1000
        )
        store.set_meta(META_NEXT_PERSON_ID, str(next_id))
    person_ids = np.array([assignment[f] for f in face_ids.tolist()])
    rows = build_rows(
        person_ids,
        face_ids,
        vectors,
        [hits[f].path for f in face_ids.tolist()],
        [hits[f].box for f in face_ids.tolist()],
        names(store),
    )
    sizes = np.unique(person_ids, return_counts=True)[1]
    return Clustering(rows, int((sizes >= 2).sum()), int((sizes == 1).sum()))

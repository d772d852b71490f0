"""A query face against a gallery: the people it is (by the model card's calibrated match rule,
index.match.rule), and the nearest faces with each one's verdict."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facesim import model_card
from facesim.config import MATCH_COHORT_PERSONS
from facesim.errors import FacesimError
from facesim.model_card import MatchRule
from index.clustering.cluster import cluster_faces
from index.match.rule import accepted_persons, person_distances
from index.persons.persons import persons_of_faces
from index.store.database import Store
from index.store.gallery import Gallery
from index.store.rows import FaceHit

# Nearest faces the rule looks at for each query before widening: enough for a cohort of people
# after the best one in most galleries, and for the faces of a person met a few dozen times.
MATCH_CANDIDATES = 100


@dataclass(frozen=True)
class Match:
    face_id: int
    photo_id: int
    path: Path
    box: tuple[int, int, int, int]  # left, top, right, bottom in the upright photo
    distance: float  # Euclidean between unit vectors: 0 identical, 2 opposite
    same_person: bool  # listed as the query's person by the match rule
    person: int | None  # the stored person the face belongs to; None before any clustering
    name: str


@dataclass(frozen=True)
class PersonMatch:
    person: int
    name: str
    faces: int  # the person's faces listed as the query's person
    distance: float  # the person's nearest face


@dataclass(frozen=True)
class Answer:
    """One query face's answer. `persons` empty and no face `same_person`: nobody in the gallery
    is this person, and `matches` are the nearest faces, none of them the same person."""

    persons: list[PersonMatch]  # stored persons the rule accepts, nearest first
    matches: list[Match]  # the top_k nearest faces, or with every_match each face listed (if any)

    @property
    def nobody(self) -> bool:
        return not any(match.same_person for match in self.matches) and not self.persons


def match(
    gallery: Gallery,
    query_vectors: np.ndarray,
    top_k: int = 10,
    *,
    model_id: str | None = None,
    rule: MatchRule | None = None,
    every_match: bool = False,
) -> list[Answer]:
    """One answer per query vector (a single 1-D vector counts as one query).

    The rule judges each query against its nearest faces, widened until they hold a cohort of
    people after the nearest and reach past the listing cut (so every listed face, and every
    person's count of them, is exact) or the gallery is exhausted. Faces the gallery keeps in no
    person yet (a gallery never clustered, or faces of an index run still going) are grouped
    among themselves by the calibrated clustering rule, so a person met in several photos is
    not taken for several look-alikes.

    Refuses a gallery built by another model than the one that made the queries (`model_id`,
    default the model card's), since distances across models mean nothing. Only faces of
    photos whose status is `indexed` count, even if the FAISS file were behind.
    """
    if top_k < 1:
        raise ValueError("top_k must be at least 1")
    mismatch = gallery.model_mismatch(model_id or model_card.model_id())
    if mismatch:
        raise FacesimError(mismatch)
    rule = rule or model_card.match_rule()
    queries = np.atleast_2d(np.asarray(query_vectors, dtype=np.float32))
    vectors = gallery.vectors()
    if queries.shape[1] != vectors.dim:
        raise FacesimError(f"query vectors have {queries.shape[1]} dimensions, the gallery's have {vectors.dim}")
    return [_answer(gallery.store, vectors, query, top_k, rule, every_match) for query in queries]


def _answer(store: Store, vectors, query: np.ndarray, top_k: int, rule: MatchRule, every_match: bool) -> Answer:
    k = max(top_k, MATCH_CANDIDATES)
    while True:
        found = vectors.search(query, k)[0]
        hits = store.face_hits([face_id for face_id, _ in found])
        row = [(face_id, distance) for face_id, distance in found if _counts(hits.get(face_id))]
        people = persons_of_faces(store, [face_id for face_id, _ in row])
        persons = _person_labels(store, row, people, hits)
        exhausted = len(found) < k or k >= vectors.size
        if exhausted or (len(set(persons.tolist())) > MATCH_COHORT_PERSONS and found[-1][1] >= rule.list_cut):
            break
        k = min(vectors.size, k * 4)
    if not row:
        return Answer([], [])
    distances = np.array([distance for _, distance in row])
    by_person = person_distances(distances, persons)
    accepted = accepted_persons(by_person.nearest, rule)[0]
    listed = accepted[by_person.face_person] & (distances < rule.list_cut)
    matches = [
        Match(
            face_id,
            hits[face_id].photo_id,
            Path(hits[face_id].path),
            hits[face_id].box,
            distance,
            bool(same),
            *people.get(face_id, (None, "")),
        )
        for (face_id, distance), same in zip(row, listed, strict=True)
    ]
    listed_matches = [m for m in matches if m.same_person]
    # With every_match and nobody listed, the nearest faces still show what "nobody" was decided on.
    chosen = listed_matches if every_match and listed_matches else matches[:top_k]
    answered = []
    for column in np.flatnonzero(accepted):
        faces = [m for m, on in zip(matches, by_person.face_person == column, strict=True) if on and m.same_person]
        if faces and faces[0].person is not None:
            answered.append(PersonMatch(faces[0].person, faces[0].name, len(faces), faces[0].distance))
    return Answer(sorted(answered, key=lambda person: person.distance), chosen)


def _counts(hit: FaceHit | None) -> bool:
    return hit is not None and hit.status == "indexed"


def _person_labels(
    store: Store, row: list[tuple[int, float]], people: dict[int, tuple[int, str]], hits: dict[int, FaceHit]
) -> np.ndarray:
    """Each candidate face's person: its stored one, or, for faces in no person, a negative label
    from clustering those faces together by the calibrated clustering rule."""
    labels = np.array([people[face_id][0] if face_id in people else 0 for face_id, _ in row], dtype=np.int64)
    loose = [i for i, (face_id, _) in enumerate(row) if face_id not in people]
    if loose:
        wanted = [row[i][0] for i in loose]
        ids, loose_vectors = store.face_vectors(wanted)  # sorted by id, not in row order
        by_id = dict(zip(ids.tolist(), loose_vectors, strict=True))
        stacked = np.stack([by_id[face_id] for face_id in wanted])
        photos = np.array([hits[face_id].photo_id for face_id in wanted])
        cluster = model_card.clustering_rule()
        grouped = cluster_faces(stacked, photos, cluster.cut, linkage=cluster.linkage, params=cluster.params)
        labels[loose] = -1 - grouped
    return labels

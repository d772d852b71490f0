"""Properties of clustering that must hold for every gallery and every rule calibration may
choose, searched by Hypothesis: cannot-link, complete linkage's every-pair rule, independence from
input order, and person ids that survive re-runs and added photos."""

from __future__ import annotations

from unittest.mock import patch

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from facesim.config import CLUSTER_RULES
from index.clustering import graph as knn_graph
from index.clustering.cluster import cluster_faces
from index.persons.ids import assign_stable_ids

from support.unit_vectors import together

DIM = 16


@st.composite
def rules(draw: st.DrawFn) -> tuple[str, dict[str, float] | float]:
    """A rule of CLUSTER_RULES and its own parameters; two-stage's core cut as a fraction of the
    cut, made absolute by `rule_at` once the gallery's threshold is known."""
    rule = draw(st.sampled_from(CLUSTER_RULES))
    if rule in ("dbscan", "hdbscan"):
        return rule, {"min_samples": draw(st.integers(1, 5))}
    if rule == "two-stage":
        return rule, draw(st.floats(0.3, 1.0))
    return rule, {}


LINKAGES = rules()


def rule_at(rule: tuple[str, dict[str, float] | float], vectors: np.ndarray, threshold: float) -> dict:
    """cluster_faces' keyword arguments for a drawn rule, refusing a core cut within float noise of a pair."""
    name, params = rule
    if isinstance(params, float):
        core_cut = threshold * params
        assume(np.abs(pairwise(vectors) - core_cut).min() > 1e-4)
        params = {"core_cut": core_cut}
    return {"linkage": name, "params": params}


@st.composite
def galleries(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, float]:
    """Faces in a few tight-to-loose blobs (so merges happen), with photo ids drawn from a small
    set (so many faces share a photo), and a threshold no pair sits within float noise of, since
    the properties are about the rule, not about rounding at the cut."""
    n = draw(st.integers(2, 28))
    blobs = draw(st.integers(1, 4))
    spread = draw(st.floats(0.05, 0.6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    centres = rng.normal(size=(blobs, DIM))
    vectors = centres[rng.integers(0, blobs, n)] / np.sqrt(DIM) + spread * rng.normal(size=(n, DIM)) / np.sqrt(DIM)
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    photo_ids = np.asarray(draw(st.lists(st.integers(0, max(1, n // 2)), min_size=n, max_size=n)))
    threshold = draw(st.floats(0.2, 1.6))
    assume(np.abs(pairwise(vectors) - threshold).min() > 1e-4)
    return vectors, photo_ids, threshold


def pairwise(vectors: np.ndarray) -> np.ndarray:
    as64 = vectors.astype(np.float64)
    return np.sqrt(np.maximum(2.0 - 2.0 * as64 @ as64.T, 0.0))


@given(galleries(), LINKAGES, st.sampled_from([2, 5, 40]))
def test_faces_of_one_photo_never_share_a_person(gallery, linkage, k: int) -> None:
    vectors, photo_ids, threshold = gallery
    labels = cluster_faces(vectors, photo_ids, threshold, k, **rule_at(linkage, vectors, threshold))
    for members in together(labels):
        photos = photo_ids[sorted(members)]
        assert len(set(photos.tolist())) == len(photos)


@given(galleries(), st.sampled_from([2, 5, 40]))
def test_complete_linkage_keeps_every_pair_of_a_person_under_the_threshold(gallery, k: int) -> None:
    vectors, photo_ids, threshold = gallery
    labels = cluster_faces(vectors, photo_ids, threshold, k, linkage="complete")
    together = labels[:, None] == labels[None, :]
    assert np.all(pairwise(vectors)[together] < threshold)


@given(galleries(), LINKAGES, st.randoms(use_true_random=False))
def test_the_persons_do_not_depend_on_the_order_of_the_faces(gallery, linkage, random) -> None:
    """With every pair searched (k >= n - 1) every rule works on exact distances, ties broken by
    the faces themselves (whispers ranks them by vector), so the persons are a property of the
    faces, not of where they sit in the input."""
    vectors, photo_ids, threshold = gallery
    rule = rule_at(linkage, vectors, threshold)
    order = np.arange(len(vectors))
    random.shuffle(order)
    labels = cluster_faces(vectors, photo_ids, threshold, **rule)
    shuffled = cluster_faces(vectors[order], photo_ids[order], threshold, **rule)
    unshuffled = np.empty_like(shuffled)
    unshuffled[order] = shuffled
    assert together(unshuffled) == together(labels)


@given(galleries(), LINKAGES, st.integers(1, 100))
def test_a_rerun_keeps_every_person_id(gallery, linkage, first_id: int) -> None:
    vectors, photo_ids, threshold = gallery
    rule = rule_at(linkage, vectors, threshold)
    face_ids = np.arange(1000, 1000 + len(vectors))
    labels = cluster_faces(vectors, photo_ids, threshold, **rule)
    first, next_id = assign_stable_ids({}, face_ids, labels, first_id)
    assert sorted(set(first.values())) == list(range(first_id, next_id))
    again = cluster_faces(vectors, photo_ids, threshold, **rule)
    assert assign_stable_ids(first, face_ids, again, next_id) == (first, next_id)
    # Whatever numbers the clustering gives its clusters, the ids follow the faces.
    relabelled = (again.max() - again) * 7
    assert assign_stable_ids(first, face_ids, relabelled, next_id) == (first, next_id)


@given(galleries(), st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_added_faces_of_new_people_leave_every_old_id_alone(gallery, added: int, seed: int) -> None:
    """New photos of people far from everyone already there: old faces keep their ids, and each
    new person gets a fresh id never used before."""
    vectors, photo_ids, threshold = gallery
    face_ids = np.arange(len(vectors))
    first, next_id = assign_stable_ids({}, face_ids, cluster_faces(vectors, photo_ids, threshold), 1)
    # Each new face is the antipode of a random old one jittered: at least `threshold` from all.
    rng = np.random.default_rng(seed)
    newcomers = -vectors[rng.integers(0, len(vectors), added)] + 0.01 * rng.normal(size=(added, DIM))
    newcomers = (newcomers / np.linalg.norm(newcomers, axis=1, keepdims=True)).astype(np.float32)
    grown = np.concatenate([vectors, newcomers])
    assume(pairwise(grown)[: len(vectors), len(vectors) :].min() > threshold + 1e-4)
    assume(np.abs(pairwise(newcomers) - threshold).min() > 1e-4)
    grown_photos = np.concatenate([photo_ids, np.arange(added) + photo_ids.max() + 1])
    grown_ids = np.arange(len(grown))
    labels = cluster_faces(grown, grown_photos, threshold)
    second, second_next = assign_stable_ids(first, grown_ids, labels, next_id)
    assert {face: second[face] for face in first} == first
    new_ids = {second[face] for face in grown_ids[len(vectors) :].tolist()}
    assert all(next_id <= person < second_next for person in new_ids)
    assert second_next - next_id == len(new_ids)


@given(galleries(), LINKAGES, st.integers(1, 40))
def test_the_persons_do_not_depend_on_the_block_size(gallery, linkage, block: int) -> None:
    """Exact group distances are summed or maxed block by block to bound memory; with blocks of a
    few products the answer must be the one from a single block."""
    vectors, photo_ids, threshold = gallery
    rule = rule_at(linkage, vectors, threshold)
    labels = cluster_faces(vectors, photo_ids, threshold, **rule)
    with patch.object(knn_graph, "_BLOCK_ELEMENTS", block):
        assert together(cluster_faces(vectors, photo_ids, threshold, **rule)) == together(labels)

"""The rules calibration compares besides complete and average linkage (single linkage, Chinese
whispers with cannot-link, DBSCAN, two-stage), each at the boundary that defines it."""

from __future__ import annotations

import numpy as np
import pytest

from index.clustering.cluster import chinese_whispers, cluster_faces

from support.unit_vectors import chord, on_circle, together

DIM = 16

ARC = on_circle([0.1 * i for i in range(8)])  # neighbours 0.1 rad apart, the ends 0.7 rad apart


def test_single_linkage_chains_where_complete_does_not() -> None:
    cut = chord(0.15)
    assert len(set(cluster_faces(ARC, np.arange(8), cut, linkage="single").tolist())) == 1
    assert len(set(cluster_faces(ARC, np.arange(8), cut, linkage="complete").tolist())) > 1
    # Just under the neighbours' distance nothing joins.
    assert len(set(cluster_faces(ARC, np.arange(8), chord(0.0999), linkage="single").tolist())) == 8


def test_single_linkage_refuses_a_join_through_a_grown_group() -> None:
    """Faces 0 and 7 share a photo: the chain breaks at its longest link, as greedy single linkage does."""
    vectors = on_circle([0.0, 0.1, 0.2, 0.32, 0.42, 0.52])
    labels = cluster_faces(vectors, np.array([0, 1, 2, 3, 4, 0]), chord(0.15), linkage="single")
    assert together(labels) == {frozenset({0, 1, 2}), frozenset({3, 4, 5})}


def test_whispers_candidate_keeps_one_photos_faces_apart_where_dlibs_does_not() -> None:
    photos = np.array([0, 1, 2, 0])
    vectors = on_circle([0.0, 0.05, 0.1, 0.15])
    cut = chord(0.5)  # every pair is an edge: dlib's rule makes one person
    assert set(chinese_whispers(vectors, cut).tolist()) == {0}
    labels = cluster_faces(vectors, photos, cut, linkage="whispers")
    assert labels[0] != labels[3] and len(set(labels.tolist())) == 2


def test_whispers_does_not_depend_on_the_order_of_the_faces() -> None:
    """On an arc the visiting order decides where whispers cuts; faces ranked by their vectors
    make that order a property of the faces, not of the list."""
    vectors = on_circle([0.05 * i for i in range(40)])
    labels = cluster_faces(vectors, np.arange(40), 0.5, linkage="whispers")
    order = np.random.default_rng(0).permutation(40)
    shuffled = cluster_faces(vectors[order], order, 0.5, linkage="whispers")
    back = np.empty_like(shuffled)
    back[order] = shuffled
    assert together(back) == together(labels)


@pytest.mark.parametrize(("min_samples", "persons"), [(2, 1), (3, 1), (4, 3)])
def test_dbscan_cores_need_min_samples_faces_within_the_cut(min_samples: int, persons: int) -> None:
    """Three faces 0.1 rad apart at a cut of 0.15 rad: the ends have one neighbour, the middle two.
    At 2 every face is a core; at 3 (Immich's default, the face itself counted) the middle one is,
    and the ends join it as borders; at 4 nothing is a core, so the three faces are noise."""
    vectors = on_circle([0.0, 0.1, 0.2])
    labels = cluster_faces(vectors, np.arange(3), chord(0.15), linkage="dbscan", params={"min_samples": min_samples})
    assert len(set(labels.tolist())) == persons


def test_dbscan_borders_do_not_chain() -> None:
    """A dense person (five faces, each with the other four in reach: cores at min_samples 5) and a
    tail: the first tail face reaches two of the person and the next face, short of a core, so a
    border; the next reaches only the first, noise. Single linkage at the same cut takes the tail."""
    dense = [0.0, 0.01, 0.02, 0.03, 0.04]
    vectors = on_circle([*dense, 0.125, 0.21])
    cut = chord(0.1)
    labels = cluster_faces(vectors, np.arange(7), cut, linkage="dbscan", params={"min_samples": 5})
    assert together(labels) == {frozenset(range(6)), frozenset({6})}
    assert len(set(cluster_faces(vectors, np.arange(7), cut, linkage="single").tolist())) == 1


def test_dbscan_border_goes_to_the_nearest_core_its_photo_allows() -> None:
    """Two dense persons and a face between them, nearer the first, which holds a face of its photo."""
    first, second = [0.0, 0.01, 0.02], [0.3, 0.31, 0.32]
    vectors = on_circle([*first, *second, 0.12])
    cut = chord(0.2)
    allowed = cluster_faces(vectors, np.arange(7), cut, linkage="dbscan", params={"min_samples": 3})
    assert allowed[6] == allowed[0]
    photos = np.array([0, 1, 6, 3, 4, 5, 6])
    refused = cluster_faces(vectors, photos, cut, linkage="dbscan", params={"min_samples": 3})
    assert refused[6] == refused[3] and refused[6] != refused[0]


def test_two_stage_attaches_lone_faces_by_mean_distance_under_the_cut() -> None:
    """A tight core of two faces at 0 and 0.02 rad; lone faces at 0.30 and 0.50 rad. Attach cut
    between their mean distances: the first joins, the second stays alone and never joins the first."""
    vectors = on_circle([0.0, 0.02, 0.30, 0.50])
    mean_near = (chord(0.30) + chord(0.28)) / 2
    mean_far = (chord(0.50) + chord(0.48)) / 2
    params = {"core_cut": chord(0.05)}
    labels = cluster_faces(vectors, np.arange(4), (mean_near + mean_far) / 2, linkage="two-stage", params=params)
    assert together(labels) == {frozenset({0, 1, 2}), frozenset({3})}
    just_under = cluster_faces(vectors, np.arange(4), mean_near - 1e-4, linkage="two-stage", params=params)
    assert together(just_under) == {frozenset({0, 1}), frozenset({2}), frozenset({3})}
    # Complete linkage at the same cut would also have joined faces 2 and 3 to each other.
    assert len(set(cluster_faces(vectors, np.arange(4), chord(0.25), linkage="complete").tolist())) == 2


def test_two_stage_skips_a_core_holding_the_lone_faces_photo() -> None:
    vectors = on_circle([0.0, 0.02, 0.4, 0.42, 0.15])
    params = {"core_cut": chord(0.05)}
    free = cluster_faces(vectors, np.arange(5), chord(0.3), linkage="two-stage", params=params)
    assert free[4] == free[0]
    blocked = cluster_faces(vectors, np.array([0, 1, 2, 3, 1]), chord(0.3), linkage="two-stage", params=params)
    assert blocked[4] == blocked[2] and blocked[4] != blocked[0]


def _two_sides(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two far-apart families of five persons each: (vectors, which side each face is on)."""
    rng = np.random.default_rng(seed)
    pole = np.zeros(DIM)
    pole[0] = 2.0
    centres = rng.standard_normal((10, DIM)) + np.where(np.arange(10)[:, None] < 5, pole, -pole)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    person = rng.integers(0, 10, 120)
    vectors = centres[person] + 0.4 * rng.standard_normal((120, DIM)) / 4
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32), person < 5


@pytest.mark.parametrize("seed", [1, 2, 5, 6])  # seeds where each family is connected under the cut
def test_hdbscan_is_scikit_learns_where_the_cut_is_the_top_split(seed: int) -> None:
    """With the cut just under the closest pair of the two families, each family is one tree and
    scikit-learn's root (never kept) splits into exactly those two: the persons must agree."""
    sklearn = pytest.importorskip("sklearn.cluster")
    vectors, side = _two_sides(seed)
    as64 = vectors.astype(np.float64)
    cross = np.sqrt(np.maximum(2 - 2 * as64[side] @ as64[~side].T, 0)).min()
    cut = float(cross) - 1e-4
    assert len(set(cluster_faces(vectors, np.arange(120), cut, k=200, linkage="single").tolist())) == 2
    ours = cluster_faces(vectors, np.arange(120), cut, k=200, linkage="hdbscan", params={"min_samples": 1})
    theirs = sklearn.HDBSCAN(min_cluster_size=2, min_samples=1, copy=True).fit_predict(as64)
    noise = theirs < 0
    theirs[noise] = theirs.max() + 1 + np.arange(noise.sum())
    assert together(ours) == together(theirs)
    assert 2 < len(together(ours)) < 120  # a real clustering: the families split into persons


def test_hdbscan_splits_two_dense_groups_that_single_linkage_joins() -> None:
    """Two tight groups of four faces joined by a loose pair under the cut: one tree, but each
    group outlives the tree's top in stability, so they are two persons."""
    vectors = on_circle([0.0, 0.01, 0.02, 0.03, 0.13, 0.23, 0.24, 0.25, 0.26])
    cut = chord(0.15)
    assert len(set(cluster_faces(vectors, np.arange(9), cut, linkage="single").tolist())) == 1
    labels = cluster_faces(vectors, np.arange(9), cut, linkage="hdbscan", params={"min_samples": 1})
    assert len(set(labels[:4].tolist())) == 1 and len(set(labels[5:].tolist())) == 1
    assert labels[0] != labels[8]


def test_hdbscan_faces_short_of_min_samples_under_the_cut_stay_alone() -> None:
    """Three faces 0.1 rad apart at a cut of 0.15 rad: with min_samples 3 the ends' core distance
    (their second neighbour) is past the cut, so every pair's reachability is; at 2 they join."""
    vectors = on_circle([0.0, 0.1, 0.2])
    cut = chord(0.15)
    apart = cluster_faces(vectors, np.arange(3), cut, linkage="hdbscan", params={"min_samples": 3})
    assert len(set(apart.tolist())) == 3
    joined = cluster_faces(vectors, np.arange(3), cut, linkage="hdbscan", params={"min_samples": 2})
    assert len(set(joined.tolist())) == 1


def test_dbscan_joins_cores_only_through_cores() -> None:
    """Two dense persons (four faces each: cores at min_samples 4) 0.27 rad apart, and a face
    between them that reaches one face of each, short of a core: a border. Cores join only over
    core-to-core edges, so the border joins one person and never glues the two together."""
    vectors = on_circle([0.0, 0.01, 0.02, 0.03, 0.30, 0.31, 0.32, 0.33, 0.165])
    labels = cluster_faces(vectors, np.arange(9), chord(0.14), linkage="dbscan", params={"min_samples": 4})
    first, second = frozenset(range(4)), frozenset(range(4, 8))
    assert together(labels) in ({first | {8}, second}, {first, second | {8}})


def test_two_stage_judges_each_lone_face_by_its_own_mean() -> None:
    """A core at 0 and 0.06 rad and two lone faces that each reach it: one at -0.12 (mean chord to
    the core 0.150, under the 0.2 rad cut) joins; one at 0.24 (mean 0.210, over it) stays alone,
    though the four distances together average under the cut."""
    vectors = on_circle([0.0, 0.06, -0.12, 0.24])
    labels = cluster_faces(vectors, np.arange(4), chord(0.2), linkage="two-stage", params={"core_cut": chord(0.1)})
    assert together(labels) == {frozenset({0, 1, 2}), frozenset({3})}


def test_a_face_of_the_same_photo_adds_no_density() -> None:
    """Faces 0 and 1 share a photo, 0.05 rad apart; face 2 is 0.12 rad from face 1, 0.17 from face
    0, cut 0.15 rad. A face of one's own photo is another person, so face 1 has one neighbour, short
    of DBSCAN's min_samples 3 (itself counted): no face is a core and all three stay apart."""
    vectors = on_circle([0.0, 0.05, 0.17])
    labels = cluster_faces(vectors, np.array([7, 7, 8]), chord(0.15), linkage="dbscan", params={"min_samples": 3})
    assert len(set(labels.tolist())) == 3
    # Give face 0 a photo of its own and face 1 has the two neighbours it needs: one person.
    labels = cluster_faces(vectors, np.array([6, 7, 8]), chord(0.15), linkage="dbscan", params={"min_samples": 3})
    assert len(set(labels.tolist())) == 1

"""Person clustering: the complete- and average-linkage rules, cannot-link, determinism; BCubed; stable person IDs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from facesim.config import CLUSTER_LINKAGES, CLUSTER_RULES
from index.clustering import cluster as clustering
from index.clustering import graph as knn_graph
from index.clustering import linkages
from index.clustering.cluster import chinese_whispers, cluster_faces
from index.clustering.metrics import bcubed
from index.persons.ids import assign_stable_ids

from support.unit_vectors import chord, on_circle

DIM = 128


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def gallery(persons: int, faces_each: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((persons, DIM)))
    labels = np.repeat(np.arange(persons), faces_each)
    return unit(centres[labels] + noise * rng.standard_normal((len(labels), DIM)) / np.sqrt(DIM)), labels


def reference_linkage(vectors: np.ndarray, photo_ids: np.ndarray, threshold: float, linkage: str) -> np.ndarray:
    """Textbook O(n^3) greedy average, complete or single linkage over all pairs, skipping groups that share a photo."""
    reduce = {"average": np.mean, "complete": np.max, "single": np.min}[linkage]
    distance = np.sqrt(np.clip(2 - 2 * vectors.astype(np.float64) @ vectors.T.astype(np.float64), 0, None))
    groups = [[i] for i in range(len(vectors))]
    while True:
        best = None
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                if set(photo_ids[groups[i]]) & set(photo_ids[groups[j]]):
                    continue
                between = reduce(distance[np.ix_(groups[i], groups[j])])
                if between < threshold and (best is None or between < best[0]):
                    best = (between, i, j)
        if best is None:
            break
        _, i, j = best
        groups[i] += groups.pop(j)
    labels = np.empty(len(vectors), dtype=np.int64)
    for number, members in enumerate(sorted(groups, key=min)):
        labels[members] = number
    return labels


def test_same_photo_faces_never_share_a_cluster() -> None:
    vectors = unit(np.tile(np.eye(DIM, dtype=np.float32)[0], (2, 1)) + np.float32(1e-4) * np.eye(DIM)[:2])
    assert len(set(cluster_faces(vectors, np.array([7, 7]), threshold=0.5).tolist())) == 2
    assert len(set(cluster_faces(vectors, np.array([7, 8]), threshold=0.5).tolist())) == 1


def test_cannot_link_holds_for_grown_groups() -> None:
    """a1 and b share a photo; once a1 and a2 merge, b must not join them through a2 either."""
    vectors = on_circle(np.array([0.0, 0.05, 0.1]))
    labels = cluster_faces(vectors, np.array(["p1", "p2", "p1"]), threshold=0.5)
    assert labels[0] != labels[2]
    assert labels[1] in (labels[0], labels[2])


def test_average_linkage_does_not_chain() -> None:
    """A dense arc: each face within T of the next, the ends 1.66 apart (far beyond T = 0.5)."""
    vectors = on_circle(np.arange(40) * 0.05)
    threshold = 0.5
    distance = np.linalg.norm(vectors[:, None] - vectors[None], axis=2)
    assert np.all(np.diag(distance, 1) < threshold) and distance[0, -1] > 3 * threshold  # single link: one chain
    for linkage in CLUSTER_LINKAGES:
        labels = cluster_faces(vectors, np.arange(40), threshold, linkage=linkage)
        assert labels[0] != labels[-1]
    # Dlib's Chinese whispers, which sees only under-T edges, does glue the ends together.
    assert any(chinese_whispers(vectors, threshold, seed=seed)[-1] == 0 for seed in range(5))


def two_cores_and_a_bridge() -> np.ndarray:
    """Two tight groups of five, 1.29 apart, and two bridging faces between them."""
    rng = np.random.default_rng(3)
    core_a = unit(on_circle(np.zeros(5), DIM) + 0.03 * rng.standard_normal((5, DIM)))
    core_b = unit(on_circle(np.full(5, 1.4), DIM) + 0.03 * rng.standard_normal((5, DIM)))
    return np.concatenate([core_a, core_b, on_circle(np.array([0.55, 0.85]), DIM)])


def test_one_close_pair_does_not_merge_two_far_groups() -> None:
    """Groups A and B (1.29 apart) touch through one close pair; the sparse graph sees little else.

    Taking unknown cross pairs as T would reduce the rule to "mean of the known pairs < T", and
    the one known pair (0.3) would merge A and B. The exact mean (about 1.1) must keep them apart.
    """
    vectors = two_cores_and_a_bridge()
    photo_ids = np.arange(len(vectors))
    for linkage in CLUSTER_LINKAGES:
        labels = cluster_faces(vectors, photo_ids, threshold=0.9, k=5, linkage=linkage)
        assert len(set(labels[:5].tolist())) == 1 and len(set(labels[5:10].tolist())) == 1
        assert labels[0] != labels[5]
        np.testing.assert_array_equal(labels, reference_linkage(vectors, photo_ids, 0.9, linkage))


@pytest.mark.parametrize("linkage", CLUSTER_LINKAGES)
def test_exact_group_distances_cover_every_block(monkeypatch: pytest.MonkeyPatch, linkage: str) -> None:
    """Exact group distances are summed (average) or maxed (complete) block by block to bound
    memory; with one row per block, every block must count, or the far groups would merge."""
    monkeypatch.setattr(knn_graph, "_BLOCK_ELEMENTS", 1)
    vectors = two_cores_and_a_bridge()
    photo_ids = np.arange(len(vectors))
    labels = cluster_faces(vectors, photo_ids, threshold=0.9, k=5, linkage=linkage)
    assert labels[0] != labels[5]
    np.testing.assert_array_equal(labels, reference_linkage(vectors, photo_ids, 0.9, linkage))


def two_broad_blobs(seed: int, n: int) -> np.ndarray:
    """n faces in two wide, overlapping blobs (16-D): many groups almost, but not quite, close enough."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(2, 16))
    return unit(centres[rng.integers(0, 2, n)] / 4 + 0.6 * rng.normal(size=(n, 16)) / 4)


@pytest.mark.parametrize(("seed", "threshold", "k"), [(0, 0.9, 5), (6, 0.65, 5), (13, 0.69, 5), (58, 0.81, 3)])
def test_average_linkage_takes_back_a_pair_it_had_ruled_out(seed: int, threshold: float, k: int) -> None:
    """A merge can lift a queued pair's bound to T (the pair is dropped when its entry surfaces),
    and a later merge through the absorbed group can pull it back under T: the pair must then be
    queued again, not forgotten. These sparse galleries take that path, and their merges must
    still come out as textbook average linkage."""
    vectors = two_broad_blobs(seed, 30)
    photo_ids = np.arange(len(vectors))
    labels = cluster_faces(vectors, photo_ids, threshold, k=k, linkage="average")
    np.testing.assert_array_equal(labels, reference_linkage(vectors, photo_ids, threshold, "average"))


@pytest.mark.parametrize(("seed", "threshold", "k"), [(3, 0.75, 3), (4, 0.75, 5), (10, 0.95, 3)])
def test_complete_linkage_carries_what_it_knows_through_merges(seed: int, threshold: float, k: int) -> None:
    """When a group is absorbed, its records (ruled-out pairs included) are joined into the
    survivor's: the bound is the larger of the two, the covered pairs add up. On these sparse
    galleries records are joined many times over, and the merges must still be textbook complete
    linkage."""
    vectors = two_broad_blobs(seed, 30)
    photo_ids = np.arange(len(vectors))
    labels = cluster_faces(vectors, photo_ids, threshold, k=k, linkage="complete")
    np.testing.assert_array_equal(labels, reference_linkage(vectors, photo_ids, threshold, "complete"))


@pytest.mark.parametrize(
    ("linkage", "k"), [*((linkage, k) for linkage in CLUSTER_LINKAGES for k in (8, 200)), ("single", 200)]
)
@pytest.mark.parametrize("seed", range(4))
def test_matches_textbook_linkage(linkage: str, seed: int, k: int) -> None:
    """k=200 covers every pair (exact by construction); k=8 is a sparse graph on clear clusters.
    Single linkage only with every pair: where cannot-link refuses a face's nearest edges, the one
    it would take next may lie outside a sparse graph."""
    rng = np.random.default_rng(seed)
    vectors, _ = gallery(persons=6, faces_each=10, noise=0.6, seed=seed)
    photo_ids = rng.integers(0, 45, len(vectors))  # some same-person faces share photos: cannot-link bites
    expected = reference_linkage(vectors, photo_ids, 1.0, linkage)
    np.testing.assert_array_equal(cluster_faces(vectors, photo_ids, 1.0, k=k, linkage=linkage), expected)


@pytest.mark.parametrize("seed", range(3))
def test_complete_linkage_keeps_every_pair_under_the_threshold(seed: int) -> None:
    """Overlapping persons at a loose threshold: every two faces that end up together would pass verify."""
    vectors, _ = gallery(persons=40, faces_each=6, noise=1.1, seed=seed)
    threshold = 1.2
    labels = cluster_faces(vectors, np.arange(len(vectors)), threshold, k=10)
    distance = np.linalg.norm(vectors[:, None] - vectors[None], axis=2)
    together = (labels[:, None] == labels[None]) & ~np.eye(len(vectors), dtype=bool)
    assert together.any() and distance[together].max() < threshold
    average = cluster_faces(vectors, np.arange(len(vectors)), threshold, k=10, linkage="average")
    assert distance[(average[:, None] == average[None])].max() >= threshold  # the looser rule really differs


def test_unknown_linkage_and_wrong_parameters_are_refused() -> None:
    faces = on_circle(np.zeros(2))
    rules = ", ".join(CLUSTER_RULES)
    with pytest.raises(ValueError, match=f"^linkage must be one of {rules}, not 'ward'$"):
        cluster_faces(faces, np.arange(2), 0.6, linkage="ward")
    with pytest.raises(ValueError, match="dbscan takes parameters: min_samples; given none"):
        cluster_faces(faces, np.arange(2), 0.6, linkage="dbscan")
    with pytest.raises(ValueError, match="complete takes parameters: none; given core_cut"):
        cluster_faces(faces, np.arange(2), 0.6, params={"core_cut": 0.3})
    with pytest.raises(ValueError, match="complete takes parameters: none; given core_cut, min_samples$"):
        cluster_faces(faces, np.arange(2), 0.6, params={"core_cut": 0.3, "min_samples": 3})
    for outside in (0.61, 0.0):
        with pytest.raises(ValueError, match=rf"core_cut must be in \(0, cut 0.6\], not {outside}"):
            cluster_faces(faces, np.arange(2), 0.6, linkage="two-stage", params={"core_cut": outside})
    # The bounds themselves: a core cut equal to the cut is the two-stage rule's top.
    assert cluster_faces(faces, np.arange(2), 0.6, linkage="two-stage", params={"core_cut": 0.6}).tolist() == [0, 0]
    with pytest.raises(ValueError, match="min_samples must be at least 1"):
        cluster_faces(faces, np.arange(2), 0.6, linkage="dbscan", params={"min_samples": 0})


@pytest.mark.parametrize("exact_search_max", [10**9, 0])
def test_recovers_separated_persons_with_flat_and_hnsw(exact_search_max: int) -> None:
    vectors, truth = gallery(persons=60, faces_each=8, noise=0.5, seed=1)
    labels = cluster_faces(vectors, np.arange(len(vectors)), 0.9, exact_search_max=exact_search_max)
    assert bcubed(truth, labels).f1 > 0.99


@pytest.mark.parametrize("exact_search_max", [10**9, 0])
def test_same_input_same_labels(exact_search_max: int) -> None:
    vectors, _ = gallery(persons=150, faces_each=6, noise=1.0, seed=2)
    photo_ids = np.arange(len(vectors)) // 3
    runs = [cluster_faces(vectors, photo_ids, 1.1, exact_search_max=exact_search_max) for _ in range(2)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert 150 // 2 < runs[0].max() + 1 < len(vectors)  # a real clustering, not all-or-nothing


def test_chinese_whispers_is_seeded() -> None:
    """On an arc, the visiting order decides where Chinese whispers cuts, so equal runs mean a fixed seed."""
    vectors = on_circle(np.arange(40) * 0.05)
    by_seed = {tuple(chinese_whispers(vectors, 0.5, seed=seed).tolist()) for seed in range(5)}
    assert len(by_seed) > 1
    runs = {tuple(chinese_whispers(vectors, 0.5).tolist()) for _ in range(3)}
    assert len(runs) == 1


def test_chinese_whispers_recovers_separated_persons() -> None:
    """The baseline must be a fair one: on persons far apart it finds each of them."""
    vectors, truth = gallery(persons=60, faces_each=8, noise=0.5, seed=1)
    assert bcubed(truth, chinese_whispers(vectors, 0.9)).f1 > 0.99


def test_chinese_whispers_skips_faces_without_neighbours() -> None:
    """A face with no edge is passed over, not the end of a pass: the close pair joins whatever the
    visiting order, and the lone faces stay alone."""
    vectors = on_circle(np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 5.1]))
    for seed in range(5):
        assert chinese_whispers(vectors, 0.45, seed=seed).tolist() == [0, 1, 2, 3, 4, 5, 5]


def test_chinese_whispers_counts_each_face_own_vote_like_one_neighbour() -> None:
    """dlib's rule on a path of three faces whose ends are farther apart than T: an end face has two
    equal votes, its own and the middle face's, and takes the lower-ranked label; visited before
    the middle face has moved, it makes {middle, end} a fixed point and the other end stays alone.
    So some visiting orders split the path and others join it; a vote that weighed neighbours above
    a face's own label would always join it, one that weighed its own above them never would."""
    vectors = on_circle(np.array([0.0, 0.3, 0.6]))
    outcomes = {tuple(chinese_whispers(vectors, 0.45, seed=seed).tolist()) for seed in range(10)}
    assert (0, 0, 0) in outcomes and outcomes - {(0, 0, 0)} in ({(0, 1, 1)}, {(0, 0, 1)})


def test_labels_are_numbered_by_first_face_and_singletons_kept() -> None:
    vectors = on_circle(np.array([2.0, 0.0, 2.02, 4.0, 0.02]))
    labels = cluster_faces(vectors, np.arange(5), threshold=0.3)
    assert labels.tolist() == [0, 1, 0, 2, 1]
    assert labels.dtype == np.int64 and chinese_whispers(vectors, 0.3).dtype == np.int64  # labels index arrays


def test_degenerate_and_bad_input() -> None:
    """No faces give no labels (still integers: labels index arrays); one face is a person of its own."""
    none = np.zeros((0, DIM), np.float32)
    for labels in (cluster_faces(none, np.zeros(0), 0.6), chinese_whispers(none, 0.6)):
        assert labels.shape == (0,) and labels.dtype == np.int64
    assert cluster_faces(on_circle(np.zeros(1)), np.zeros(1), 0.6).tolist() == [0]
    assert chinese_whispers(on_circle(np.zeros(1)), 0.6).tolist() == [0]
    with pytest.raises(ValueError, match=r"^vectors must be unit length \(distances assume \|v\| = 1\)$"):
        cluster_faces(2 * on_circle(np.zeros(2)), np.arange(2), 0.6)
    with pytest.raises(ValueError, match="photo_ids"):
        cluster_faces(on_circle(np.zeros(2)), np.arange(3), 0.6)
    with pytest.raises(ValueError, match="threshold"):
        chinese_whispers(on_circle(np.zeros(2)), 0.0)


def test_threshold_and_k_limits() -> None:
    """T is a distance between unit vectors, so in (0, 2], 2 included; k counts neighbours, so 1 is
    the least. Input outside the limits is refused with a message that says which limit."""
    vectors = on_circle(np.array([0.0, 0.1, 3.0]))  # faces 0 and 2 are 1.995 apart
    assert cluster_faces(vectors, np.arange(3), 2.0).tolist() == [0, 0, 0]
    assert chinese_whispers(vectors, 2.0).tolist() == [0, 0, 0]
    assert cluster_faces(vectors, np.arange(3), 0.5, k=1).tolist() == [0, 0, 1]
    assert chinese_whispers(vectors, 0.5, k=1).tolist() == [0, 0, 1]
    with pytest.raises(ValueError, match=r"threshold must be in \(0, 2\] for unit vectors, not 2.5"):
        cluster_faces(vectors, np.arange(3), 2.5)
    with pytest.raises(ValueError, match="^k must be at least 1, not 0$"):
        cluster_faces(vectors, np.arange(3), 0.5, k=0)
    with pytest.raises(ValueError, match=r"^vectors must be 2-D \(faces x dims\), not shape \(3,\)$"):
        chinese_whispers(np.ones(3, np.float32), 0.5)


def test_exact_search_up_to_its_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """exact_search_max is the largest gallery searched exhaustively: at exactly that size no
    approximate (HNSW) index is built."""
    vectors, _ = gallery(persons=3, faces_each=4, noise=0.5, seed=0)

    def no_hnsw(*args: object) -> None:
        raise AssertionError("HNSW built for a gallery within exact_search_max")

    monkeypatch.setattr(knn_graph.faiss, "IndexHNSWFlat", no_hnsw)
    labels = cluster_faces(vectors, np.arange(12), 0.9, exact_search_max=12)
    assert len(set(labels.tolist())) == 3
    assert len(set(chinese_whispers(vectors, 0.9, exact_search_max=12).tolist())) == 3


def test_a_face_is_joined_to_every_face_that_lists_it_as_a_neighbour() -> None:
    """A centre face 0.29 from four faces that are 0.41 from each other. With k=1 the centre lists
    only one of them, but each of them lists the centre: an edge kept from either side joins all
    five (average linkage: every merge's mean stays under T = 0.4; Chinese whispers: a star)."""
    vectors = unit(np.eye(DIM, dtype=np.float32)[0] + 0.3 * np.eye(DIM, dtype=np.float32)[:5])
    vectors[0] = np.eye(DIM, dtype=np.float32)[0]
    assert cluster_faces(vectors, np.arange(5), 0.4, k=1, linkage="average").tolist() == [0, 0, 0, 0, 0]
    assert chinese_whispers(vectors, 0.4, k=1).tolist() == [0, 0, 0, 0, 0]
    assert cluster_faces(vectors, np.arange(5), 0.4, k=1).tolist() == [0, 0, 1, 2, 3]  # complete: pairs at 0.41


def test_identical_faces_are_at_distance_zero() -> None:
    """A photo copied under two names gives the same vector twice; rounding can put their inner
    product just over 1, which must read as distance 0, not as no distance at all."""
    vectors, _ = gallery(persons=40, faces_each=1, noise=0.0, seed=4)
    twice = np.repeat(vectors, 2, axis=0)
    for linkage in CLUSTER_LINKAGES:
        assert (
            cluster_faces(twice, np.arange(80), 0.1, linkage=linkage).tolist() == np.repeat(np.arange(40), 2).tolist()
        )
    assert chinese_whispers(twice, 0.1).tolist() == np.repeat(np.arange(40), 2).tolist()


# BCubed, on examples worked by hand.


def test_bcubed_perfect_clustering_ignores_label_names() -> None:
    assert bcubed(np.array(["a", "a", "b"]), np.array([5, 5, 9])) == (1.0, 1.0, 1.0)


def test_bcubed_one_big_cluster_and_all_singletons() -> None:
    truth = np.array(["a", "a", "b", "b"])
    # One cluster: each face's cluster is half its own person -> P = 1/2; R = 1; F = 2/3.
    assert bcubed(truth, np.zeros(4)) == pytest.approx((0.5, 1.0, 2 / 3))
    # Singletons: P = 1; each face holds half its person -> R = 1/2.
    assert bcubed(truth, np.arange(4)) == pytest.approx((1.0, 0.5, 2 / 3))


def test_bcubed_mixed_example() -> None:
    # Clusters {0,1} (a,a) and {2,3,4} (a,b,b).
    # P per face: 1, 1, 1/3, 2/3, 2/3 -> 11/15.  R per face: 2/3, 2/3, 1/3, 1, 1 -> 11/15.
    truth = np.array(["a", "a", "a", "b", "b"])
    assert bcubed(truth, np.array([1, 1, 2, 2, 2])) == pytest.approx((11 / 15, 11 / 15, 11 / 15))
    # Clusters {0} (a) and {1,2,3,4} (a,a,b,b): P per face 1, 1/2, 1/2, 1/2, 1/2 -> 3/5;
    # R per face 1/3, 2/3, 2/3, 1, 1 -> 11/15; F = 2PR / (P + R) = 0.66.
    assert bcubed(truth, np.array([0, 1, 1, 1, 1])) == pytest.approx((3 / 5, 11 / 15, 0.66))


def test_bcubed_of_one_face_is_perfect_and_of_none_or_unpaired_labels_refused() -> None:
    assert bcubed(np.array(["a"]), np.array([7])) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="^BCubed is undefined for zero faces$"):
        bcubed(np.array([]), np.array([]))
    with pytest.raises(ValueError, match=r"^label arrays must be 1-D and equal length: \(3,\) vs \(2,\)$"):
        bcubed(np.array([1, 2, 3]), np.array([1, 2]))
    with pytest.raises(ValueError, match=r"^label arrays must be 1-D and equal length: \(1, 2\) vs \(1, 2\)$"):
        bcubed(np.array([[1, 2]]), np.array([[1, 2]]))


# Stable person IDs.


def test_first_run_hands_out_fresh_ids_in_label_order() -> None:
    ids, next_id = assign_stable_ids({}, np.array([10, 11, 12]), np.array([1, 0, 1]), next_id=100)
    assert ids == {10: 101, 11: 100, 12: 101} and next_id == 102


def test_adding_photos_keeps_existing_ids() -> None:
    previous = {1: 40, 2: 40, 3: 41, 4: 41}
    # A re-run numbers clusters differently, grows both persons, and finds a new person.
    face_ids = np.array([1, 2, 3, 4, 5, 6, 7])
    labels = np.array([1, 1, 0, 0, 1, 0, 2])
    ids, next_id = assign_stable_ids(previous, face_ids, labels, next_id=42)
    assert ids == {1: 40, 2: 40, 5: 40, 3: 41, 4: 41, 6: 41, 7: 42} and next_id == 43


def test_split_keeps_the_id_on_the_larger_part() -> None:
    previous = {1: 7, 2: 7, 3: 7, 4: 7, 5: 7}
    ids, next_id = assign_stable_ids(previous, np.array([1, 2, 3, 4, 5]), np.array([0, 0, 1, 1, 1]), next_id=8)
    assert [ids[f] for f in (1, 2, 3, 4, 5)] == [8, 8, 7, 7, 7] and next_id == 9


def test_merge_keeps_the_id_of_the_larger_previous_person() -> None:
    previous = {1: 3, 2: 3, 3: 9, 4: 9, 5: 9}
    ids, next_id = assign_stable_ids(previous, np.array([1, 2, 3, 4, 5]), np.zeros(5, dtype=int), next_id=10)
    assert set(ids.values()) == {9} and next_id == 10


def test_equal_overlap_goes_to_the_older_id_and_deleted_faces_are_ignored() -> None:
    previous = {1: 6, 2: 5, 3: 4}  # face 3 was deleted since
    ids, _ = assign_stable_ids(previous, np.array([1, 2]), np.array([0, 0]), next_id=7)
    assert ids == {1: 5, 2: 5}


def test_fresh_ids_never_reuse_an_old_one() -> None:
    with pytest.raises(ValueError, match="next_id"):
        assign_stable_ids({1: 5}, np.array([1, 2]), np.array([0, 1]), next_id=5)
    with pytest.raises(ValueError, match="unique"):
        assign_stable_ids({}, np.array([1, 1]), np.array([0, 1]), next_id=0)


def test_the_knn_graph_holds_each_faces_k_nearest_and_their_radius() -> None:
    """Faces at 0, 0.1, 0.25, 0.45 and 0.7 rad with k = 1: each face lists its nearest other face,
    an edge from either side is kept once, and a face's floor (the least distance any pair the
    graph did not see can have) is its listed neighbour's distance, capped at T."""
    vectors = on_circle(np.array([0.0, 0.1, 0.25, 0.45, 0.7]))
    nearest = chord(np.array([0.1, 0.1, 0.15, 0.2, 0.25]))
    graph = knn_graph.neighbour_graph(vectors, 2.0, 1, 100, None)
    assert list(zip(graph.first.tolist(), graph.second.tolist(), strict=True)) == [(0, 1), (1, 2), (2, 3), (3, 4)]
    np.testing.assert_allclose(graph.distance, nearest[1:], atol=1e-6)
    np.testing.assert_allclose(graph.floor, nearest, atol=1e-6)
    capped = knn_graph.neighbour_graph(vectors, chord(0.22), 1, 100, None)
    assert capped.first.tolist() == [0, 1, 2] and capped.second.tolist() == [1, 2, 3]
    np.testing.assert_allclose(capped.floor, np.minimum(nearest, chord(0.22)), atol=1e-6)
    # Searched against every face, only pairs at T or more are missing: the floor is T.
    assert knn_graph.neighbour_graph(vectors, 0.5, 4, 100, None).floor.tolist() == [0.5] * 5


def test_average_linkage_defers_exact_sums_by_the_knn_radius(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pairs the sparse graph never saw are at least the kNN radius apart; adding that floor to
    the lower bounds puts off exact distance sums until merges have made some of them moot. With
    every floor at 0 the persons are the same, at the cost of more exact sums."""
    rng = np.random.default_rng(58)  # a gallery where a floor of 0 costs at least one more sum
    vectors = unit(rng.standard_normal((6, 16))[rng.integers(0, 6, 25)] + 0.5 * rng.standard_normal((25, 16)))
    sums = []
    counting = linkages.distance_sums
    monkeypatch.setattr(linkages, "distance_sums", lambda left, right: sums.append(1) or counting(left, right))
    labels = cluster_faces(vectors, np.arange(25), 0.7, k=4, linkage="average")
    with_floor = len(sums)
    searched = clustering.neighbour_graph

    def floorless(*args: object) -> knn_graph.NeighbourGraph:
        graph = searched(*args)
        return replace(graph, floor=np.zeros_like(graph.floor))

    monkeypatch.setattr(clustering, "neighbour_graph", floorless)
    sums.clear()
    assert cluster_faces(vectors, np.arange(25), 0.7, k=4, linkage="average").tolist() == labels.tolist()
    assert with_floor < len(sums)


def test_hnsw_is_built_on_one_thread_and_the_thread_count_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """A parallel HNSW build links faces in an order that depends on thread timing, so one gallery
    could give other persons from run to run; the caller's thread count must come back after."""
    vectors, _ = gallery(persons=3, faces_each=4, noise=0.5, seed=0)
    before = knn_graph.faiss.omp_get_max_threads()
    set_to: list[int] = []
    setting = knn_graph.faiss.omp_set_num_threads
    monkeypatch.setattr(knn_graph.faiss, "omp_set_num_threads", lambda n: set_to.append(n) or setting(n))
    cluster_faces(vectors, np.arange(12), 0.9, exact_search_max=11)
    assert set_to == [1, before]
    assert knn_graph.faiss.omp_get_max_threads() == before

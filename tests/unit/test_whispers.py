"""The whispers rule against a plain reading of its own docstring: labels start as each face's rank
in the lexicographic order of (vector, photo), faces are visited in a seeded order of those ranks,
each takes the label with most votes (its own counting once, the lowest label on ties), and with
cannot-link a label already held by another face of the same photo is never taken.

The reference recomputes who holds each label from scratch at every step, so it shares none of
whisper's bookkeeping; small integer coordinates make ties in the leading coordinates common, so
every coordinate and the photo take part in the ranking."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from index.clustering.whispers import CHINESE_WHISPERS_ITERATIONS, whisper


def reference_whisper(
    vectors: np.ndarray, first: np.ndarray, second: np.ndarray, photo_ids: np.ndarray | None, seed: int
) -> list[int]:
    n = len(vectors)
    photos = photo_ids.tolist() if photo_ids is not None else [0] * n
    order = sorted(range(n), key=lambda i: (vectors[i].tolist(), photos[i]))  # stable: input order on full ties
    labels = [0] * n
    for rank, face in enumerate(order):
        labels[face] = rank
    edges = list(zip(first.tolist(), second.tolist(), strict=True))
    rng = np.random.default_rng(seed)
    for _ in range(CHINESE_WHISPERS_ITERATIONS):
        changed = False
        for node in [order[j] for j in rng.permutation(n)]:
            voters = [b for a, b in edges if a == node] + [a for a, b in edges if b == node]
            if not voters:
                continue
            votes = {labels[node]: 1}
            for voter in voters:
                votes[labels[voter]] = votes.get(labels[voter], 0) + 1

            def held_by_own_photo(label: int, node: int = node) -> bool:
                return any(j != node and labels[j] == label and photos[j] == photos[node] for j in range(n))

            if photo_ids is not None:
                votes = {
                    label: v for label, v in votes.items() if label == labels[node] or not held_by_own_photo(label)
                }
            best = min(votes, key=lambda label: (-votes[label], label))
            if best != labels[node]:
                labels[node] = best
                changed = True
        if not changed:
            break
    return labels


@st.composite
def graphs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A few faces on a 0/1 grid in three coordinates, a few photos, and random edges (repeats and
    same-photo edges included, as the neighbour graph may hold them)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = int(rng.integers(2, 13))
    vectors = rng.integers(0, 2, size=(n, 3)).astype(np.float32)
    photos = rng.integers(0, max(2, n // 2), size=n)
    pairs = rng.integers(0, n, size=(int(rng.integers(1, 3 * n)), 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    return vectors, pairs[:, 0], pairs[:, 1], photos


@given(graphs(), st.booleans())
def test_whisper_is_the_rule_its_docstring_states(graph, cannot_link: bool) -> None:
    vectors, first, second, photos = graph
    photo_ids = photos if cannot_link else None
    expected = reference_whisper(vectors, first, second, photo_ids, seed=0)
    assert whisper(vectors, first, second, photo_ids).tolist() == expected


# Faces ranked by a single coordinate (their rank); the seed-0 visiting order is whisper's own.
LEFT_AT_START = (  # face 8 (photo 1) leaves its starting label 5 in pass 0; face 11 (photo 1) takes it in pass 1
    [0, 6, 1, 4, 11, 9, 3, 2, 5, 8, 10, 7],
    [0, 0, 4, 0, 0, 5, 2, 5, 1, 3, 4, 1],
    [(11, 10), (10, 5), (5, 8), (8, 2), (2, 8)],
    {8: 1, 11: 5},
)
# face 3 (photo 1) joins label 1 in pass 0 and leaves it in pass 2; face 9 (photo 1) takes it in pass 3
LEFT_AFTER_JOINING = (
    [8, 0, 9, 6, 4, 1, 10, 5, 7, 2, 3],
    [3, 2, 1, 1, 3, 0, 3, 0, 2, 1, 1],
    [(7, 0), (3, 4), (3, 7), (9, 4), (0, 3), (1, 0), (5, 4)],
    {3: 0, 9: 1},
)


@pytest.mark.parametrize("gallery", [LEFT_AT_START, LEFT_AFTER_JOINING], ids=["left-at-start", "left-after-joining"])
def test_a_label_a_face_has_left_is_open_to_another_face_of_its_photo(gallery) -> None:
    """A face that leaves a label no longer holds it, so cannot-link stops refusing its photo there."""
    ranks, photos, edges, final = gallery
    vectors = np.array(ranks, dtype=np.float32)[:, None]
    photo_ids = np.array(photos)
    first, second = np.array(edges).T
    labels = whisper(vectors, first, second, photo_ids)
    assert labels.tolist() == reference_whisper(vectors, first, second, photo_ids, seed=0)
    assert {face: labels[face] for face in final} == final

"""Chinese whispers (Biemann, 2006; dlib's chinese_whispers_clustering): every face takes the
label most of its under-cut neighbours hold, until nothing changes.

Why here: it is the rule dlib's face-clustering example uses, so it is both the issue's
reference (on dlib's vectors, without cannot-link, as dlib ships it) and a candidate for
`facesim clusters` (with cannot-link: a face never takes a label that already holds a face of its
own photo, so no label ever holds two).

Why faces are ranked by their vectors: the result depends on the visiting order and on label
ties, which dlib settles by input position. Here the starting labels and the seeded visiting
order follow each face's rank in the lexicographic order of (vector, photo), so the same faces
give the same persons in whatever order they are listed.
"""

from __future__ import annotations

import numpy as np

CHINESE_WHISPERS_ITERATIONS = 100


def whisper(
    vectors: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    photo_ids: np.ndarray | None,
    iterations: int = CHINESE_WHISPERS_ITERATIONS,
    seed: int = 0,
) -> np.ndarray:
    """A label per face. first, second: the under-cut edges (weight 1, as in dlib; a face also
    votes for its own label). A face takes the label with most votes, the lowest-ranked on ties;
    each iteration visits every face once, and a pass that changes nothing ends the run (a fixed
    point). photo_ids: faces sharing one may never share a label; None is dlib's rule, without."""
    n = len(vectors)
    keys = [vectors[:, d] for d in range(vectors.shape[1] - 1, -1, -1)]
    ranked = np.lexsort([photo_ids, *keys] if photo_ids is not None else keys)
    rank = np.empty(n, dtype=np.int64)
    rank[ranked] = np.arange(n)
    neighbours: list[list[int]] = [[] for _ in range(n)]
    for a, b in zip(first.tolist(), second.tolist(), strict=True):
        neighbours[a].append(b)
        neighbours[b].append(a)
    labels = rank.tolist()
    photo = photo_ids.tolist() if photo_ids is not None else None
    # held[label][photo]: faces of that photo holding the label (only with cannot-link).
    held: list[dict] = [{photo[i]: 1} for i in ranked.tolist()] if photo is not None else []
    rng = np.random.default_rng(seed)
    for _ in range(iterations):
        changed = False
        for node in ranked[rng.permutation(n)].tolist():
            adjacent = neighbours[node]
            if not adjacent:
                continue
            own = labels[node]
            votes = {own: 1}
            for other in adjacent:
                votes[labels[other]] = votes.get(labels[other], 0) + 1
            if photo is not None:
                votes = {label: v for label, v in votes.items() if label == own or photo[node] not in held[label]}
            best = min(votes, key=lambda label: (-votes[label], label))
            if best == own:
                continue
            if photo is not None:
                left = held[own]
                left[photo[node]] -= 1
                if not left[photo[node]]:
                    del left[photo[node]]
                held[best][photo[node]] = 1
            labels[node] = best
            changed = True
        if not changed:
            break
    return np.asarray(labels, dtype=np.int64)

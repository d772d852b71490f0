"""Union-find: which items a chain of joins has made one set.

One implementation for every rule that joins faces: the clustering rules' cannot-link sets
(index.clustering.photo_sets) build on it, and the user's corrections group faces tied by "same
person" pairs with it (index.persons.constraints).
"""

from __future__ import annotations

import numpy as np


class DisjointSets:
    """Union-find over 0..size-1, with path halving so that long chains flatten as they are read."""

    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, item: int) -> int:
        """The root that names item's set."""
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, a: int, b: int) -> tuple[int, int] | None:
        """Joins the sets of a and b: (the root kept, the root absorbed), or None when they are
        one set already. b's root is kept."""
        a, b = self.find(a), self.find(b)
        if a == b:
            return None
        self.parent[a] = b
        return b, a

    def roots(self) -> np.ndarray:
        """Each item's root, which names its set."""
        return np.array([self.find(item) for item in range(len(self.parent))], dtype=np.int64)

"""The FAISS index over face vectors, keyed by the faces' SQLite ids.

The file is a cache of SQLite and never the other way round: a sidecar fingerprint says which
faces it holds, and when it is missing, damaged or behind, it is brought up to date from SQLite.
Vectors are unit length, so inner product ranks exactly like Euclidean distance, and
distance = sqrt(2 - 2 * inner product).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import faiss
import numpy as np

from facesim.config import EMBEDDING_DIM, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M, HNSW_MIN_FACES
from index.store import Store

IndexKind = Literal["flat", "hnsw"]
# Bumped when the sidecar's meaning changes, so an old pair is rebuilt rather than trusted.
_FORMAT = 1


def choose_kind(n_faces: int, hnsw_min_faces: int = HNSW_MIN_FACES) -> IndexKind:
    """Exact search while it is cheap; HNSW once scanning every vector would be slow."""
    return "hnsw" if n_faces >= hnsw_min_faces else "flat"


def sidecar_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".json")


@dataclass(frozen=True)
class Fingerprint:
    """Names a set of faces cheaply: ids are never reused, so equal ids mean equal vectors."""

    count: int
    max_id: int
    ids_checksum: str
    model_id: str | None

    @classmethod
    def of(cls, ids: np.ndarray, model_id: str | None) -> Fingerprint:
        ordered = np.sort(np.asarray(ids, dtype="<i8"))
        checksum = hashlib.blake2b(ordered.tobytes(), digest_size=16).hexdigest()
        return cls(int(ordered.size), int(ordered[-1]) if ordered.size else 0, checksum, model_id)


def distances_from_scores(scores: np.ndarray) -> np.ndarray:
    """Inner products of unit vectors to Euclidean distances; rounding can push 2 - 2ip below 0."""
    return np.sqrt(np.maximum(0.0, 2.0 - 2.0 * np.asarray(scores, dtype=np.float64)))


class VectorIndex:
    """An IndexIDMap2 over a Flat or HNSW inner-product index."""

    def __init__(self, index: faiss.IndexIDMap2, kind: IndexKind) -> None:
        self.index = index
        self.kind: IndexKind = kind
        if kind == "hnsw":
            faiss.downcast_index(index.index).hnsw.efSearch = HNSW_EF_SEARCH

    @classmethod
    def empty(cls, dim: int = EMBEDDING_DIM, kind: IndexKind = "flat") -> VectorIndex:
        if kind == "hnsw":
            inner = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        else:
            inner = faiss.IndexFlatIP(dim)
        # faiss's wrapper keeps a reference to `inner` for as long as the map lives.
        return cls(faiss.IndexIDMap2(inner), kind)

    @classmethod
    def build(
        cls,
        ids: np.ndarray,
        vectors: np.ndarray,
        *,
        kind: IndexKind | None = None,
        hnsw_min_faces: int = HNSW_MIN_FACES,
    ) -> VectorIndex:
        vectors = np.asarray(vectors, dtype=np.float32)
        dim = vectors.shape[1] if vectors.size else EMBEDDING_DIM
        built = cls.empty(dim, kind or choose_kind(len(ids), hnsw_min_faces))
        built.add(ids, vectors)
        return built

    @classmethod
    def from_store(cls, store: Store, *, hnsw_min_faces: int = HNSW_MIN_FACES) -> VectorIndex:
        ids, vectors = store.face_vectors()
        return cls.build(ids, vectors, hnsw_min_faces=hnsw_min_faces)

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    def ids(self) -> np.ndarray:
        """Sorted ids of the faces held."""
        return np.sort(faiss.vector_to_array(self.index.id_map).astype(np.int64))

    def fingerprint(self, model_id: str | None) -> Fingerprint:
        return Fingerprint.of(self.ids(), model_id)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if ids.size == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (ids.size, self.dim):
            raise ValueError(f"expected {ids.size} vectors of size {self.dim}, got shape {vectors.shape}")
        self.index.add_with_ids(vectors, ids)

    def remove(self, ids: np.ndarray) -> None:
        """Flat only: an HNSW graph cannot drop nodes, so callers rebuild it instead."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if not ids.size:
            return
        if self.kind != "flat":
            raise ValueError("an HNSW index cannot remove vectors; rebuild it")
        self.index.remove_ids(ids)

    def search(self, queries: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
        """Top-k (face id, distance) per query, nearest first; k is capped at the index size."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if queries.shape[1] != self.dim:
            raise ValueError(f"query vectors have size {queries.shape[1]}, the index holds size {self.dim}")
        k = min(int(k), self.size)
        if k <= 0:
            return [[] for _ in range(len(queries))]
        if self.kind == "hnsw":
            hnsw = faiss.downcast_index(self.index.index).hnsw
            hnsw.efSearch = max(HNSW_EF_SEARCH, k)
        scores, labels = self.index.search(queries, k)
        distances = distances_from_scores(scores)
        return [
            [(int(label), float(dist)) for label, dist in zip(row_labels, row_dists, strict=True) if label >= 0]
            for row_labels, row_dists in zip(labels, distances, strict=True)
        ]

    def catch_up(self, store: Store, *, hnsw_min_faces: int = HNSW_MIN_FACES) -> VectorIndex:
        """This index brought in line with SQLite: added and removed faces applied in place when
        the kind still fits, else a fresh build. Returns the index to use from now on."""
        want = store.face_ids()
        have = self.ids()
        extra = np.setdiff1d(have, want, assume_unique=True)
        missing = np.setdiff1d(want, have, assume_unique=True)
        kind = choose_kind(want.size, hnsw_min_faces)
        if kind != self.kind or (extra.size and self.kind == "hnsw"):
            return VectorIndex.from_store(store, hnsw_min_faces=hnsw_min_faces)
        if missing.size:
            ids, vectors = store.face_vectors(missing)
            if vectors.shape[1] != self.dim:
                return VectorIndex.from_store(store, hnsw_min_faces=hnsw_min_faces)
            self.add(ids, vectors)
        self.remove(extra)
        return self

    def save(self, path: str | Path, model_id: str | None) -> None:
        """Index first, sidecar second, each replaced atomically: a crash between the two leaves
        a sidecar whose file checksum disagrees, which reads as damaged and is rebuilt."""
        path = Path(path)
        data = faiss.serialize_index(self.index).tobytes()
        sidecar = {
            "format": _FORMAT,
            "kind": self.kind,
            "dim": self.dim,
            "file_checksum": hashlib.blake2b(data, digest_size=16).hexdigest(),
            **asdict(self.fingerprint(model_id)),
        }
        _atomic_write(path, data)
        _atomic_write(sidecar_path(path), (json.dumps(sidecar, indent=2) + "\n").encode())

    @classmethod
    def load(cls, path: str | Path) -> tuple[VectorIndex, str | None] | None:
        """The saved index and the model id it was saved for, or None when the file or its
        sidecar is missing or damaged. A bit-level checksum guards the parse, so a corrupt file
        is never handed to FAISS."""
        path = Path(path)
        try:
            sidecar = json.loads(sidecar_path(path).read_text())
            data = path.read_bytes()
        except (OSError, ValueError):
            return None
        if not isinstance(sidecar, dict) or sidecar.get("format") != _FORMAT:
            return None
        if sidecar.get("kind") not in ("flat", "hnsw"):
            return None
        if hashlib.blake2b(data, digest_size=16).hexdigest() != sidecar.get("file_checksum"):
            return None
        try:
            # Already the concrete class, and the owner of the C++ object: no downcast_index,
            # whose non-owning wrapper would outlive the index it points to.
            index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        except RuntimeError:
            return None
        if not isinstance(index, faiss.IndexIDMap2):
            return None
        loaded = cls(index, sidecar["kind"])
        model_id = sidecar.get("model_id")
        fields = ("count", "max_id", "ids_checksum")
        if asdict(loaded.fingerprint(model_id)) != {**{key: sidecar.get(key) for key in fields}, "model_id": model_id}:
            return None
        return loaded, model_id


def open_vectors(
    store: Store, path: str | Path, *, model_id: str | None, hnsw_min_faces: int = HNSW_MIN_FACES
) -> tuple[VectorIndex, bool]:
    """The index for this store and whether it differs from the file (so needs saving).

    A sound file that is merely behind SQLite (an interrupted run, a reader during indexing) is
    caught up in place; a missing or damaged one, or one made for another model, is rebuilt.
    """
    loaded = VectorIndex.load(path)
    if loaded is None or loaded[1] != model_id:
        return VectorIndex.from_store(store, hnsw_min_faces=hnsw_min_faces), True
    index = loaded[0]
    before = index.fingerprint(model_id)
    index = index.catch_up(store, hnsw_min_faces=hnsw_min_faces)
    return index, index.fingerprint(model_id) != before


def _atomic_write(path: Path, data: bytes) -> None:
    """Readers see the old file or the new one, never a partial write, even after power loss."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)

"""The FAISS index over face vectors, keyed by the faces' SQLite ids.

The file is a cache of SQLite and never the other way round: a sidecar fingerprint says which
faces it holds, and when it is missing, damaged or behind, it is brought up to date from SQLite.
Vectors are unit length, so inner product ranks exactly like Euclidean distance, and
distance = sqrt(2 - 2 * inner product).

Two kinds, chosen by gallery size: exact search ("flat") up to IVFPQ_MIN_FACES, IVF-PQ above,
whose trained quantizer lives in a second file beside the index so that a rebuild from SQLite
only encodes the vectors instead of learning cells and codebooks again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np

from facesim.config import (
    EMBEDDING_DIM,
    IVFPQ_M,
    IVFPQ_MIN_FACES,
    IVFPQ_NBITS,
    IVFPQ_NLIST,
    IVFPQ_NPROBE,
    IVFPQ_RERANK_FACTOR,
    IVFPQ_TRAIN_SAMPLE,
)
from facesim.geometry import distance_from_inner_product
from index.store.database import Store

IndexKind = Literal["flat", "ivfpq"]
# Given face ids, (the ids still present, sorted; their exact vectors): Store.face_vectors.
ExactVectors = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
# Bumped when the files' meaning changes, so an old pair is rebuilt rather than trusted
# (format 1 could hold an HNSW graph, which is no longer made).
_FORMAT = 2
# Each PQ sub-quantizer is a k-means with this many centroids: training needs at least as many vectors.
_PQ_CENTROIDS = 1 << IVFPQ_NBITS
# faiss's own floor of training vectors per k-means centroid; fewer make poor cells (and a warning).
_MIN_POINTS_PER_CELL = 39


def choose_kind(n_faces: int, ivfpq_min_faces: int = IVFPQ_MIN_FACES) -> IndexKind:
    """Exact search while loading and scanning every vector is cheap; IVF-PQ past that. Never
    IVF-PQ on fewer vectors than its codebooks need to be trained."""
    return "ivfpq" if n_faces >= max(ivfpq_min_faces, _PQ_CENTROIDS) else "flat"


def sidecar_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".json")


def trained_path(path: str | Path) -> Path:
    """Where the IVF-PQ quantizer of the index at `path` is kept (with its own sidecar)."""
    path = Path(path)
    return path.with_name(path.name + ".trained")


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


def train_ivfpq(vectors: np.ndarray) -> faiss.IndexIVFPQ:
    """An empty IVF-PQ index whose cells and codebooks are learnt from a fixed-seed sample of
    `vectors`: the costly part of a build. Small galleries (tests) get fewer cells, so each cell
    still has faiss's minimum of training vectors."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if len(vectors) < _PQ_CENTROIDS:
        raise ValueError(f"IVF-PQ needs at least {_PQ_CENTROIDS} vectors to train, got {len(vectors)}")
    if len(vectors) > IVFPQ_TRAIN_SAMPLE:
        picks = np.random.default_rng(0).choice(len(vectors), IVFPQ_TRAIN_SAMPLE, replace=False)
        vectors = vectors[np.sort(picks)]
    nlist = max(1, min(IVFPQ_NLIST, len(vectors) // _MIN_POINTS_PER_CELL))
    quantizer = faiss.IndexFlatIP(vectors.shape[1])
    index = faiss.IndexIVFPQ(quantizer, vectors.shape[1], nlist, IVFPQ_M, IVFPQ_NBITS, faiss.METRIC_INNER_PRODUCT)
    index.train(vectors)
    return index


class VectorIndex:
    """Flat: an IndexIDMap2 over an exact inner-product index. IVF-PQ: an IndexIVFPQ holding the
    face ids itself (which lets it remove faces in place), re-ranked with exact vectors."""

    def __init__(self, index: faiss.Index, kind: IndexKind, *, exact: ExactVectors | None = None) -> None:
        self.index = index
        self.kind: IndexKind = kind
        # IVF-PQ only: where its search fetches the exact vectors of candidates (SQLite, normally).
        self.exact = exact
        if kind == "ivfpq":
            index.nprobe = IVFPQ_NPROBE

    @classmethod
    def empty(cls, dim: int = EMBEDDING_DIM) -> VectorIndex:
        # faiss's wrapper keeps a reference to the inner index for as long as the map lives.
        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dim)), "flat")

    @classmethod
    def build(
        cls,
        ids: np.ndarray,
        vectors: np.ndarray,
        *,
        kind: IndexKind | None = None,
        ivfpq_min_faces: int = IVFPQ_MIN_FACES,
        trained: faiss.IndexIVFPQ | None = None,
        exact: ExactVectors | None = None,
    ) -> VectorIndex:
        """`trained` (an empty, trained IVF-PQ index of the same size of vector) spares the
        training of an IVF-PQ build; without it, one is trained on `vectors`."""
        vectors = np.asarray(vectors, dtype=np.float32)
        dim = vectors.shape[1] if vectors.size else EMBEDDING_DIM
        kind = kind or choose_kind(len(ids), ivfpq_min_faces)
        if kind == "flat":
            built = cls.empty(dim)
        else:
            usable = trained is not None and trained.d == dim and trained.ntotal == 0
            built = cls(trained if usable else train_ivfpq(vectors), "ivfpq", exact=exact)
        built.add(ids, vectors)
        return built

    @classmethod
    def from_store(
        cls, store: Store, *, ivfpq_min_faces: int = IVFPQ_MIN_FACES, trained: faiss.IndexIVFPQ | None = None
    ) -> VectorIndex:
        ids, vectors = store.face_vectors()
        return cls.build(ids, vectors, ivfpq_min_faces=ivfpq_min_faces, trained=trained, exact=store.face_vectors)

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    def ids(self) -> np.ndarray:
        """Sorted ids of the faces held."""
        if self.kind == "flat":
            return np.sort(faiss.vector_to_array(self.index.id_map).astype(np.int64))
        invlists = self.index.invlists
        parts = [np.zeros(0, dtype=np.int64)]
        for list_no in range(self.index.nlist):
            size = invlists.list_size(list_no)
            if not size:
                continue
            pointer = invlists.get_ids(list_no)
            try:
                part = np.empty(size, dtype=np.int64)
                faiss.memcpy(faiss.swig_ptr(part), pointer, part.nbytes)
            finally:
                invlists.release_ids(list_no, pointer)
            parts.append(part)
        return np.sort(np.concatenate(parts))

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
        """In place for both kinds; an IVF-PQ removal scans every cell once."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if ids.size:
            self.index.remove_ids(ids)

    def search(self, queries: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
        """Top-k (face id, distance) per query, nearest first; k is capped at the index size."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if queries.shape[1] != self.dim:
            raise ValueError(f"query vectors have size {queries.shape[1]}, the index holds size {self.dim}")
        k = min(int(k), self.size)
        if k <= 0:
            return [[] for _ in range(len(queries))]
        if self.kind == "ivfpq":
            scores, labels = self._reranked(queries, k)
        else:
            scores, labels = self.index.search(queries, k)
        distances = distance_from_inner_product(np.asarray(scores, dtype=np.float64))
        return [
            [(int(label), float(dist)) for label, dist in zip(row_labels, row_dists, strict=True) if label >= 0]
            for row_labels, row_dists in zip(labels, distances, strict=True)
        ]

    def _reranked(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """IVF-PQ ranks by its lossy codes, which alone miss true neighbours; rescoring its best
        IVFPQ_RERANK_FACTOR * k candidates with their exact vectors restores the recall and gives
        exact distances, without holding any full vector in memory. Candidates whose face has left
        SQLite meanwhile are dropped. Pads with label -1 like faiss."""
        if self.exact is None:
            raise ValueError("an IVF-PQ index re-ranks with exact vectors; open it with open_vectors()")
        _, candidates = self.index.search(queries, min(k * IVFPQ_RERANK_FACTOR, self.size))
        ids, vectors = self.exact(np.unique(candidates[candidates >= 0]))
        scores = np.zeros((len(queries), k), dtype=np.float32)
        labels = np.full((len(queries), k), -1, dtype=np.int64)
        if not ids.size:
            return scores, labels
        for row, (query, found) in enumerate(zip(queries, candidates, strict=True)):
            found = found[found >= 0]
            at = np.minimum(np.searchsorted(ids, found), ids.size - 1)
            at = at[ids[at] == found]
            exact = vectors[at] @ query
            best = np.argsort(-exact, kind="stable")[:k]
            scores[row, : best.size] = exact[best]
            labels[row, : best.size] = ids[at[best]]
        return scores, labels

    def catch_up(
        self, store: Store, *, ivfpq_min_faces: int = IVFPQ_MIN_FACES, trained: faiss.IndexIVFPQ | None = None
    ) -> VectorIndex:
        """This index brought in line with SQLite: added and removed faces applied in place when
        the kind still fits, else a fresh build (from `trained` if it is IVF-PQ). Returns the index
        to use from now on."""
        want = store.face_ids()
        have = self.ids()
        extra = np.setdiff1d(have, want, assume_unique=True)
        missing = np.setdiff1d(want, have, assume_unique=True)
        if choose_kind(want.size, ivfpq_min_faces) != self.kind:
            return VectorIndex.from_store(store, ivfpq_min_faces=ivfpq_min_faces, trained=trained)
        if missing.size:
            ids, vectors = store.face_vectors(missing)
            if vectors.shape[1] != self.dim:
                return VectorIndex.from_store(store, ivfpq_min_faces=ivfpq_min_faces, trained=trained)
            self.add(ids, vectors)
        self.remove(extra)
        if self.kind == "ivfpq":
            self.exact = store.face_vectors
        return self

    def save(self, path: str | Path, model_id: str | None) -> None:
        """Index first, sidecar second, each replaced atomically: a crash between the two leaves
        a sidecar whose file checksum disagrees, which reads as damaged and is rebuilt. An IVF-PQ
        index also leaves its quantizer beside it unless a sound one for this model is there."""
        path = Path(path)
        fields = {"kind": self.kind, "dim": self.dim, **asdict(self.fingerprint(model_id))}
        _write_pair(path, faiss.serialize_index(self.index).tobytes(), fields)
        if self.kind == "ivfpq" and load_trained(path, model_id, self.dim) is None:
            # An emptied copy: the cells and codebooks without the faces.
            quantizer = faiss.clone_index(self.index)
            quantizer.reset()
            _write_pair(trained_path(path), faiss.serialize_index(quantizer).tobytes(), {"model_id": model_id})

    @classmethod
    def load(cls, path: str | Path) -> tuple[VectorIndex, str | None] | None:
        """The saved index and the model id it was saved for, or None when the file or its
        sidecar is missing or damaged. A bit-level checksum guards the parse, so a corrupt file
        is never handed to FAISS. An IVF-PQ index comes back without its exact vectors:
        open_vectors() attaches SQLite's."""
        pair = _read_pair(path)
        if pair is None:
            return None
        index, sidecar = pair
        kind = sidecar.get("kind")
        if not (kind == "flat" and isinstance(index, faiss.IndexIDMap2)) and not (
            kind == "ivfpq" and isinstance(index, faiss.IndexIVFPQ)
        ):
            return None
        loaded = cls(index, kind)
        model_id = sidecar.get("model_id")
        fields = ("count", "max_id", "ids_checksum")
        if asdict(loaded.fingerprint(model_id)) != {**{key: sidecar.get(key) for key in fields}, "model_id": model_id}:
            return None
        return loaded, model_id


def load_trained(path: str | Path, model_id: str | None, dim: int | None = None) -> faiss.IndexIVFPQ | None:
    """The empty trained IVF-PQ index kept beside the index at `path`, if it is sound and was
    learnt from this model's vectors (of size `dim`, when given); else None, and a build trains."""
    pair = _read_pair(trained_path(path))
    if pair is None:
        return None
    index, sidecar = pair
    if not isinstance(index, faiss.IndexIVFPQ) or index.ntotal or sidecar.get("model_id") != model_id:
        return None
    if dim is not None and index.d != dim:
        return None
    return index


def open_vectors(
    store: Store, path: str | Path, *, model_id: str | None, ivfpq_min_faces: int = IVFPQ_MIN_FACES
) -> tuple[VectorIndex, bool]:
    """The index for this store and whether it differs from the file (so needs saving).

    A sound file that is merely behind SQLite (an interrupted run, a reader during indexing) is
    caught up in place; a missing or damaged one, or one made for another model, is rebuilt, from
    the stored IVF-PQ quantizer where the gallery is that large and one for this model is kept.
    """
    loaded = VectorIndex.load(path)
    trained = load_trained(path, model_id) if store.face_count() >= ivfpq_min_faces else None
    if loaded is None or loaded[1] != model_id:
        return VectorIndex.from_store(store, ivfpq_min_faces=ivfpq_min_faces, trained=trained), True
    index = loaded[0]
    before = index.fingerprint(model_id)
    index = index.catch_up(store, ivfpq_min_faces=ivfpq_min_faces, trained=trained)
    return index, index.fingerprint(model_id) != before


def _write_pair(path: Path, data: bytes, fields: dict[str, Any]) -> None:
    """A FAISS file, then its sidecar: `fields`, the format and the data's checksum."""
    sidecar = {"format": _FORMAT, **fields, "file_checksum": hashlib.blake2b(data, digest_size=16).hexdigest()}
    _atomic_write(path, data)
    _atomic_write(sidecar_path(path), (json.dumps(sidecar, indent=2) + "\n").encode())


def _read_pair(path: str | Path) -> tuple[faiss.Index, dict[str, Any]] | None:
    """The FAISS index saved at `path` and its sidecar, or None when either is missing, damaged,
    of another format or disagrees with the other."""
    path = Path(path)
    try:
        sidecar = json.loads(sidecar_path(path).read_text())
        data = path.read_bytes()
    except (OSError, ValueError):
        return None
    if not isinstance(sidecar, dict) or sidecar.get("format") != _FORMAT:
        return None
    if hashlib.blake2b(data, digest_size=16).hexdigest() != sidecar.get("file_checksum"):
        return None
    try:
        # Already the concrete class, and the owner of the C++ object: no downcast_index,
        # whose non-owning wrapper would outlive the index it points to.
        return faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8)), sidecar
    except RuntimeError:
        return None


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

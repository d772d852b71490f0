"""Match latency at gallery scale: the search step alone, and a whole `facesim match`.

Vectors are synthetic, since no face collection here has 1M faces: "persons" are random unit
centres in 128-d, each face is its centre plus isotropic Gaussian noise (sigma 0.035 per
dimension, about 20 faces per person), normalised to unit length. That puts same-person
distances near 0.5 and different-person distances near 1.4, like a trained face encoder's. Each
query is a fresh face of a random gallery person, as when the query photo shows someone indexed.
Such well-separated clusters are easy for approximate indexes, so "uniform" (random unit vectors,
no structure) is measured too as the worst case for their recall; real face vectors lie between.

The search step is VectorIndex.search for one query vector, top-k, in process: per query wall
and CPU time, p50/p99. The index kind is whatever VectorIndex picks for that many faces (flat
below IVFPQ_MIN_FACES, IVF-PQ above, re-ranked here from vectors in memory); exact search is timed
beside it wherever IVF-PQ is picked, and recall@k is the overlap with exact search.
benchmarks/ivfpq_scale.py measures IVF-PQ itself at sizes below its threshold.

A whole match is the real CLI on a synthetic gallery (the same vectors in SQLite and the FAISS
file, made as an indexing run would leave them), from process start to exit, plus an in-process
split of where that time goes.

    python benchmarks/match_latency.py --lfw ../shared/data/lfw [--quick] [--million]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from speedkit import (
    DEFAULT_LFW,
    FACESIM_CLI,
    ChildRun,
    lfw_sample,
    markdown_table,
    percentiles_ms,
    print_header,
    run_child,
)

from facesim import model_card
from facesim.config import EMBEDDING_DIM, IVFPQ_MIN_FACES
from facesim.detection import DetectedFace
from facesim.pipeline import Face, main_face
from index.store.gallery import META_MODEL_ID, Gallery
from index.store.vectors import VectorIndex, choose_kind

FACES_PER_PERSON = 20
SPREAD = 0.035
FACES_PER_PHOTO = 10  # synthetic galleries: group photos, so SQLite holds fewer photo rows
CLI_RUNS = 3
LATENCY_GOAL_MS = 20.0
DISTRIBUTIONS = ("clustered", "uniform")
_BOX = (0, 0, 100, 100)
_LANDMARKS = ((30, 40), (40, 40), (70, 40), (60, 40), (50, 70))


def person_centres(faces: int, rng: np.random.Generator) -> np.ndarray:
    """One random unit vector per synthetic person."""
    centres = rng.standard_normal((max(1, faces // FACES_PER_PERSON), EMBEDDING_DIM)).astype(np.float32)
    return centres / np.linalg.norm(centres, axis=1, keepdims=True)


def uniform_unit_vectors(count: int, rng: np.random.Generator) -> np.ndarray:
    """Directions with no structure at all: nearest and farthest neighbours differ least, the
    hardest case for an approximate index's recall (real face vectors lie between this and the
    clustered set)."""
    vectors = rng.standard_normal((count, EMBEDDING_DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def gallery_and_queries(distribution: str, size: int, n_queries: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(size)
    if distribution == "uniform":
        return uniform_unit_vectors(size, rng), uniform_unit_vectors(n_queries, rng)
    centres = person_centres(size, rng)
    return faces_around(centres, size, rng), faces_around(centres, n_queries, rng)


def faces_around(centres: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors of faces of randomly chosen persons."""
    picks = rng.integers(0, len(centres), count)
    vectors = centres[picks] + SPREAD * rng.standard_normal((count, EMBEDDING_DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def time_queries(search: Callable[[np.ndarray], object], queries: np.ndarray) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each single-query call, after two untimed warm-up calls."""
    for query in queries[:2]:
        search(query)
    walls, cpus = [], []
    for query in queries:
        wall, cpu = time.perf_counter(), time.process_time()
        search(query)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return walls, cpus


def recall_at_k(found: list[list[tuple[int, float]]], exact: list[list[tuple[int, float]]], k: int) -> float:
    hits = sum(len({i for i, _ in got} & {i for i, _ in truth}) for got, truth in zip(found, exact, strict=True))
    return hits / (k * len(exact))


def write_gallery(directory: Path, index: VectorIndex, vectors: np.ndarray) -> None:
    """SQLite rows and the FAISS file exactly as `facesim index` leaves them, minus the photos.

    Face ids are AUTOINCREMENT from 1 in insertion order, so the pre-built index (ids 1..N) is
    the one sync_vectors would have built; the fingerprint check on load confirms it.
    """
    model_id = model_card.model_id()
    with Gallery.open(directory) as gallery, gallery.write_lock():
        store = gallery.store
        store.set_meta(META_MODEL_ID, model_id)
        with store.transaction():
            for photo, start in enumerate(range(0, len(vectors), FACES_PER_PHOTO)):
                faces = [
                    Face(DetectedFace(_BOX, 1.0, _LANDMARKS), vector)
                    for vector in vectors[start : start + FACES_PER_PHOTO]
                ]
                store.record_photo(
                    f"/synthetic/{photo:07d}.jpg",
                    status="indexed",
                    content_hash=None,
                    size=0,
                    mtime_ns=0,
                    model_id=model_id,
                    faces=faces,
                )
        if not np.array_equal(store.face_ids(), index.ids()):
            raise SystemExit("synthetic gallery: face ids differ from the pre-built index's")
        index.save(gallery.vectors_path, model_id)


def whole_match(directory: Path, query: Path, k: int) -> tuple[list[ChildRun] | str, dict[str, float | str]]:
    """`facesim match` runs (or its error line), and one in-process run split into the steps
    Gallery.vectors() and search.match() take (or where it failed)."""
    command = [FACESIM_CLI, "match", query, "--index", directory, "--top-k", k, "--json"]
    runs: list[ChildRun] = []
    for _ in range(CLI_RUNS):
        run = run_child(command, check=False)
        if run.returncode != 0:
            return f"FAILED: {run.stderr.strip().splitlines()[-1]}", _split(directory, query, k)
        if len(json.loads(run.stdout)) != k:
            raise SystemExit(f"facesim match returned {run.stdout[:200]}")
        runs.append(run)
    return runs, _split(directory, query, k)


def _split(directory: Path, query: Path, k: int) -> dict[str, float | str]:
    steps: dict[str, float | str] = {}
    main_face(query)  # loads the models, which the CLI times include and this split leaves out
    started = time.perf_counter()
    face = main_face(query)
    started = _step(steps, "detect + embed query photo", started)
    with Gallery.open(directory, create=False) as gallery:
        started = _step(steps, "open gallery", started)
        loaded = VectorIndex.load(gallery.vectors_path)
        started = _step(steps, "read + checksum + deserialize FAISS file", started)
        if loaded is None or loaded[1] != gallery.model_id:
            raise SystemExit("the saved FAISS file was not accepted; the split would time a rebuild")
        try:
            index = loaded[0].catch_up(gallery.store)
        except ValueError as exc:
            steps["check against SQLite (catch_up)"] = f"FAILED: ValueError: {exc}"
            return steps
        started = _step(steps, "check against SQLite (catch_up)", started)
        found = index.search(face.embedding, k)
        started = _step(steps, "search", started)
        gallery.store.face_hits([face_id for face_id, _ in found[0]])
        _step(steps, "SQLite lookup of hits", started)
    return steps


def _step(steps: dict[str, float | str], name: str, started: float) -> float:
    now = time.perf_counter()
    steps[name] = now - started
    return now


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, default=DEFAULT_LFW, help="for the query photo of a whole match")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="gallery sizes (faces)")
    parser.add_argument("--million", action="store_true", help="add 1,000,000 faces")
    parser.add_argument("--queries", type=int, default=500, help="timed single-vector queries per size")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument(
        "--distributions",
        nargs="+",
        choices=DISTRIBUTIONS,
        default=list(DISTRIBUTIONS),
        help="synthetic vector sets; a whole match uses the first",
    )
    parser.add_argument("--no-whole-match", action="store_true", help="skip building SQLite galleries")
    parser.add_argument("--quick", action="store_true", help="10,000 faces, 100 queries")
    args = parser.parse_args()
    sizes = [10_000] if args.quick else sorted(set(args.sizes + ([1_000_000] if args.million else [])))
    n_queries = 100 if args.quick else args.queries
    print_header("Match latency")
    print(
        f"vectors: clustered = {FACES_PER_PERSON} faces per person around random unit centres, sigma {SPREAD}, "
        f"normalised; uniform = random unit vectors; "
        f"k={args.k}; IVFPQ_MIN_FACES={IVFPQ_MIN_FACES:,}\n"
    )
    query_photo = next(path for path in lfw_sample(args.lfw, 50) if path.stem.endswith("_0001"))

    search_rows, build_rows, match_rows = [], [], []
    splits: list[tuple[int, dict[str, float | str]]] = []
    for size in sizes:
        for distribution in args.distributions:
            vectors, queries = gallery_and_queries(distribution, size, n_queries)
            ids = np.arange(1, size + 1, dtype=np.int64)
            kind = choose_kind(size)
            indexes: dict[str, VectorIndex] = {}
            for this_kind in dict.fromkeys([kind, "flat"]):
                wall, cpu = time.perf_counter(), time.process_time()
                indexes[this_kind] = VectorIndex.build(
                    ids, vectors, kind=this_kind, exact=lambda wanted, v=vectors: (wanted, v[wanted - 1])
                )
                build_rows.append(
                    [
                        f"{size:,}",
                        distribution,
                        this_kind,
                        f"{time.perf_counter() - wall:.2f}",
                        f"{time.process_time() - cpu:.2f}",
                    ]
                )
            exact = indexes["flat"].search(queries, args.k)
            for this_kind, index in indexes.items():
                walls, cpus = time_queries(lambda q, i=index: i.search(q, args.k), queries)
                found = [index.search(query, args.k)[0] for query in queries]
                p50, p99 = percentiles_ms(walls)
                cpu50, cpu99 = percentiles_ms(cpus)
                search_rows.append(
                    [
                        f"{size:,}",
                        distribution,
                        f"{this_kind}{' (picked)' if this_kind == kind else ''}",
                        f"{p50:.2f}",
                        f"{p99:.2f}",
                        f"{cpu50:.2f}",
                        f"{cpu99:.2f}",
                        f"{recall_at_k(found, exact, args.k):.4f}",
                        f"{np.median([row[0][1] for row in exact]):.3f}",
                    ]
                )
            if not args.no_whole_match and distribution == args.distributions[0]:
                with tempfile.TemporaryDirectory(prefix="facesim-match-") as tmp:
                    started = time.perf_counter()
                    write_gallery(Path(tmp), indexes[kind], vectors)
                    setup = time.perf_counter() - started
                    runs, steps = whole_match(Path(tmp), query_photo, args.k)
                if isinstance(runs, str):
                    cells = [runs, *[""] * (CLI_RUNS + 1)]
                else:
                    cells = [
                        *(f"{run.wall_s:.2f}" for run in runs),
                        f"{statistics.median(run.wall_s for run in runs):.2f}",
                        f"{statistics.median(run.cpu_s for run in runs):.2f}",
                    ]
                match_rows.append([f"{size:,}", kind, f"{setup:.0f}", *cells])
                splits.append((size, steps))
            del indexes, vectors

    print("Search step (VectorIndex.search, one query vector, top-k), per query:\n")
    headers = [
        "faces",
        "vectors",
        "index",
        "p50 ms",
        "p99 ms",
        "p50 CPU ms",
        "p99 CPU ms",
        f"recall@{args.k} vs exact",
        "median nearest distance",
    ]
    print(markdown_table(headers, search_rows))
    print(f"\ngoal: p50 <= {LATENCY_GOAL_MS:.0f} ms at 100,000 faces\n")
    print("Index build (what a re-index or a rebuild from SQLite costs; IVF-PQ includes training):\n")
    print(markdown_table(["faces", "vectors", "index", "build wall s", "build CPU s"], build_rows))
    if splits:
        print(
            f"\nWhole `facesim match {query_photo.name} --top-k {args.k} --json`, process start to exit, "
            f"{args.distributions[0]} vectors:\n"
        )
        run_headers = [f"run {i + 1} s" for i in range(CLI_RUNS)]
        medians = ["median s", "median CPU s"]
        print(markdown_table(["faces", "index", "gallery setup s (untimed)", *run_headers, *medians], match_rows))
        print("\nThe same match in process, as Gallery.vectors() and search.match() do it, step by step (ms; imports")
        print("and model loading excluded; persons lookup left out):\n")
        for size, steps in splits:
            rows = [[step, value if isinstance(value, str) else f"{value * 1000:.0f}"] for step, value in steps.items()]
            print(f"{size:,} faces:\n")
            print(markdown_table(["step", "ms"], rows) + "\n")


if __name__ == "__main__":
    main()

"""The FAISS side at scale: IVF-PQ against exact search, and why HNSW is no longer used.

Vectors are the synthetic sets of match_latency.py: "clustered" (20 faces per person around
random unit centres, Gaussian sigma 0.035 per dimension, normalised; face-like) and "uniform"
(random unit vectors, no structure: the worst case for any approximate index). Queries are fresh
vectors (of a gallery person, for clustered). Ground truth is exact search over the same vectors.

For each set, at --size faces (default 1M):
- exact search (the "flat" kind): build time, file bytes per face, per-query latency;
- IVF-PQ as VectorIndex builds it (facesim.config's IVFPQ_* constants): train and add time, file
  bytes per face and of the trained quantizer, RSS growth when the file is loaded, recall@k
  without and with the exact re-rank, and per-query latency (exact vectors from memory);
- a sweep of nprobe and re-rank depth (raw faiss search + the same numpy re-rank), recall and CPU;
- with --sqlite (first set only): the same searches fetching the exact vectors from a real
  SQLite gallery of that many faces, which is what `facesim match` does.
--hnsw-size (default 100k; 0 skips it) times the HNSW graph facesim used before (M=32,
efConstruction=80) at several efSearch values, on both sets.

One query per call, in process. Run it with OMP_NUM_THREADS=1 to time a single core.

    python benchmarks/ivfpq_scale.py [--size 1000000] [--sqlite] [--hnsw-size 100000] [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np
from match_latency import DISTRIBUTIONS, gallery_and_queries, recall_at_k, time_queries, write_gallery
from speedkit import markdown_table, percentiles_ms, print_header

from facesim.config import IVFPQ_M, IVFPQ_NBITS, IVFPQ_NLIST, IVFPQ_NPROBE, IVFPQ_RERANK_FACTOR, IVFPQ_TRAIN_SAMPLE
from index.store.gallery import Gallery
from index.store.vectors import VectorIndex, train_ivfpq

NPROBES = (16, 64, 128, 256)
RERANK_FACTORS = (1, 5, 10, 20)
SWEEP_QUERIES = 100
# The HNSW graph facesim built before IVF-PQ (formerly HNSW_M and HNSW_EF_CONSTRUCTION).
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCHES = (128, 512, 2048)


def timed(action):
    """(result, wall s, CPU s) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def file_costs(index: VectorIndex, size: int) -> list[str]:
    """Bytes per face of the saved file, then what every `facesim match` pays for it:
    VectorIndex.load's wall time (read, checksum, parse, fingerprint) and the RSS it leaves."""
    with tempfile.TemporaryDirectory(prefix="facesim-ivfpq-") as tmp:
        path = Path(tmp) / "faces.faiss"
        index.save(path, "benchmark")
        before = rss_mb()
        loaded, wall, _ = timed(lambda: VectorIndex.load(path))
        grown = rss_mb() - before
        if loaded is None:
            raise SystemExit("the saved index did not load")
        return [f"{path.stat().st_size / size:.1f}", f"{wall:.2f}", f"{grown:.0f}"]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def as_rows(labels: np.ndarray) -> list[list[tuple[int, float]]]:
    """faiss labels in the (id, distance) rows recall_at_k compares."""
    return [[(int(label), 0.0) for label in row if label >= 0] for row in labels]


def reranked(ivf: faiss.IndexIVFPQ, vectors: np.ndarray, query: np.ndarray, k: int, fetch: int) -> np.ndarray:
    """VectorIndex's re-rank for one query, with the ids 1..N of these benchmarks."""
    _, candidates = ivf.search(query[None], fetch)
    found = candidates[0][candidates[0] >= 0]
    return found[np.argsort(-(vectors[found - 1] @ query), kind="stable")[:k]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="faces in the IVF-PQ comparison")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--distributions", nargs="+", choices=DISTRIBUTIONS, default=list(DISTRIBUTIONS))
    parser.add_argument("--sqlite", action="store_true", help="also re-rank from a real SQLite gallery")
    parser.add_argument("--hnsw-size", type=int, default=100_000, help="faces in the HNSW sweep; 0 skips it")
    parser.add_argument("--quick", action="store_true", help="20,000 faces, 100 queries, HNSW at 20,000")
    args = parser.parse_args()
    size, n_queries, hnsw_size = (20_000, 100, 20_000) if args.quick else (args.size, args.queries, args.hnsw_size)
    k = args.k
    print_header("IVF-PQ at scale")
    print(
        f"IVF-PQ: nlist={IVFPQ_NLIST}, m={IVFPQ_M} x {IVFPQ_NBITS} bits, nprobe={IVFPQ_NPROBE}, "
        f"re-rank {IVFPQ_RERANK_FACTOR} x k, trained on {IVFPQ_TRAIN_SAMPLE:,} vectors; k={k}, "
        f"{n_queries} queries ({SWEEP_QUERIES} in the sweep)\n"
    )
    summary: list[list[str]] = []
    builds: list[list[str]] = []
    sweep: list[list[str]] = []
    sqlite_rows: list[list[str]] = []
    for distribution in args.distributions if size else []:
        with_sqlite = args.sqlite and distribution == args.distributions[0]
        rows = measure(distribution, size, n_queries, k, with_sqlite)
        summary += rows["summary"]
        builds += rows["builds"]
        sweep += rows["sweep"]
        sqlite_rows += rows["sqlite"]
    if size:
        print_ivfpq(size, k, summary, builds, sweep, sqlite_rows, args.distributions[0])
    if hnsw_size:
        print(f"\nHNSW (M={HNSW_M}, efConstruction={HNSW_EF_CONSTRUCTION}) at {hnsw_size:,} faces:\n")
        headers = ["vectors", "index", "build CPU s", f"recall@{k}", "p50 ms", "p99 ms", "p50 CPU ms", "p99 CPU ms"]
        print(markdown_table(headers, hnsw_rows(hnsw_size, n_queries, k, args.distributions)))


def measure(distribution: str, size: int, n_queries: int, k: int, with_sqlite: bool) -> dict[str, list[list[str]]]:
    """Every row for one vector set; the vectors are freed on return."""
    vectors, queries = gallery_and_queries(distribution, size, n_queries)
    ids = np.arange(1, size + 1, dtype=np.int64)

    def lookup(wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return wanted, vectors[wanted - 1]

    rows: dict[str, list[list[str]]] = {"summary": [], "builds": [], "sweep": [], "sqlite": []}
    flat, wall, cpu = timed(lambda: VectorIndex.build(ids, vectors, kind="flat"))
    rows["builds"].append([distribution, "flat", "", f"{wall:.2f}", f"{cpu:.2f}", *file_costs(flat, size), ""])
    exact = flat.search(queries, k)
    walls, cpus = time_queries(lambda q: flat.search(q, k), queries)
    rows["summary"].append([distribution, "flat (exact)", "1.0000", *latency_cells(walls, cpus)])
    flat.index.reset()  # 512 bytes a face, no longer needed

    trained, train_wall, train_cpu = timed(lambda: train_ivfpq(vectors))
    trained_kib = len(faiss.serialize_index(trained)) / 1024
    index, wall, cpu = timed(lambda: VectorIndex.build(ids, vectors, kind="ivfpq", trained=trained, exact=lookup))
    rows["builds"].append(
        [
            distribution,
            "ivfpq",
            f"{train_wall:.1f} + {wall:.1f}",
            f"{train_wall + wall:.1f}",
            f"{train_cpu + cpu:.1f}",
            *file_costs(index, size),
            f"{trained_kib:.0f}",
        ]
    )
    _, raw = index.index.search(queries, k)
    rows["summary"].append(
        [distribution, "ivfpq, no re-rank", f"{recall_at_k(as_rows(raw), exact, k):.4f}", "", "", "", ""]
    )
    walls, cpus = time_queries(lambda q: index.search(q, k), queries)
    recall = recall_at_k(index.search(queries, k), exact, k)
    rows["summary"].append(
        [distribution, "ivfpq + exact re-rank (picked)", f"{recall:.4f}", *latency_cells(walls, cpus)]
    )
    ivf = index.index
    for nprobe in NPROBES:
        ivf.nprobe = nprobe
        for factor in RERANK_FACTORS:
            fetch = k * factor
            sample = queries[:SWEEP_QUERIES]
            found = [reranked(ivf, vectors, query, k, fetch) for query in sample]
            _, cpus = time_queries(lambda q, fetch=fetch: reranked(ivf, vectors, q, k, fetch), sample)
            recall = recall_at_k(as_rows(np.array(found)), exact[:SWEEP_QUERIES], k)
            rows["sweep"].append(
                [distribution, str(nprobe), str(factor), f"{recall:.4f}", f"{percentiles_ms(cpus)[0]:.2f}"]
            )
    ivf.nprobe = IVFPQ_NPROBE
    if with_sqlite:
        rows["sqlite"].append(sqlite_search(index, vectors, queries, exact, k))
    return rows


def print_ivfpq(
    size: int,
    k: int,
    summary: list[list[str]],
    builds: list[list[str]],
    sweep: list[list[str]],
    sqlite_rows: list[list[str]],
    sqlite_distribution: str,
) -> None:
    print("Search (one query vector per call), recall against exact search:\n")
    print(markdown_table(["vectors", "index", f"recall@{k}", "p50 ms", "p99 ms", "p50 CPU ms", "p99 CPU ms"], summary))
    print(f"\nBuild at {size:,} faces (IVF-PQ: train + add):\n")
    headers = [
        "vectors",
        "index",
        "train + add wall s",
        "build wall s",
        "build CPU s",
        "file bytes/face",
        "load s",
        "RSS after load MB",
        "quantizer file KiB",
    ]
    print(markdown_table(headers, builds))
    print(f"\nnprobe and re-rank depth ({SWEEP_QUERIES} queries; factor 1 = no re-rank; CPU ms per query):\n")
    print(markdown_table(["vectors", "nprobe", "re-rank factor", f"recall@{k}", "p50 CPU ms"], sweep))
    if sqlite_rows:
        print(
            f"\nThe picked IVF-PQ index re-ranking from a SQLite gallery of {size:,} faces ({sqlite_distribution}):\n"
        )
        print(
            markdown_table(
                ["gallery setup s", f"recall@{k}", "p50 ms", "p99 ms", "p50 CPU ms", "p99 CPU ms"], sqlite_rows
            )
        )


def latency_cells(walls: list[float], cpus: list[float]) -> list[str]:
    return [f"{value:.2f}" for value in (*percentiles_ms(walls), *percentiles_ms(cpus))]


def sqlite_search(
    index: VectorIndex, vectors: np.ndarray, queries: np.ndarray, exact: list[list[tuple[int, float]]], k: int
) -> list[str]:
    """The index as `facesim match` uses it: candidates' vectors fetched from the gallery's SQLite."""
    with tempfile.TemporaryDirectory(prefix="facesim-ivfpq-") as tmp:
        _, setup, _ = timed(lambda: write_gallery(Path(tmp), index, vectors))
        with Gallery.open(tmp, create=False) as gallery:
            index.exact = gallery.store.face_vectors
            walls, cpus = time_queries(lambda q: index.search(q, k), queries)
            recall = recall_at_k(index.search(queries, k), exact, k)
    return [f"{setup:.0f}", f"{recall:.4f}", *latency_cells(walls, cpus)]


def hnsw_rows(size: int, n_queries: int, k: int, distributions: list[str]) -> list[list[str]]:
    return [row for distribution in distributions for row in hnsw_sweep(distribution, size, n_queries, k)]


def hnsw_sweep(distribution: str, size: int, n_queries: int, k: int) -> list[list[str]]:
    vectors, queries = gallery_and_queries(distribution, size, n_queries)
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    _, truth = flat.search(queries, k)
    walls, cpus = time_queries(lambda q: flat.search(q[None], k), queries)
    rows = [[distribution, "flat (exact)", "", "1.0000", *latency_cells(walls, cpus)]]
    hnsw = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    _, _, build_cpu = timed(lambda: hnsw.add(vectors))
    for ef in HNSW_EF_SEARCHES:
        hnsw.hnsw.efSearch = ef
        _, found = hnsw.search(queries, k)
        walls, cpus = time_queries(lambda q: hnsw.search(q[None], k), queries)
        recall = recall_at_k(as_rows(found), as_rows(truth), k)
        rows.append(
            [distribution, f"hnsw efSearch={ef}", f"{build_cpu:.1f}", f"{recall:.4f}", *latency_cells(walls, cpus)]
        )
    return rows


if __name__ == "__main__":
    main()

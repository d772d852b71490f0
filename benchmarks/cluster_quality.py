"""Cluster quality: facesim's complete and average linkage (with cannot-link) against dlib's Chinese whispers.

Prints BCubed precision / recall / F, the number of clusters against true persons, and wall time
for both algorithms, on a synthetic labelled gallery, and (with --vectors) on real faces saved as
an .npz with arrays `vectors` (n x d unit float32), `labels` (true person) and `photo_ids`.

Synthetic noise model (all in 128-d, all vectors unit length):
  * persons come in families of --family-size; family f has a unit direction u_f and person p in
    it has centre c_p = unit(sqrt(kinship) * u_f + sqrt(1 - kinship) * g_p), g_p a random unit
    vector, so relatives' centres have cosine ~kinship (lookalikes) and strangers' ~0;
  * face i of person p is unit(c_p + s_i * e_i / sqrt(128)), e_i ~ N(0, I), with a per-face noise
    scale s_i = noise * exp(N(0, noise_spread^2)): most faces are clean, a tail is blurry;
  * faces are shuffled and dealt into photos of 1-4 faces, never two of one person in a photo, so
    cannot-link constraints are true ones.
The threshold is the max-F1 distance on balanced same/different pairs of a second synthetic
gallery drawn with another seed (as `facesim calibrate` does on validation people), unless
--threshold is given. For --vectors the threshold is --threshold or the model card's.

    python benchmarks/cluster_quality.py                       # 1000 x 10 faces, then 100k timing
    python benchmarks/cluster_quality.py --vectors faces.npz   # real faces
    python benchmarks/cluster_quality.py --vectors faces.npz --sweep   # + each linkage at 0.70-1.10 x T

The sweep is a diagnostic, not a tuning knob: it shows the best F any single threshold could give
each linkage on these vectors, i.e. how much of a shortfall is the linkage's and how much the
vectors'. `facesim clusters` always uses the model card's threshold.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from facesim.config import CLUSTER_CUT_FRACTIONS
from facesim.training.metrics import best_f1_threshold
from index.clustering.cluster import chinese_whispers, cluster_faces
from index.clustering.graph import DEFAULT_K
from index.clustering.metrics import bcubed

DIM = 128
CALIBRATION_PAIRS_EACH = 20_000


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def synthetic_gallery(
    persons: int,
    faces_each: int,
    seed: int,
    noise: float,
    noise_spread: float,
    kinship: float,
    family_size: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vectors, person labels, photo ids) under the noise model in the module docstring."""
    rng = np.random.default_rng(seed)
    families = _unit(rng.standard_normal(((persons + family_size - 1) // family_size, DIM)))
    own = _unit(rng.standard_normal((persons, DIM)))
    centres = _unit(np.sqrt(kinship) * families[np.arange(persons) // family_size] + np.sqrt(1 - kinship) * own)
    labels = np.repeat(np.arange(persons), faces_each)
    scale = noise * np.exp(noise_spread * rng.standard_normal(len(labels)))
    faces = centres[labels] + scale[:, None] * rng.standard_normal((len(labels), DIM)) / np.sqrt(DIM)
    order = rng.permutation(len(labels))
    vectors, labels = _unit(faces[order]).astype(np.float32), labels[order]
    return vectors, labels, _deal_into_photos(labels, rng)


def _deal_into_photos(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Consecutive faces share a photo of 1-4 faces, a new photo starting on a repeated person."""
    photo_ids = np.empty(len(labels), dtype=np.int64)
    photo, room, people = 0, int(rng.integers(1, 5)), set()
    for i, person in enumerate(labels.tolist()):
        if room == 0 or person in people:
            photo, room, people = photo + 1, int(rng.integers(1, 5)), set()
        photo_ids[i] = photo
        people.add(person)
        room -= 1
    return photo_ids


def calibrated_threshold(vectors: np.ndarray, labels: np.ndarray, seed: int) -> float:
    """Max-F1 threshold on balanced same/different pairs, like the model card's calibration."""
    rng = np.random.default_rng(seed)
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    anchor = rng.integers(0, len(labels), CALIBRATION_PAIRS_EACH)
    # A same pair: a face drawn from the run of the anchor's person in label-sorted order.
    start = np.searchsorted(sorted_labels, labels[anchor])
    end = np.searchsorted(sorted_labels, labels[anchor], side="right")
    partner = order[rng.integers(start, end)]
    same_ok = partner != anchor
    other = rng.integers(0, len(labels), CALIBRATION_PAIRS_EACH)
    diff_ok = labels[other] != labels[anchor]
    firsts = np.concatenate([anchor[same_ok], anchor[diff_ok]])
    seconds = np.concatenate([partner[same_ok], other[diff_ok]])
    same = np.concatenate([np.ones(same_ok.sum(), bool), np.zeros(diff_ok.sum(), bool)])
    distances = np.linalg.norm(vectors[firsts] - vectors[seconds], axis=1)
    return best_f1_threshold(distances, same)


def report(
    title: str, vectors: np.ndarray, labels: np.ndarray, photo_ids: np.ndarray, threshold: float, k: int
) -> None:
    """One table: each algorithm's BCubed scores, cluster counts and time on one gallery.

    CPU seconds (all threads) are shown beside wall seconds because a shared machine's wall
    time says more about its other load than about the algorithm.
    """
    persons = len(np.unique(labels))
    print(f"\n{title}: {len(vectors):,} faces, {persons:,} persons, threshold {threshold:.4f}, k {k}")
    header = ("precision", 10), ("recall", 9), ("F", 8), ("clusters", 10), ("size>=2", 9), ("wall s", 8), ("cpu s", 8)
    print(f"{'algorithm':<28}" + "".join(f"{name:>{width}}" for name, width in header))
    runs: list[tuple[str, Callable[[], np.ndarray]]] = [
        ("complete linkage + cannot", lambda: cluster_faces(vectors, photo_ids, threshold, k, linkage="complete")),
        ("average linkage + cannot", lambda: cluster_faces(vectors, photo_ids, threshold, k, linkage="average")),
        ("chinese whispers (dlib)", lambda: chinese_whispers(vectors, threshold, k)),
    ]
    for name, run in runs:
        started, started_cpu = time.perf_counter(), time.process_time()
        predicted = run()
        wall, cpu = time.perf_counter() - started, time.process_time() - started_cpu
        score = bcubed(labels, predicted)
        sizes = np.bincount(predicted)
        print(
            f"{name:<28}{score.precision:>10.4f}{score.recall:>9.4f}{score.f1:>8.4f}"
            f"{len(sizes):>10,}{int((sizes >= 2).sum()):>9,}{wall:>8.1f}{cpu:>8.1f}"
        )


def sweep(vectors: np.ndarray, labels: np.ndarray, photo_ids: np.ndarray, threshold: float, k: int) -> None:
    """BCubed F of each linkage at fractions of the threshold, and the best one (see module docstring)."""
    print(f"\nsweep: F (clusters) at fractions of the threshold {threshold:.4f}")
    print(f"{'linkage':<10}" + "".join(f"{fraction:>13.2f}" for fraction in CLUSTER_CUT_FRACTIONS))
    for linkage in ("complete", "average"):
        cells = []
        for fraction in CLUSTER_CUT_FRACTIONS:
            predicted = cluster_faces(vectors, photo_ids, threshold * fraction, k, linkage=linkage)
            cells.append(f"{bcubed(labels, predicted).f1:.3f} ({len(np.unique(predicted))})")
        print(f"{linkage:<10}" + "".join(f"{cell:>13}" for cell in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=Path, help=".npz with vectors, labels, photo_ids (real faces)")
    parser.add_argument("--threshold", type=float, help="distance threshold (default: calibrated / model card)")
    parser.add_argument("--k", type=int, default=DEFAULT_K)
    parser.add_argument("--sweep", action="store_true", help="with --vectors: each linkage at 0.70-1.10 x threshold")
    parser.add_argument("--persons", type=int, default=1000)
    parser.add_argument("--faces-each", type=int, default=10)
    parser.add_argument("--noise", type=float, default=0.55)
    parser.add_argument("--noise-spread", type=float, default=0.4)
    parser.add_argument("--kinship", type=float, default=0.35)
    parser.add_argument("--family-size", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timing-faces", type=int, default=100_000, help="second synthetic run at this size; 0 skips")
    args = parser.parse_args()

    if args.vectors:
        with np.load(args.vectors) as data:
            vectors = np.asarray(data["vectors"], dtype=np.float32)
            labels, photo_ids = np.asarray(data["labels"]), np.asarray(data["photo_ids"])
        if args.threshold is None:
            from facesim.model_card import threshold as card_threshold

            args.threshold = card_threshold()
        report(str(args.vectors), vectors, labels, photo_ids, args.threshold, args.k)
        if args.sweep:
            sweep(vectors, labels, photo_ids, args.threshold, args.k)
        return

    def gallery(persons: int, faces_each: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        model = (args.noise, args.noise_spread, args.kinship, args.family_size)
        return synthetic_gallery(persons, faces_each, seed, *model)

    print(
        f"synthetic model: noise {args.noise}, noise spread {args.noise_spread}, kinship {args.kinship}, "
        f"family size {args.family_size}, seed {args.seed}"
    )
    threshold = args.threshold
    if threshold is None:
        held_out, held_labels, _ = gallery(args.persons, args.faces_each, args.seed + 1)
        threshold = calibrated_threshold(held_out, held_labels, args.seed + 1)
    vectors, labels, photo_ids = gallery(args.persons, args.faces_each, args.seed)
    report("synthetic", vectors, labels, photo_ids, threshold, args.k)
    if args.timing_faces:
        persons = max(1, args.timing_faces // args.faces_each)
        vectors, labels, photo_ids = gallery(persons, args.faces_each, args.seed + 2)
        report("synthetic at scale", vectors, labels, photo_ids, threshold, args.k)


if __name__ == "__main__":
    main()

"""Every clustering rule `facesim calibrate` compares, on the same validation galleries, for
facesim's vectors and the dlib ResNet's (issue 13), and the winner on LFW DevTest.

For each vector set: each rule of CLUSTER_RULES at its best cut and parameters (the calibration's
own grid and scoring: index/clustering/calibration.py), BCubed precision / recall / F on each source's
validation gallery (every face of its held-out people, one photo each); beside them
scikit-learn's HDBSCAN (a dev dependency: a cross-check of index/clustering/hdbscan.py, over all pairs and
with no cut or cannot-link; noise faces count as persons of their own) on a small grid, and
dlib's Chinese whispers as dlib ships it (no cannot-link) at dlib's documented 0.5 and at its
best cut. Then, with --devtest (the folder benchmarks/devtest_faces.py writes), each rule at the
cut and parameters its vector set's calibration gave it, the chosen one marked, and dlib's
whispers on the DevTest gallery. DevTest is measured, never used to choose: the rules come from
the validation galleries alone.

dlib's vectors are made unit length (clustering assumes it), and their threshold is calibrated on
the validation pairs exactly as facesim's is; facesim's is the model card's.

    python benchmarks/devtest_faces.py --lfw ../shared/data/lfw --out /tmp/devtest
    python benchmarks/cluster_candidates.py --lfw ../shared/data/lfw --celeba ~/.cache/facesim/sources \\
        --devtest /tmp/devtest
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.cluster import HDBSCAN

from facesim.config import CLUSTER_CUT_FRACTIONS, CLUSTER_RULES
from facesim.embedder import default_embedder
from facesim.geometry import unit_rows
from facesim.model_card import threshold
from facesim.training.metrics import best_f1_threshold
from facesim.training.workflow import DataRoots, calibration_distances, pooled, split_pool
from index.clustering.calibration import calibrate_clustering
from index.clustering.cluster import chinese_whispers, cluster_faces
from index.clustering.graph import DEFAULT_K
from index.clustering.metrics import bcubed

# dlib's face-clustering example runs Chinese whispers at 0.5 on its raw (not unit) vectors.
DLIB_WHISPERS_CUT = 0.5
SKLEARN_HDBSCAN_MIN_CLUSTER_SIZES = (2, 3)
SKLEARN_HDBSCAN_MIN_SAMPLES = (1, 2, 3)
SKLEARN_HDBSCAN_EPSILON_FRACTIONS = (0.0, 0.25, 0.5)


def score(labels: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    result = bcubed(labels, predicted)
    return {"precision": result.precision, "recall": result.recall, "f1": result.f1}


def hdbscan_labels(vectors: np.ndarray, min_cluster_size: int, min_samples: int, epsilon: float) -> np.ndarray:
    """scikit-learn's HDBSCAN with every noise face a person of its own, as `clusters` shows them."""
    found = HDBSCAN(
        min_cluster_size=min_cluster_size, min_samples=min_samples, cluster_selection_epsilon=epsilon, copy=True
    ).fit_predict(vectors)
    noise = found < 0
    found[noise] = found.max() + 1 + np.arange(noise.sum())
    return found


def hdbscan_rows(
    galleries: dict[str, np.ndarray], truth: np.ndarray, vectors: np.ndarray, cut: float
) -> list[tuple[str, dict[str, dict[str, float]]]]:
    """(setting, scores per gallery) for each HDBSCAN setting; epsilon as a fraction of the threshold.

    scikit-learn 1.9's epsilon search fails ("only 0-dimensional arrays can be converted to Python
    scalars") when the epsilon reaches a cluster whose parent is the root; such a setting is
    reported as skipped rather than dropped silently."""
    rows = []
    for size in SKLEARN_HDBSCAN_MIN_CLUSTER_SIZES:
        for samples in SKLEARN_HDBSCAN_MIN_SAMPLES:
            for fraction in SKLEARN_HDBSCAN_EPSILON_FRACTIONS:
                name = f"HDBSCAN (sklearn) mcs {size}, ms {samples}, eps {fraction:.2f}T"
                try:
                    scores = {
                        source: score(truth[at], hdbscan_labels(vectors[at], size, samples, cut * fraction))
                        for source, at in galleries.items()
                    }
                except TypeError as error:
                    print(f"- skipped {name}: scikit-learn failed ({error})")
                    continue
                rows.append((name, scores))
    return rows


def whispers_rows(
    galleries: dict[str, np.ndarray], truth: np.ndarray, vectors: np.ndarray, cut: float
) -> list[tuple[str, dict[str, dict[str, float]], float]]:
    """(setting, scores per gallery, cut) for dlib's Chinese whispers at the calibration's cut fractions."""
    rows = []
    for fraction in CLUSTER_CUT_FRACTIONS:
        scores = {
            source: score(truth[at], chinese_whispers(vectors[at], cut * fraction, DEFAULT_K))
            for source, at in galleries.items()
        }
        rows.append((f"dlib whispers, no cannot-link, {fraction:.2f}T ({cut * fraction:.4f})", scores, cut * fraction))
    return rows


def mean_f(scores: dict[str, dict[str, float]]) -> float:
    return float(np.mean([s["f1"] for s in scores.values()]))


def table(title: str, rows: list[tuple[str, dict[str, dict[str, float]]]], sources: list[str]) -> str:
    header = "| candidate | " + " | ".join(f"{s} P | {s} R | {s} F" for s in sources) + " | mean F |"
    lines = [f"\n### {title}\n", header, "|---" * (2 + 3 * len(sources)) + "|"]
    for name, scores in rows:
        cells = " | ".join(
            f"{scores[s]['precision']:.3f} | {scores[s]['recall']:.3f} | {scores[s]['f1']:.3f}" for s in sources
        )
        lines.append(f"| {name} | {cells} | {mean_f(scores):.3f} |")
    return "\n".join(lines)


def rule_name(candidate: dict[str, Any]) -> str:
    params = "".join(f", {key} {value}" for key, value in candidate["params"].items())
    return f"{candidate['linkage']} at {candidate['cut_fraction']:.2f}T ({candidate['cut']:.4f}{params})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, required=True)
    parser.add_argument("--celeba", type=Path, help="CelebA folder (celebA/ and identity_CelebA.txt)")
    parser.add_argument("--devtest", type=Path, help="folder with facesim.npz and dlib.npz from devtest_faces.py")
    args = parser.parse_args()

    _, val, _ = split_pool(DataRoots(args.lfw, args.celeba), None, log=lambda _: None)
    truth = np.array(val.labels)
    sources = list(dict.fromkeys(val.sources))
    galleries = {source: np.flatnonzero(np.array(val.sources) == source) for source in sources}
    dlib = unit_rows(val.teacher)
    dlib_t = best_f1_threshold(*pooled(calibration_distances(val, dlib)))
    # Clustering needs unit vectors; dlib's 0.5 is on its raw ones, so scale it by their mean length.
    whispers_cut = DLIB_WHISPERS_CUT / float(np.linalg.norm(val.teacher, axis=1).mean())
    sets = {"facesim": (default_embedder().embed(np.asarray(val.chips)), threshold()), "dlib": (dlib, dlib_t)}
    print("# Clustering candidates on the validation galleries\n")
    for source, at in galleries.items():
        print(f"- {source}: {len(at)} faces of {len(set(truth[at]))} people")
    best_of, whispers_best = {}, {}
    for model, (vectors, cut) in sets.items():
        rule = calibrate_clustering(val.sources, val.labels, vectors, cut)
        best = [
            max(
                (c for c in rule["candidates"] if c["linkage"] == name),
                key=lambda c: (c["mean_f1"], c["mean_precision"]),
            )
            for name in CLUSTER_RULES
        ]
        best_of[model] = sorted(best, key=lambda c: (-c["mean_f1"], -c["mean_precision"]))  # the chosen rule first
        rows = [(rule_name(c), c["galleries"]) for c in best_of[model]]
        params = rule["params"].get(rule["linkage"], {})
        print(f"\n{model}: threshold {cut:.4f}; calibration chooses {rule['linkage']} at {rule['cut']:.4f} {params}")
        print(table(f"{model} vectors: each rule at its best cut and parameters", rows, sources))
        hdbscan = hdbscan_rows(galleries, truth, vectors, cut)
        whispers = whispers_rows(galleries, truth, vectors, cut)
        best_whispers = max(whispers, key=lambda r: mean_f(r[1]))
        whispers_best[model] = best_whispers[2]
        documented = {
            source: score(truth[at], chinese_whispers(vectors[at], whispers_cut, DEFAULT_K))
            for source, at in galleries.items()
        }
        references = [max(hdbscan, key=lambda r: mean_f(r[1])), best_whispers[:2]]
        if model == "dlib":
            references.append((f"dlib whispers at dlib's documented 0.5 ({whispers_cut:.4f} on unit)", documented))
        print(table(f"{model} vectors: benchmark-only references at their best setting", references, sources))
        print(
            table(
                f"{model} vectors: every candidate",
                [(rule_name(c), c["galleries"]) for c in rule["candidates"]],
                sources,
            )
        )
        extra = hdbscan + [row[:2] for row in whispers]
        print(table(f"{model} vectors: every reference setting", extra, sources))

    if args.devtest:
        print("\n## LFW DevTest gallery (measured, never used to choose)\n")
        print("| vectors | rule | precision | recall | F |")
        print("|---|---|---|---|---|")
        for model in ("facesim", "dlib"):
            with np.load(args.devtest / f"{model}.npz") as data:
                vectors, labels, photos = data["vectors"].astype(np.float32), data["labels"], data["photo_ids"]
            for place, candidate in enumerate(best_of[model]):
                predicted = cluster_faces(
                    vectors, photos, candidate["cut"], linkage=candidate["linkage"], params=candidate["params"]
                )
                s = score(labels, predicted)
                name = rule_name(candidate) + (" **chosen**" if place == 0 else "")
                print(f"| {model} | {name} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} |")
        with np.load(args.devtest / "dlib.npz") as data:
            vectors, labels = data["vectors"].astype(np.float32), data["labels"]
        for name, cut in (("dlib's documented 0.5", whispers_cut), ("its best validation cut", whispers_best["dlib"])):
            s = score(labels, chinese_whispers(vectors, cut, DEFAULT_K))
            cells = f"{s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f}"
            print(f"| dlib | dlib whispers (no cannot-link) at {name}, {cut:.4f} | {cells} |")


if __name__ == "__main__":
    main()

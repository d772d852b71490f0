"""Real labelled faces for the clustering benchmark: every LFW DevTest person with at least two
photos, embedded by facesim's encoder and by the dlib ResNet from the same chips.

Writes two .npz files (vectors, labels, photo_ids) for `cluster_quality.py --vectors`, and prints
the dlib vectors' max-F1 threshold on the validation people, for a like-for-like comparison.

    python benchmarks/devtest_faces.py --lfw ../shared/data/lfw --out /tmp/devtest
    python benchmarks/cluster_quality.py --vectors /tmp/devtest/facesim.npz --timing-faces 0
    python benchmarks/cluster_quality.py --vectors /tmp/devtest/dlib.npz --threshold <printed> --timing-faces 0
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from facesim.embedder import default_embedder
from facesim.geometry import unit_rows
from facesim.teacher import DlibTeacher
from facesim.training.lfw import LfwLayout, Pair
from facesim.training.metrics import best_f1_threshold
from facesim.training.pair_eval import chips_for_pairs
from facesim.training.workflow import DataRoots, calibration_distances, pooled, split_pool


def dlib_unit_threshold(lfw: Path) -> float:
    """Clustering needs unit vectors, so dlib's threshold is re-calibrated on unit vectors of the
    same validation people facesim calibrates on."""
    _, val_data, _ = split_pool(DataRoots(lfw), None)
    return best_f1_threshold(*pooled(calibration_distances(val_data, unit_rows(val_data.teacher))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    layout = LfwLayout(args.lfw)
    photos = []
    for person in sorted(layout.devtest_people()):
        images = sorted((layout.images_dir / person).glob("*.jpg"))
        if len(images) >= 2:
            photos.extend(images)
    chips = chips_for_pairs([Pair(photo, photo, True) for photo in photos])
    stack = [chips.chips[photo] for photo in photos]
    labels = np.array([photo.parent.name for photo in photos])
    photo_ids = np.arange(len(photos))
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez(args.out / "facesim.npz", vectors=default_embedder().embed(stack), labels=labels, photo_ids=photo_ids)
    dlib_vectors = unit_rows(DlibTeacher().embed_chips(stack))
    np.savez(args.out / "dlib.npz", vectors=dlib_vectors, labels=labels, photo_ids=photo_ids)
    print(f"{len(photos)} photos of {len(set(labels))} DevTest people, {len(chips.undetected)} without a detection")
    print(f"dlib unit-vector threshold (max F1 on validation people): {dlib_unit_threshold(args.lfw):.4f}")


if __name__ == "__main__":
    main()

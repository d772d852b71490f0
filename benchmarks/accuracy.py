"""Accuracy: facesim's encoder against the dlib ResNet (face_recognition's model) on LFW DevTest.

Both see the same HOG detections and the same 5-point-aligned chips, and each is judged at a
threshold calibrated on the same held-out validation people, never on DevTest itself. dlib is
also shown at its documented 0.6.

    python benchmarks/accuracy.py --lfw ../shared/data/lfw
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np

from facesim.embedder import default_embedder
from facesim.model_card import threshold
from facesim.teacher import DlibTeacher
from facesim.training.lfw import LfwLayout
from facesim.training.metrics import best_f1_threshold, verification_report
from facesim.training.pair_eval import chips_for_pairs, pair_distances
from facesim.training.workflow import calibration_distances, split_pool

DLIB_DOCUMENTED_THRESHOLD = 0.6


def dlib_validation_threshold(layout: LfwLayout) -> float:
    """The teacher's max-F1 threshold on the same validation pairs facesim calibrates on."""
    _, val_data, _ = split_pool(layout, None)
    distances, same = calibration_distances(val_data.labels, val_data.teacher)
    return best_f1_threshold(distances, same)


def timed_distances(pairs, chips, embed) -> tuple[np.ndarray, np.ndarray, float]:
    started = time.perf_counter()
    distances, same = pair_distances(pairs, chips, embed)
    per_face = (time.perf_counter() - started) / len(chips.chips)
    return distances, same, per_face


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, required=True)
    args = parser.parse_args()
    layout = LfwLayout(args.lfw)
    pairs = layout.devtest_pairs()
    chips = chips_for_pairs(pairs)
    ours_d, same, ours_time = timed_distances(pairs, chips, default_embedder().embed)
    dlib_d, _, dlib_time = timed_distances(pairs, chips, DlibTeacher().embed_chips)
    rows = [
        ("facesim encoder, calibrated threshold", verification_report(ours_d, same, threshold()), ours_time),
        (
            "dlib ResNet, threshold calibrated the same way",
            verification_report(dlib_d, same, dlib_validation_threshold(layout)),
            dlib_time,
        ),
        ("dlib ResNet, documented 0.6", verification_report(dlib_d, same, DLIB_DOCUMENTED_THRESHOLD), dlib_time),
    ]
    print(
        f"LFW View 1 DevTest, {len(pairs)} pairs, {len(chips.chips)} photos, "
        f"{len(chips.undetected)} with no detection by HOG or the CNN detector (central box used for both models)"
    )
    print(f"machine: {platform.processor() or platform.machine()}, {platform.python_version()}, date {date.today()}")
    print("| model | threshold | accuracy | F1 | ROC AUC | TAR@FAR=1e-3 | embed ms/face |")
    print("|---|---|---|---|---|---|---|")
    for name, report, seconds in rows:
        print(
            f"| {name} | {report['threshold']:.3f} | {report['accuracy']:.4f} | {report['f1']:.4f} | "
            f"{report['roc_auc']:.4f} | {report['tar_at_far_1e-3']:.4f} | {seconds * 1000:.1f} |"
        )


if __name__ == "__main__":
    main()

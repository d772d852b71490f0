"""One point of the learning curve: the training checkpoint's validation and train-pair accuracy.

Run it after each epoch (the checkpoint is rewritten every epoch) to see whether the student
overfits or underfits. Each accuracy is at its own pairs' max-F1 threshold, on the seeded
calibration pairs of the held-out validation people, and of 1,500 training faces. Also prints the
mean cosine between the student's vectors and the centred teacher vectors it is distilled towards.

    python benchmarks/learning_curve.py --lfw ../shared/data/lfw
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from facesim.config import INPUT_SIZE, cache_dir
from facesim.embedder import Embedder
from facesim.encoder import FaceEncoder
from facesim.training.chip_cache import ChipSet, pool_cache_dir
from facesim.training.lfw import LfwLayout
from facesim.training.metrics import best_f1_threshold, verification_report
from facesim.training.workflow import calibration_distances, split_pool

TRAIN_FACES = 1500


def point(embedder: Embedder, data: ChipSet, centre: np.ndarray) -> tuple[float, float]:
    """(max-F1 accuracy on the calibration pairs, mean cosine to the centred teacher)."""
    vectors = embedder.embed(np.asarray(data.chips))
    distances, same = calibration_distances(data.labels, vectors)
    accuracy = verification_report(distances, same, best_f1_threshold(distances, same))["accuracy"]
    teacher = data.teacher + data.teacher_flipped - 2 * centre
    teacher /= np.linalg.norm(teacher, axis=1, keepdims=True)
    return round(accuracy, 4), round(float((vectors * teacher).sum(axis=1).mean()), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, default=pool_cache_dir(cache_dir()) / "checkpoint.pt")
    args = parser.parse_args()
    train_data, val_data, _ = split_pool(LfwLayout(args.lfw), None)
    sample = np.sort(np.random.default_rng(0).choice(len(train_data.labels), TRAIN_FACES, replace=False))
    centre = np.concatenate([train_data.teacher, train_data.teacher_flipped]).mean(axis=0)
    saved = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    model = FaceEncoder(input_size=INPUT_SIZE)
    model.load_state_dict(saved["model"])
    embedder = Embedder(model=model.eval())
    val_accuracy, val_cosine = point(embedder, val_data, centre)
    train_accuracy, train_cosine = point(embedder, train_data.subset(sample), centre)
    print(
        json.dumps(
            {
                "epoch": json.loads(saved["state"])["epoch"],
                "val_acc": val_accuracy,
                "val_cos_centred_teacher": val_cosine,
                "train_acc": train_accuracy,
                "train_cos_centred_teacher": train_cosine,
            }
        )
    )


if __name__ == "__main__":
    main()

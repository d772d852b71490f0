"""One point of the learning curve: the training checkpoint's validation and train-pair accuracy.

Run it after each epoch (the checkpoint is rewritten every epoch) to see whether the student
overfits or underfits. Each accuracy is at its own pairs' max-F1 threshold, on the seeded
calibration pairs of the held-out validation people, and of 1,500 training faces. Also prints the
mean cosine between the student's vectors and the centred teacher vectors it is distilled towards,
and the BCubed F of clustering the validation people's faces (issue 5's measure, on people
training never saw).

    python benchmarks/learning_curve.py --lfw ../shared/data/lfw
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from facesim.config import INPUT_SIZE, WEIGHTS_PATH
from facesim.encoder import FaceEncoder
from facesim.training.chipset import UNLABELLED_PREFIX, ChipSet
from facesim.training.metrics import best_f1_threshold, verification_report
from facesim.training.torch_embedder import TorchEmbedder
from facesim.training.workflow import DataRoots, calibration_distances, checkpoint_path, pooled, split_pool
from index.clustering.cluster import cluster_faces
from index.clustering.graph import DEFAULT_K
from index.clustering.metrics import bcubed

TRAIN_FACES = 1500


def point(embedder: TorchEmbedder, data: ChipSet, centre: np.ndarray) -> tuple[float, float, np.ndarray, float]:
    """(max-F1 accuracy on the calibration pairs, mean cosine to the centred teacher, the vectors,
    that max-F1 threshold)."""
    vectors = embedder.embed(np.asarray(data.chips))
    distances, same = pooled(calibration_distances(data, vectors))
    threshold = best_f1_threshold(distances, same)
    accuracy = verification_report(distances, same, threshold)["accuracy"]
    # The embedder averages chip and mirror, so the target is the teacher's average of the two.
    teacher = data.teacher + data.teacher_of_mirrors() - 2 * centre
    teacher /= np.linalg.norm(teacher, axis=1, keepdims=True)
    return round(accuracy, 4), round(float((vectors * teacher).sum(axis=1).mean()), 4), vectors, threshold


def cluster_f(vectors: np.ndarray, labels: list[str], threshold: float) -> float:
    """BCubed F of `facesim clusters`' default linkage over the faces of people with two or more.
    At the validation people's max-F1 threshold, which is what `calibrate` would store, this is
    the clustering quality the checkpoint would ship with."""
    names = np.array(labels)
    _, inverse, counts = np.unique(names, return_inverse=True, return_counts=True)
    repeated = np.flatnonzero(counts[inverse] >= 2)
    clusters = cluster_faces(vectors[repeated], repeated, threshold, DEFAULT_K)  # one photo per face
    return round(bcubed(names[repeated], clusters).f1, 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, required=True)
    parser.add_argument("--celeba", type=Path, help="CelebA folder: validate on its held-out identities too")
    parser.add_argument("--utkface", type=Path, help="UTKFace folder: the centre is taken over the training pool")
    parser.add_argument("--checkpoint", type=Path, default=checkpoint_path(WEIGHTS_PATH))
    args = parser.parse_args()
    train_data, val_data, _ = split_pool(DataRoots(args.lfw, args.celeba, args.utkface), None, log=lambda _: None)
    labelled = np.flatnonzero([not label.startswith(UNLABELLED_PREFIX) for label in train_data.labels])
    sample = np.sort(np.random.default_rng(0).choice(labelled, TRAIN_FACES, replace=False))
    centre = train_data.teacher_centre()
    saved = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    model = FaceEncoder(input_size=INPUT_SIZE)
    model.load_state_dict(saved["model"])
    embedder = TorchEmbedder(model=model.eval())
    val_accuracy, val_cosine, val_vectors, val_threshold = point(embedder, val_data, centre)
    train_accuracy, train_cosine, _, _ = point(embedder, train_data.subset(sample), centre)
    print(
        json.dumps(
            {
                "epoch": json.loads(saved["state"])["epoch"],
                "val_acc": val_accuracy,
                "val_cos_centred_teacher": val_cosine,
                "val_cluster_f": cluster_f(val_vectors, val_data.labels, val_threshold),
                "train_acc": train_accuracy,
                "train_cos_centred_teacher": train_cosine,
            }
        )
    )


if __name__ == "__main__":
    main()

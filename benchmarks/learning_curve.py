"""A training run's learning curve: each kept epoch (train_packed --epoch-weights), or the checkpoint
of a run still going, on the validation people beside the dlib ResNet and the teachers on the same
pairs; and on a sample of the training people's own faces, where a gap to the validation numbers
says the run is short of people rather than of capacity.

Every model is judged at its own threshold calibrated the same way (max F1 on the pooled
validation pairs, or on the pooled training pairs for the training rows): accuracy and TAR at
FAR=1e-3 per source. Model selection happens here, on validation people; DevTest is never read.

    python benchmarks/learning_curve.py --lfw ../shared/data/lfw --celeba ~/.cache/facesim/sources \\
        --sface ~/.cache/facesim/ctu --pack POOL.npz facesim/weights/encoder.pt RUN/epochs/epoch*.pt

A trainer's checkpoint (CK.pt, rewritten every 50 steps) is read too: its weights go into the shape
of the package's encoder, or of `--shape-of W.pt` for a run that trains another shape.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from facesim.config import WEIGHTS_PATH
from facesim.geometry import unit_rows
from facesim.training.chipset import ChipSet
from facesim.training.metrics import best_f1_threshold, verification_report
from facesim.training.pack import read_packs
from facesim.training.targets import side_by_side
from facesim.training.teacher_set import TeacherSet
from facesim.training.torch_embedder import TorchEmbedder, load_encoder
from facesim.training.workflow import DataRoots, calibration_distances, chip_embedder, pooled, split_pool

TRAINING_PEOPLE_SAMPLED = 1200  # people of 2+ faces, about as many as the validation split holds


def cells(faces: ChipSet, vectors: np.ndarray) -> str:
    """'accuracy / TAR' per source at the pooled max-F1 threshold, and that threshold."""
    per_source = calibration_distances(faces, vectors)
    cut = best_f1_threshold(*pooled(per_source))
    reports = {source: verification_report(d, same, cut) for source, (d, same) in per_source.items()}
    shown = " | ".join(f"{r['accuracy']:.4f} / {r['tar_at_far_1e-3']:.3f}" for r in reports.values())
    return f"{cut:.3f} | {shown}"


def embedder_of(weights: Path, shape_of: Path) -> Callable[[np.ndarray], np.ndarray]:
    """Exported or saved weights as the gallery would load them; a trainer's checkpoint (its
    "model" state, with no shape of its own) in the shape of `shape_of`."""
    saved = torch.load(weights, map_location="cpu", weights_only=True) if weights.suffix == ".pt" else {}
    if "model" not in saved:
        return chip_embedder(weights)
    model = load_encoder(shape_of)
    model.load_state_dict({name: value.float() for name, value in saved["model"].items()})
    return TorchEmbedder(model=model.eval()).embed


def training_sample(pack: Path) -> ChipSet:
    """Training people's faces: a seeded sample of people with two or more faces, and a few
    lone faces, so the different-person pairs are drawn as the validation ones are."""
    data, _ = read_packs([pack])
    rng = np.random.default_rng(0)
    labels = np.array(data.labels)
    names, counts = np.unique(labels, return_counts=True)
    chosen = set(rng.choice(names[counts >= 2], TRAINING_PEOPLE_SAMPLED, replace=False))
    return data.subset(np.flatnonzero([label in chosen or rng.random() < 0.05 for label in labels]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path, nargs="+", help="encoders to judge (.pt or .onnx), in order")
    parser.add_argument("--lfw", type=Path, required=True)
    parser.add_argument("--celeba", type=Path)
    parser.add_argument("--sface", type=Path, help="SFace's model folder: adds SFace and both teachers")
    parser.add_argument("--pack", type=Path, help="the run's training pack: adds the training people's rows")
    parser.add_argument("--shape-of", type=Path, default=WEIGHTS_PATH, help="the shape a checkpoint's weights fit")
    args = parser.parse_args()
    teachers = TeacherSet(args.sface) if args.sface else TeacherSet()
    _, val, _ = split_pool(DataRoots(args.lfw, args.celeba), None, log=lambda _: None, teachers=teachers)
    sets = {"validation people": val}
    if args.pack:
        sets["training people"] = training_sample(args.pack)
    sources = " | ".join(f"{source} accuracy / TAR@FAR=1e-3" for source in dict.fromkeys(val.sources))
    print(f"| faces | model | threshold | {sources} |")
    print("|---|---|---|" + "---|" * len(set(val.sources)))
    for name, faces in sets.items():
        print(f"| {name} ({len(faces.labels)}) | dlib ResNet | {cells(faces, faces.teacher)} |")
        if args.sface and faces.has_sface.all():
            print(f"| {name} | SFace | {cells(faces, unit_rows(faces.sface))} |")
            print(f"| {name} | dlib + SFace | {cells(faces, side_by_side(faces.teacher, faces.sface))} |")
        chips = np.asarray(faces.chips)
        for weights in args.weights:
            print(
                f"| {name} | {weights.name} | {cells(faces, embedder_of(weights, args.shape_of)(chips))} |", flush=True
            )


if __name__ == "__main__":
    main()

"""Trains the encoder from a training pack (`facesim train --pack-to`), on any machine with
torch: the GPU box the wider encoders were trained on has no dlib, no faiss and no photos.

    python -m facesim.training.train_packed POOL.npz --weights OUT.pt --device cuda --epochs 40

(or every shard of one pack, POOL-1of3.npz POOL-2of3.npz POOL-3of3.npz, in place of POOL.npz).

It writes OUT.pt and, beside it, OUT.json: the training part of the model card, with this very
command and the data summary the pack carries. `facesim calibrate` completes the card.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from facesim.errors import FacesimError
from facesim.model_card import typed_command, write_card
from facesim.training.pack import read_packs
from facesim.training.targets import TARGETS, uses_sface
from facesim.training.trainer import TrainSettings, train
from facesim.training.training_card import training_card


def _arguments(argv: list[str]) -> argparse.Namespace:
    defaults = TrainSettings()
    parser = argparse.ArgumentParser(prog="python -m facesim.training.train_packed", description=__doc__)
    parser.add_argument("pack", type=Path, nargs="+", help="a pack, or every shard of one")
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--anchors-per-batch", type=int, default=defaults.anchors_per_batch)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--contrastive-weight", type=float, default=defaults.contrastive_weight)
    shape_help = 'FaceEncoder shape from scratch, e.g. {"stem_width": 32, "widths": [64, 128, 256]}'
    parser.add_argument("--encoder", type=json.loads, default=None, help=shape_help)
    parser.add_argument("--target", choices=TARGETS, default=defaults.target, help="what the student distils")
    parser.add_argument(
        "--sface-weight", type=float, default=defaults.sface_weight, help="SFace's share of the concat target"
    )
    parser.add_argument("--init-from", type=Path, help="weights (.pt) to fine-tune instead of random ones")
    parser.add_argument(
        "--checkpoint",
        type=Path,
        help="keep the checkpoint here and resume from it (a CPU run spans sessions); default: none kept",
    )
    parser.add_argument("--epoch-weights", type=Path, help="keep each epoch's weights in this folder (epochNN.pt)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    args = _arguments(argv)
    data, summary = read_packs(args.pack)
    if uses_sface(args.target) and not data.has_sface.any():
        raise FacesimError(f"{args.pack[0]}: no SFace vectors in this pack, which the {args.target} target needs")
    settings = TrainSettings(
        epochs=args.epochs,
        max_steps=args.max_steps,
        anchors_per_batch=args.anchors_per_batch,
        learning_rate=args.learning_rate,
        contrastive_weight=args.contrastive_weight,
        encoder=args.encoder,
        target=args.target,
        sface_weight=args.sface_weight,
        init_from=None if args.init_from is None else str(args.init_from),
    )
    start = None
    if args.init_from is not None:
        from facesim.training.torch_embedder import load_encoder

        start = load_encoder(args.init_from)
    with tempfile.TemporaryDirectory() as scratch:
        # A CPU run spans sessions through the checkpoint it keeps; a short GPU run starts fresh.
        checkpoint = args.checkpoint or Path(scratch) / "checkpoint.pt"
        resume = args.checkpoint is not None
        result = train(
            data,
            settings,
            checkpoint,
            args.weights,
            resume=resume,
            start=start,
            device=args.device,
            epoch_weights=args.epoch_weights,
        )
    command = typed_command(["python", "-m", "facesim.training.train_packed", *argv])
    card = training_card(args.weights, summary, settings, result, command)
    write_card(card, args.weights.with_suffix(".json"))
    return card


if __name__ == "__main__":
    try:
        main()
    except FacesimError as exc:  # a wrong pack path or file: one line, as every facesim command
        sys.exit(f"error: {exc}")

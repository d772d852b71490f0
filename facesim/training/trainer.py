"""The training loop: time-boxed, checkpointed every epoch, resumable, seeded."""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facesim.config import INPUT_SIZE
from facesim.encoder import FaceEncoder
from facesim.training.augment import augment
from facesim.training.chipset import ChipSet
from facesim.training.losses import contrastive_loss, distillation_loss
from facesim.training.targets import teacher_targets, trainable_rows
from facesim.training.torch_embedder import prepare_batch, save_encoder

# An epoch over the full pool takes several minutes on a laptop CPU; a run killed mid-epoch
# loses at most this many steps.
CHECKPOINT_EVERY_STEPS = 50


@dataclass
class TrainSettings:
    epochs: int = 40
    anchors_per_batch: int = 64
    learning_rate: float = 2e-3
    weight_decay: float = 5e-4
    margin: float = 0.6
    contrastive_weight: float = 0.5
    distill_weight: float = 1.0
    center_teacher: bool = True
    seed: int = 0
    max_steps: int | None = None  # for smoke runs
    init_from: str | None = None  # a weights file to fine-tune instead of starting from random weights
    encoder: dict[str, Any] | None = None  # FaceEncoder's shape (widths, blocks...) from scratch; None: its defaults
    target: str = "dlib"  # what the student distils: one of targets.TARGETS
    sface_weight: float = 0.5  # SFace's share of the concat target's similarity (targets.py)


def _batches(labels: list[str], settings: TrainSettings, rng: random.Random) -> list[list[int]]:
    """Each anchor brings one more photo of the same person when there is one, so every batch
    holds positive pairs for the contrastive term."""
    by_person: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_person.setdefault(label, []).append(i)
    order = list(range(len(labels)))
    rng.shuffle(order)
    batches = []
    for start in range(0, len(order), settings.anchors_per_batch):
        batch = []
        for anchor in order[start : start + settings.anchors_per_batch]:
            batch.append(anchor)
            others = [i for i in by_person[labels[anchor]] if i != anchor]
            if others:
                batch.append(rng.choice(others))
        batches.append(batch)
    return batches


def _save(
    checkpoint: Path,
    model: FaceEncoder,
    head: torch.nn.Module | None,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    state: dict,
) -> None:
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    tmp = checkpoint.with_suffix(".tmp")
    saved = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "generator": generator.get_state(),
        "state": json.dumps(state),
    }
    if head is not None:
        saved["head"] = head.state_dict()
    torch.save(saved, tmp)
    tmp.replace(checkpoint)


def projection_head(student_dim: int, target_dim: int) -> torch.nn.Module | None:
    """A linear map from the student's vector onto a longer target, for training only: it is
    never saved with the weights, so the shipped encoder's output stays student_dim long."""
    return None if target_dim == student_dim else torch.nn.Linear(student_dim, target_dim, bias=False)


def train(
    data: ChipSet,
    settings: TrainSettings,
    checkpoint: Path,
    weights_out: Path,
    resume: bool = True,
    log: Callable[[str], None] = print,
    start: FaceEncoder | None = None,
    device: str = "cpu",
    epoch_weights: Path | None = None,
) -> dict:
    """start: the encoder `settings.init_from` names, loaded by the caller before the (slow) chip
    pool, so a wrong path fails at once; None trains from random weights. device: where the
    arithmetic runs; random draws stay on a CPU generator, so a seed means the same run anywhere.
    epoch_weights: a folder that keeps the weights of every epoch's end (epochNN.pt), so a
    learning curve on validation people (benchmarks/learning_curve.py) can choose among them."""
    keep = trainable_rows(data, settings.target)
    if len(keep) < len(data.labels):
        log(f"{len(data.labels) - len(keep)} of {len(data.labels)} faces have no SFace vector: left out of training")
        data = data.subset(keep)
    torch.manual_seed(settings.seed)
    # Adam's second moments sink into denormal floats, which made each step 50x slower on CPU.
    torch.set_flush_denormal(True)
    generator = torch.Generator().manual_seed(settings.seed)
    model = start if start is not None else FaceEncoder(**{"input_size": INPUT_SIZE, **(settings.encoder or {})})
    model = model.float().to(device, memory_format=torch.channels_last)
    own_targets, mirror_targets = teacher_targets(
        data, settings.target, settings.sface_weight, centre=settings.center_teacher
    )
    head = projection_head(model.config["embedding_dim"], own_targets.shape[1])
    parameters = list(model.parameters())
    if head is not None:
        head = head.to(device)
        parameters += list(head.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    label_ids = {name: i for i, name in enumerate(sorted(set(data.labels)))}
    labels = torch.tensor([label_ids[name] for name in data.labels], device=device)
    steps_per_epoch = math.ceil(len(data.labels) / settings.anchors_per_batch)
    total_steps = settings.max_steps or settings.epochs * steps_per_epoch
    warmup = min(500, total_steps // 10 + 1)

    def lr_at(step: int) -> float:
        if step < warmup:
            return settings.learning_rate * (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return settings.learning_rate * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    state = {"epoch": 0, "step": 0, "epoch_start_step": 0, "seconds": 0.0, "history": [], "partial": {}}
    if resume and checkpoint.is_file():
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(saved["model"])
        if head is not None:
            head.load_state_dict(saved["head"])
        optimizer.load_state_dict(saved["optimizer"])
        generator.set_state(saved["generator"])
        state = json.loads(saved["state"])
        log(f"resumed from {checkpoint} at epoch {state['epoch']}, step {state['step']}")

    chips = torch.from_numpy(np.ascontiguousarray(data.chips)).to(device)
    flippable = torch.from_numpy(data.flippable).to(device)
    # center_teacher: the dlib vectors share a large common direction (same/different people sit
    # only 0.30 vs 0.57 apart); matching it is free cosine, so it is removed and the student
    # distils what tells people apart (teacher_targets removes each teacher's own).
    teacher = torch.from_numpy(own_targets).to(device)
    teacher_flipped = torch.from_numpy(mirror_targets).to(device)
    step = state["step"]
    while step < total_steps:
        epoch = state["epoch"]
        started = time.time()
        model.train()
        rng = random.Random(settings.seed * 1000 + epoch)
        totals = {"loss": 0.0, "distill": 0.0, "contrastive": 0.0, **state["partial"]}
        batches = _batches(data.labels, settings, rng)
        # A resumed epoch skips the batches its checkpoint already covered (the order is seeded).
        for batch in batches[step - state["epoch_start_step"] :]:
            if step >= total_steps:
                break
            index = torch.tensor(batch, device=device)
            flip = (torch.rand(len(batch), generator=generator) < 0.5).to(device) & flippable[index]
            images = prepare_batch(chips[index], input_size=chips.shape[1])
            images = torch.where(flip[:, None, None, None], images.flip(3), images)
            targets = torch.where(flip[:, None], teacher_flipped[index], teacher[index])
            inputs = augment(images, generator, INPUT_SIZE).contiguous(memory_format=torch.channels_last)
            vectors = model(inputs)
            distill = distillation_loss(vectors, targets, head)
            contrast = contrastive_loss(vectors, labels[index], settings.margin)
            loss = settings.distill_weight * distill + settings.contrastive_weight * contrast
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            totals["loss"] += loss.item()
            totals["distill"] += distill.item()
            totals["contrastive"] += contrast.item()
            if (step - state["epoch_start_step"]) % CHECKPOINT_EVERY_STEPS == 0 and step < total_steps:
                seconds = state["seconds"] + time.time() - started
                _save(
                    checkpoint,
                    model,
                    head,
                    optimizer,
                    generator,
                    {**state, "step": step, "seconds": seconds, "partial": totals},
                )
        done = max(1, step - state["epoch_start_step"])
        record = {k: round(v / done, 5) for k, v in totals.items()}
        record.update(epoch=epoch + 1, step=step, seconds=round(time.time() - started, 1), lr=round(lr_at(step - 1), 6))
        state["history"].append(record)
        state.update(
            epoch=epoch + 1, step=step, epoch_start_step=step, seconds=state["seconds"] + record["seconds"], partial={}
        )
        log(json.dumps(record))
        if epoch_weights is not None:
            save_encoder(model, epoch_weights / f"epoch{epoch + 1:02d}.pt")
        _save(checkpoint, model, head, optimizer, generator, state)
    model.eval()
    save_encoder(model.cpu(), weights_out)
    return {
        "settings": asdict(settings),
        "steps": step,
        "train_seconds": round(state["seconds"], 1),
        "history": state["history"],
    }

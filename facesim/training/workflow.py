"""The three reproducible steps behind `facesim train`, `calibrate` and `evaluate`, each of which
records what it did in the model card, so the card always describes the shipped weights."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from facesim.config import CHIP_PADDING, CHIP_SIZE, INPUT_SIZE, MODEL_CARD_PATH, WEIGHTS_PATH, cache_dir
from facesim.embedder import Embedder, load_encoder
from facesim.encoder import ARCHITECTURE
from facesim.model_card import read_card, write_card
from facesim.training.chip_cache import ChipSet, build_pool_cache, load_pool_cache, pool_cache_dir
from facesim.training.lfw import DEVTEST_PAIRS, SPLIT_SEED, VALIDATION_FRACTION, LfwLayout, sample_pairs, split_people
from facesim.training.metrics import best_f1_threshold, verification_report
from facesim.training.pair_eval import chips_for_pairs, pair_distances, read_pairs_csv
from facesim.training.trainer import TrainSettings, train

CALIBRATION_PAIRS_EACH = 1000
CALIBRATION_SEED = 1


def _card_or_empty(path: Path) -> dict[str, Any]:
    return read_card(path) if path.is_file() else {}


def split_pool(layout: LfwLayout, cache: Path | None) -> tuple[ChipSet, ChipSet, dict[str, Any]]:
    """Training and validation chips, split by person; DevTest people are refused upstream."""
    cache = cache or pool_cache_dir(cache_dir())
    if not (cache / "meta.json").is_file():
        build_pool_cache(layout, cache)
    data = load_pool_cache(cache, layout)
    train_people, val_people = split_people(sorted(set(data.labels)))
    val_set = set(val_people)
    in_val = np.array([label in val_set for label in data.labels])
    train_data, val_data = data.subset(np.flatnonzero(~in_val)), data.subset(np.flatnonzero(in_val))
    summary = {
        "source": "LFW (all 13,233 images, 5,749 people), faces found by dlib HOG and aligned by 5 landmarks",
        "excluded": f"every person in {DEVTEST_PAIRS} ({len(layout.devtest_people())} people), images and all",
        "split": f"remaining people split by person, seed {SPLIT_SEED}, "
        f"{VALIDATION_FRACTION:.0%} held out for calibration",
        "train_people": len(set(train_data.labels)),
        "train_faces": len(train_data.labels),
        "validation_people": len(set(val_data.labels)),
        "validation_faces": len(val_data.labels),
        "teacher": "dlib ResNet (face_recognition_models) vectors of each training chip and its mirror image",
    }
    return train_data, val_data, summary


def _model_id(weights: Path) -> str:
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
    return f"{ARCHITECTURE}-{digest}"


def checkpoint_path(weights: Path, cache: Path | None = None) -> Path:
    """One checkpoint per weights target, so two training runs (say a fine-tune beside a control)
    never resume from each other's state."""
    return (cache or pool_cache_dir(cache_dir())) / f"checkpoint-{weights.stem}.pt"


def train_encoder(
    lfw_root: Path,
    settings: TrainSettings,
    command: str,
    weights: Path = WEIGHTS_PATH,
    card_path: Path = MODEL_CARD_PATH,
    cache: Path | None = None,
    resume: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    start = load_encoder(Path(settings.init_from)) if settings.init_from else None
    layout = LfwLayout(lfw_root)
    train_data, _, summary = split_pool(layout, cache)
    checkpoint = checkpoint_path(weights, cache)
    result = train(train_data, settings, checkpoint, weights, resume=resume, log=log, start=start)
    model = Embedder(weights).model
    card = {
        "model_id": _model_id(weights),
        "architecture": {
            "name": ARCHITECTURE,
            "description": "residual CNN (PReLU, batch norm), flattening head, 128-d unit-length output",
            "parameters": sum(p.numel() for p in model.parameters()),
            **model.config,
        },
        "input": {
            "alignment": "dlib 5-point landmarks, dlib.get_face_chip",
            "chip_size": CHIP_SIZE,
            "chip_padding": CHIP_PADDING,
            "input_size": INPUT_SIZE,
            "test_time": "vector of the chip plus its mirror image, renormalised",
        },
        "distance": "Euclidean distance between unit vectors; same person when below the threshold",
        "training": {
            **summary,
            "objective": objective(settings),
            "command": command,
            "seconds": result["train_seconds"],
            "settings": result["settings"],
            "history": result["history"],
            **lineage(settings),
        },
    }
    write_card(card, card_path)
    return card


def objective(settings: TrainSettings) -> str:
    """Worded from the settings, so a fine-tune's card describes the loss its weights last saw."""
    distillation = (
        "distillation (cosine and pairwise-distance matching) from the dlib ResNet teacher, its vectors "
        "centred on the training faces' mean first"
    )
    if settings.contrastive_weight == 0:
        return f"{distillation}, alone"
    return f"contrastive loss on in-batch pairs with hard-negative mining + {distillation}"


def lineage(settings: TrainSettings) -> dict[str, Any]:
    """A fine-tune is only reproducible with the run it started from, so its card carries that
    run's training record (from the starting weights' own card) under `initialised_from`."""
    if not settings.init_from:
        return {}
    start = Path(settings.init_from)
    card = _card_or_empty(start.with_suffix(".json"))
    return {"initialised_from": {"weights": str(start), "model_id": card.get("model_id"), **card.get("training", {})}}


def calibration_distances(labels: list[str], vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distances of the fixed, seeded calibration pairs, so every model (ours, or the dlib
    baseline in benchmarks) is calibrated on exactly the same validation pairs."""
    pairs = sample_pairs(labels, CALIBRATION_PAIRS_EACH, CALIBRATION_SEED)
    a = vectors[[i for i, _, _ in pairs]]
    b = vectors[[j for _, j, _ in pairs]]
    return np.linalg.norm(a - b, axis=1), np.array([same for _, _, same in pairs])


def calibrate_encoder(
    lfw_root: Path,
    command: str,
    weights: Path = WEIGHTS_PATH,
    card_path: Path = MODEL_CARD_PATH,
    cache: Path | None = None,
) -> dict[str, Any]:
    """Chooses the max-F1 threshold on pairs of held-out people that training never saw."""
    layout = LfwLayout(lfw_root)
    _, val_data, _ = split_pool(layout, cache)
    embedder = Embedder(weights)
    distances, same = calibration_distances(val_data.labels, embedder.embed(np.asarray(val_data.chips)))
    threshold = best_f1_threshold(distances, same)
    card = _card_or_empty(card_path)
    card["threshold"] = round(threshold, 4)
    card["calibration"] = {
        "method": "threshold maximising F1 on balanced same/different pairs of validation people",
        "pairs": len(distances),
        "seed": CALIBRATION_SEED,
        "command": command,
        "at_threshold": verification_report(distances, same, threshold),
    }
    write_card(card, card_path)
    return card


def evaluate_pairs(
    pairs_source: Path | None, lfw_root: Path | None, threshold: float, weights: Path = WEIGHTS_PATH
) -> dict[str, Any]:
    """Accuracy at the shipped threshold on LFW DevTest (default) or a CSV of pairs."""
    if pairs_source is not None:
        pairs = read_pairs_csv(pairs_source)
        name = str(pairs_source)
    elif lfw_root is not None:
        pairs = LfwLayout(lfw_root).devtest_pairs()
        name = "LFW View 1 DevTest"
    else:
        raise ValueError("need a pairs CSV or an LFW root")
    started = time.time()
    chips = chips_for_pairs(pairs)
    embedder = Embedder(weights)
    distances, same = pair_distances(pairs, chips, embedder.embed)
    report = verification_report(distances, same, threshold)
    report.update(pairs=name, undetected_photos=len(chips.undetected), seconds=round(time.time() - started, 1))
    return report


def record_evaluation(key: str, report: dict[str, Any], command: str, card_path: Path = MODEL_CARD_PATH) -> None:
    card = _card_or_empty(card_path)
    card.setdefault("evaluation", {})[key] = {**report, "command": command}
    write_card(card, card_path)

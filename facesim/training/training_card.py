"""The model card's record of a training run, written by whichever machine trained: `facesim
train` here, or `python -m facesim.training.train_packed` on a GPU box that has no dlib.

The card must describe the weights it sits beside, so everything in it is read from the run:
the settings, the loss history, the data summary carried with the chips.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from facesim.config import (
    CHIP_PADDING,
    CHIP_SIZE,
    INPUT_SIZE,
    YUNET_BOX_SCALE,
    YUNET_SCORE_THRESHOLD,
    YUNET_SHA256,
)
from facesim.encoder import ARCHITECTURE
from facesim.model_card import card_or_empty
from facesim.model_files import file_sha256
from facesim.training.torch_embedder import load_encoder
from facesim.training.trainer import TrainSettings


def model_id_of(weights: Path) -> str:
    """Names weights by their bytes, as the card knows them."""
    digest = file_sha256(weights)[:12]
    return f"{ARCHITECTURE}-{digest}"


def training_card(
    weights: Path, summary: dict[str, Any], settings: TrainSettings, result: dict[str, Any], command: str
) -> dict[str, Any]:
    """summary: the data description of `workflow.split_pool` (counted from the chips used)."""
    model = load_encoder(weights)
    return {
        "model_id": model_id_of(weights),
        "architecture": {
            "name": ARCHITECTURE,
            "description": "residual CNN (PReLU, batch norm), flattening head, 128-d unit-length output",
            "parameters": sum(p.numel() for p in model.parameters()),
            **model.config,
        },
        "input": {
            "detection": DETECTION,
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


# How the gallery finds the faces it embeds; the training chips came from the sources' own
# detection (facesim/training/sources.py), which the card's training.split records.
DETECTION = (
    f"YuNet (OpenCV Zoo, MIT licence, sha256 {YUNET_SHA256}), score >= {YUNET_SCORE_THRESHOLD}, its box "
    f"drawn as dlib's (same centre, {YUNET_BOX_SCALE}x its width) for dlib's 5-point model; dlib HOG, CNN "
    "and thorough on request"
)


def objective(settings: TrainSettings) -> str:
    """Worded from the settings, so a fine-tune's card describes the loss its weights last saw."""
    distillation = f"distillation (cosine and pairwise-distance matching) from {_target_words(settings)}"
    if settings.contrastive_weight == 0:
        return f"{distillation}, alone"
    return f"contrastive loss on in-batch pairs with hard-negative mining + {distillation}"


def _target_words(settings: TrainSettings) -> str:
    centred = " centred on the training faces' mean first" if settings.center_teacher else ""
    if settings.target == "dlib":
        return f"the dlib ResNet teacher, its vectors{centred}"
    if settings.target == "sface":
        return f"the SFace teacher (on its own crop of each face), its vectors{centred}"
    return (
        f"both teachers: the dlib ResNet's and SFace's vectors, each{centred}, at unit length side by side "
        f"(SFace's share of the similarity {settings.sface_weight:g}); a linear head, used in training only, "
        "maps the student's 128-d vector onto the 256-d target for the cosine term, and the distance term "
        "compares the student's own vectors"
    )


def lineage(settings: TrainSettings) -> dict[str, Any]:
    """A fine-tune is only reproducible with the run it started from, so its card carries that
    run's training record (from the starting weights' own card) under `initialised_from`."""
    if not settings.init_from:
        return {}
    start = Path(settings.init_from)
    card = card_or_empty(start.with_suffix(".json"))
    return {"initialised_from": {"weights": str(start), "model_id": card.get("model_id"), **card.get("training", {})}}

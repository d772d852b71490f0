"""The three reproducible steps behind `facesim train`, `calibrate` and `evaluate`, each of which
records what it did in the model card, so the card always describes the shipped weights."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from facesim.config import INPUT_SIZE, MODEL_CARD_PATH, ONNX_PATH, WEIGHTS_PATH, cache_dir
from facesim.detection import detection_key
from facesim.embedder import Embedder
from facesim.errors import FacesimError
from facesim.model_card import card_or_empty, write_card
from facesim.model_files import file_sha256
from facesim.pairs_csv import read_pairs_csv
from facesim.training.chip_cache import CACHE_VERSION, build_source_cache, load_source_cache, source_cache_dir
from facesim.training.chipset import ChipSet
from facesim.training.lfw import DEVTEST_PAIRS, SPLIT_SEED, VALIDATION_FRACTION, LfwLayout, sample_pairs
from facesim.training.metrics import best_f1_threshold, stranger_hits, verification_report
from facesim.training.pack import PACK_QUALITY, write_pack
from facesim.training.pair_eval import chips_for_pairs, pair_distances
from facesim.training.sources import (
    CELEBA_VALIDATION_FRACTION,
    FaceSource,
    celeba_source,
    lfw_source,
    reserved_celeba_identities,
    utkface_source,
    validation_people,
)
from facesim.training.targets import uses_sface
from facesim.training.teacher_set import DLIB_ALONE, TeacherSet
from facesim.training.torch_extra import require_torch
from facesim.training.validation_faces import cached_vectors, validation_chips
from facesim.training.views import VIEW_KINDS

if TYPE_CHECKING:
    from facesim.training.trainer import TrainSettings

CALIBRATION_PAIRS_EACH = 1000
CALIBRATION_SEED = 1
# Different-person pairs to each same-person pair in a gallery search, for the alternative rule.
GALLERY_PREVALENCE = 100.0


@dataclass(frozen=True)
class DataRoots:
    """Where each training source lies; LFW is required, the others widen the pool."""

    lfw: Path
    celeba: Path | None = None
    utkface: Path | None = None


def face_sources(roots: DataRoots) -> list[FaceSource]:
    sources = [lfw_source(roots.lfw)]
    if roots.celeba is not None:
        sources.append(celeba_source(roots.celeba))
    if roots.utkface is not None:
        sources.append(utkface_source(roots.utkface))
    return sources


def load_pool(
    sources: list[FaceSource],
    cache: Path | None,
    log: Callable[[str], None] = print,
    teachers: TeacherSet = DLIB_ALONE,
    workers: int = 2,
) -> dict[str, ChipSet]:
    """Each source's chips, built where missing on `workers` processes; every source's own
    refusal rule (DevTest people, reserved identities) is checked again on what the cache holds,
    not only on what it was asked."""
    base = cache or cache_dir()
    pools = {}
    for source in sources:
        folder = source_cache_dir(base, source.name)
        build_source_cache(source, folder, workers=workers, log=log, teachers=teachers)
        data = load_source_cache(folder, source.name)
        source.refuse(set(data.labels))
        pools[source.name] = data
    return pools


def split_pool(
    roots: DataRoots,
    cache: Path | None,
    log: Callable[[str], None] = print,
    teachers: TeacherSet = DLIB_ALONE,
    workers: int = 2,
) -> tuple[ChipSet, ChipSet, dict[str, Any]]:
    """Training and validation chips, split by person within each labelled source (by the frozen
    lists where a source has one); unlabelled sources only train. Augmented views of validation
    people are dropped: validation is measured on the photos themselves, and training never sees
    those people. The summary is counted from the chips actually used."""
    sources = face_sources(roots)
    pools = load_pool(sources, cache, log, teachers, workers)
    train_parts, val_parts, summary = [], [], {}
    for source in sources:
        data = pools[source.name]
        labelled = source.validation_fraction is not None
        in_val = np.zeros(len(data.labels), dtype=bool)
        if labelled:
            val_set = validation_people(source, set(data.labels))
            in_val = np.array([label in val_set for label in data.labels], dtype=bool)
        views = data.views
        train, val = data.subset(np.flatnonzero(~in_val)), data.subset(np.flatnonzero(in_val & ~views))
        train_parts.append(train)
        val_parts.append(val)
        summary[source.name] = {
            "terms": source.terms,
            "images_offered": len(source.jobs),
            "faces_found": int((~views).sum()),
            "train_faces": int((~in_val & ~views).sum()),
            "train_people": len(set(train.labels)) if labelled else None,
            "validation_faces": len(val.labels),
            "validation_people": len(set(val.labels)),
        }
        if teachers.views:
            summary[source.name]["train_views"] = int((~in_val & views).sum())
    return ChipSet.concatenate(train_parts), ChipSet.concatenate(val_parts), _pool_summary(summary, roots, teachers)


def _pool_summary(per_source: dict[str, dict[str, Any]], roots: DataRoots, teachers: TeacherSet) -> dict[str, Any]:
    layout = LfwLayout(roots.lfw)
    views = {"views": _views_summary(teachers.views)} if teachers.views else {}
    return {
        "sources": per_source,
        "excluded": [
            f"every person in LFW's {DEVTEST_PAIRS} ({len(layout.devtest_people())} people), images and all",
            f"the {len(reserved_celeba_identities())} reserved CelebA identities, before any image is read",
        ],
        "split": f"each labelled source's people split by person, seed {SPLIT_SEED}; held-out shares: "
        f"LFW {VALIDATION_FRACTION:.0%}, CelebA {CELEBA_VALIDATION_FRACTION:.0%}",
        "faces": f"found as `facesim index` finds them (detection: {detection_key()}) and aligned by dlib's 5 "
        "landmarks; UTKFace crops padded by edge pixels first",
        "teacher": "dlib ResNet (face_recognition_models) vectors of each chip: LFW chips and their mirror images, "
        "CelebA and UTKFace chips in one orientation each (half stored mirrored)"
        + (
            "; SFace vectors of its own crop of the same faces, in the same orientations" if teachers.with_sface else ""
        ),
        "teachers": teachers.card_records(),
        **views,
    }


def _views_summary(per_photo: int) -> dict[str, Any]:
    return {
        "per_photo": per_photo,
        "kinds": list(VIEW_KINDS),
        "how": "each photo damaged before either crop is cut, one kind a view, its face found again on the damaged "
        "photo (its landmarks moved with the pixels where detection loses it), labelled by the teachers like any "
        "photo, in one orientation (half stored mirrored); training people only",
    }


def checkpoint_path(weights: Path, cache: Path | None = None) -> Path:
    """One checkpoint per weights target, so two training runs (say a fine-tune beside a control)
    never resume from each other's state."""
    return (cache or cache_dir()) / CACHE_VERSION / f"checkpoint-{weights.stem}.pt"


def train_encoder(
    roots: DataRoots,
    settings: TrainSettings,
    command: str,
    weights: Path = WEIGHTS_PATH,
    card_path: Path = MODEL_CARD_PATH,
    cache: Path | None = None,
    resume: bool = True,
    log: Callable[[str], None] = print,
    teachers: TeacherSet = DLIB_ALONE,
) -> dict[str, Any]:
    """teachers: who labels the chips; settings.target must only ask for teachers it holds."""
    require_torch()
    from facesim.training.torch_embedder import load_encoder
    from facesim.training.trainer import train
    from facesim.training.training_card import training_card

    _check_target(settings.target, teachers)
    start = load_encoder(Path(settings.init_from)) if settings.init_from else None
    train_data, _, summary = split_pool(roots, cache, log, teachers)
    checkpoint = checkpoint_path(weights, cache)
    result = train(train_data, settings, checkpoint, weights, resume=resume, log=log, start=start)
    card = training_card(weights, summary, settings, result, command)
    write_card(card, card_path)
    return card


def _check_target(target: str, teachers: TeacherSet) -> None:
    """Refused before the (slow) cache build, not after it."""
    if uses_sface(target) and not teachers.with_sface:
        raise FacesimError(f"the {target} target needs the SFace teacher: give the folder holding its model file")


def pack_training_pool(
    roots: DataRoots,
    cache: Path | None,
    path: Path,
    command: str,
    log: Callable[[str], None] = print,
    teachers: TeacherSet = DLIB_ALONE,
) -> int:
    """The training chips of `split_pool` in one file for another machine (`python -m
    facesim.training.train_packed`). Returns the file's size."""
    return write_pack(*training_pool_to_pack(roots, cache, command, log, teachers), path)


def training_pool_to_pack(
    roots: DataRoots,
    cache: Path | None,
    command: str,
    log: Callable[[str], None] = print,
    teachers: TeacherSet = DLIB_ALONE,
    workers: int = 2,
) -> tuple[ChipSet, dict[str, Any]]:
    """The training chips of `split_pool`, with its data summary and the command that packed
    them: the card of weights trained elsewhere must say how their data was made."""
    train_data, _, summary = split_pool(roots, cache, log, teachers, workers)
    packing = {"command": command, "chip_size": INPUT_SIZE, "webp_quality": PACK_QUALITY}
    return train_data, {**summary, "pack": packing}


def calibration_distances(val: ChipSet, vectors: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each labelled source's fixed, seeded validation pairs, so every model (ours, or the dlib
    baseline in benchmarks) is calibrated on exactly the same pairs, and each source's own
    numbers can be shown beside the pooled ones."""
    sources = np.array(val.sources)
    per_source = {}
    for name in dict.fromkeys(val.sources):
        rows = np.flatnonzero(sources == name)
        pairs = sample_pairs([val.labels[i] for i in rows], CALIBRATION_PAIRS_EACH, CALIBRATION_SEED)
        a = vectors[rows[[i for i, _, _ in pairs]]]
        b = vectors[rows[[j for _, j, _ in pairs]]]
        per_source[name] = (np.linalg.norm(a - b, axis=1), np.array([same for _, _, same in pairs]))
    return per_source


def pooled(per_source: dict[str, tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.concatenate([d for d, _ in per_source.values()]),
        np.concatenate([same for _, same in per_source.values()]),
    )


def transfer_report(per_source: dict[str, tuple[np.ndarray, np.ndarray]], threshold: float) -> dict[str, Any]:
    """Each source at the one shared threshold beside its own best one: the gap is what a user
    whose photos look like that source loses by using a single threshold."""
    report = {}
    for name, (distances, same) in per_source.items():
        own = best_f1_threshold(distances, same)
        report[name] = {
            "at_shared_threshold": verification_report(distances, same, threshold),
            "own_best_threshold": round(own, 4),
            "at_own_threshold": verification_report(distances, same, own),
        }
    return report


def chip_embedder(weights: Path = ONNX_PATH) -> Callable[[np.ndarray], np.ndarray]:
    """What embeds chips for a weights file: an exported .onnx graph runs as the gallery runs it;
    a .pt file (a candidate not exported yet) needs torch, the train extra."""
    if Path(weights).suffix == ".pt":
        require_torch()
        from facesim.training.torch_embedder import TorchEmbedder

        return TorchEmbedder(weights).embed
    return Embedder(weights).embed


def validation_vectors(
    roots: DataRoots, weights: Path = ONNX_PATH, cache: Path | None = None
) -> tuple[ChipSet, np.ndarray]:
    """The held-out people's chips of every labelled source, and the encoder's vectors of them."""
    _, val_data, _ = split_pool(roots, cache)
    return val_data, chip_embedder(weights)(np.asarray(val_data.chips))


def held_out_faces(
    roots: DataRoots, weights: Path = ONNX_PATH, cache: Path | None = None, log: Callable[[str], None] = print
) -> tuple[list[str], list[str], np.ndarray]:
    """(sources, labels, vectors) of the people validation_vectors holds out, without the chip
    cache of the whole pool (facesim.training.validation_faces): what `calibrate --match-only`
    recalibrates the match rule on in minutes, on whatever weights and detector are current."""
    embed = chip_embedder(weights)
    weights_id = file_sha256(weights)[:16]
    sources: list[str] = []
    labels: list[str] = []
    parts = []
    for source in face_sources(roots):
        if source.validation_fraction is None:
            continue
        chips, source_labels, _ = validation_chips(source, cache, log)
        parts.append(cached_vectors(chips, weights_id, embed, cache))
        sources += [source.name] * len(source_labels)
        labels += source_labels
    return sources, labels, np.concatenate(parts)


def calibrate_encoder(
    val_data: ChipSet, vectors: np.ndarray, command: str, card_path: Path = MODEL_CARD_PATH
) -> dict[str, Any]:
    """The card at card_path with the max-F1 threshold on pairs of held-out people of every labelled
    source, pooled, and its calibration record; the caller adds the clustering rule and writes it."""
    per_source = calibration_distances(val_data, vectors)
    distances, same = pooled(per_source)
    threshold = best_f1_threshold(distances, same)
    card = card_or_empty(card_path)
    card["threshold"] = round(threshold, 4)
    card["calibration"] = {
        "method": "threshold maximising F1 on balanced same/different pairs of validation people, "
        "pooled over every labelled source. Chosen over F1 at a gallery's prevalence (see 'alternative'): "
        "verify asks about one pair, and the prevalence rule gives up many true matches while strangers "
        "still find false ones in a 1,000-face gallery; match and clusters show the distance beside each call",
        "pairs": len(distances),
        "seed": CALIBRATION_SEED,
        "command": command,
        "at_threshold": verification_report(distances, same, threshold),
        "per_source": transfer_report(per_source, threshold),
        "strangers": stranger_hits(val_data.labels, vectors, threshold),
        "alternative": _gallery_prevalence_rule(val_data, vectors, distances, same),
    }
    return card


def _gallery_prevalence_rule(
    val_data: ChipSet, vectors: np.ndarray, distances: np.ndarray, same: np.ndarray
) -> dict[str, Any]:
    """The rule not chosen, measured, so the card shows the trade-off: F1 as if different-person
    pairs were GALLERY_PREVALENCE times as common as same-person ones, as in a gallery. It turns
    away more strangers but also more true matches, and verify's question is about one pair."""
    cut = best_f1_threshold(distances, same, GALLERY_PREVALENCE)
    return {
        "method": f"max F1 with different-person pairs weighted {GALLERY_PREVALENCE:g} to 1 (not chosen)",
        "threshold": round(cut, 4),
        "at_threshold": verification_report(distances, same, cut),
        "strangers": stranger_hits(val_data.labels, vectors, cut),
    }


def evaluate_pairs(
    pairs_source: Path | None, lfw_root: Path | None, threshold: float, weights: Path = ONNX_PATH
) -> dict[str, Any]:
    """Accuracy at the shipped threshold on LFW DevTest (default) or a CSV of pairs."""
    if pairs_source is not None:
        pairs = read_pairs_csv(pairs_source, labelled=True)
        name = str(pairs_source)
    elif lfw_root is not None:
        pairs = LfwLayout(lfw_root).devtest_pairs()
        name = "LFW View 1 DevTest"
    else:
        raise ValueError("need a pairs CSV or an LFW root")
    started = time.time()
    chips = chips_for_pairs(pairs)
    distances, same = pair_distances(pairs, chips, chip_embedder(weights))
    report = verification_report(distances, same, threshold)
    report.update(pairs=name, undetected_photos=len(chips.undetected), seconds=round(time.time() - started, 1))
    return report


def record_evaluation(key: str, report: dict[str, Any], command: str, card_path: Path = MODEL_CARD_PATH) -> None:
    card = card_or_empty(card_path)
    card.setdefault("evaluation", {})[key] = {**report, "command": command}
    write_card(card, card_path)

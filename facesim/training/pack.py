"""The training pool as one small portable file, for training on a machine that has a GPU but
neither dlib nor the source photos (a lent accelerator takes 64 MiB, the chip cache is 2.9 GB).

Chips shrink to the encoder's input size and are stored as WebP, which keeps 40,000 faces
under 60 MB; the augmentation resamples and re-compresses every chip anyway. Teacher vectors
(dlib's, and SFace's where it labelled the pool) are stored as int8 with one scale per vector
(error under 0.5% of a coordinate's range). A pack written before SFace holds no SFace arrays
and reads as a pool without them. Nothing is pickled: a pack is plain arrays and JSON, safe to
open from anywhere.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from facesim.config import INPUT_SIZE
from facesim.errors import FacesimError
from facesim.training.chipset import TEACHER_DIM, ChipSet

PACK_QUALITY = 70
PACK_FORMAT = "facesim-pack-1"
# What a row costs beside its WebP bytes once compressed (its int8 vectors, path and label), for
# sizing shards; a shard's size is a target, not a bound.
SHARD_ROW_OVERHEAD = 700


def _quantise(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scale = np.abs(vectors).max(axis=1, keepdims=True) / 127
    scale[scale == 0] = 1
    return np.round(vectors / scale).astype(np.int8), scale.astype(np.float32)


def _encode(chip: np.ndarray, size: int, quality: int) -> bytes:
    image = Image.fromarray(chip)
    if chip.shape[0] != size:
        image = image.resize((size, size), Image.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="WEBP", quality=quality)
    return out.getvalue()


def write_pack(
    data: ChipSet, summary: dict[str, Any], path: Path, size: int = INPUT_SIZE, quality: int = PACK_QUALITY
) -> int:
    """summary: the data description the model card will carry. Returns the file's size."""
    return _save(data, [_encode(chip, size, quality) for chip in data.chips], summary, path, size)


def write_pack_shards(
    data: ChipSet,
    summary: dict[str, Any],
    path: Path,
    shard_bytes: int,
    size: int = INPUT_SIZE,
    quality: int = PACK_QUALITY,
) -> list[Path]:
    """The pack as files of about shard_bytes each (POOL-1of3.npz, ...), each with the whole
    summary: a lent GPU machine takes 64 MiB a call, and keeps what earlier calls brought, so a
    pool too big for one call travels in several. read_packs puts them together again."""
    encoded = [_encode(chip, size, quality) for chip in data.chips]
    row_bytes = np.array([len(chip) + SHARD_ROW_OVERHEAD for chip in encoded], dtype=np.int64)
    shard_of = (np.cumsum(row_bytes) - 1) // shard_bytes
    count = int(shard_of.max()) + 1 if len(encoded) else 1
    written = []
    for shard in range(count):
        rows = np.flatnonzero(shard_of == shard)
        target = path.with_name(f"{path.stem}-{shard + 1}of{count}{path.suffix}")
        _save(data.subset(rows), [encoded[row] for row in rows], summary, target, size)
        written.append(target)
    return written


def _save(data: ChipSet, encoded: list[bytes], summary: dict[str, Any], path: Path, size: int) -> int:
    offsets = np.cumsum([0] + [len(b) for b in encoded])
    flippable, has_sface = data.flippable, data.has_sface
    teacher, teacher_scale = _quantise(data.teacher)
    flipped, flipped_scale = _quantise(np.where(flippable[:, None], data.teacher_flipped, 0))
    sface, sface_scale = _quantise(np.where(has_sface[:, None], data.sface, 0))
    sface_flipped, sface_flipped_scale = _quantise(np.where((has_sface & flippable)[:, None], data.sface_flipped, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as handle:  # compressed for the paths and labels; WebP is already small
        np.savez_compressed(
            handle,
            format=np.asarray(PACK_FORMAT),
            summary=np.asarray(json.dumps(summary)),
            chip_size=np.asarray(size),
            webp=np.frombuffer(b"".join(encoded), dtype=np.uint8),
            offsets=offsets.astype(np.int64),
            teacher=teacher,
            teacher_scale=teacher_scale,
            teacher_flipped=flipped,
            teacher_flipped_scale=flipped_scale,
            flippable=flippable,
            sface=sface,
            sface_scale=sface_scale,
            sface_flipped=sface_flipped,
            sface_flipped_scale=sface_flipped_scale,
            has_sface=has_sface,
            labels=np.asarray(data.labels, dtype=str),
            paths=np.asarray(data.paths, dtype=str),
            sources=np.asarray(data.sources, dtype=str),
        )
    tmp.replace(path)
    return path.stat().st_size


def read_pack(path: Path) -> tuple[ChipSet, dict[str, Any]]:
    try:
        pack = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise FacesimError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise FacesimError(f"{path}: not a training pack ({type(exc).__name__})") from None
    with pack:
        if "format" not in pack.files or str(pack["format"]) != PACK_FORMAT:
            raise FacesimError(f"{path}: not a {PACK_FORMAT} training pack")
        blob, offsets, size = pack["webp"].tobytes(), pack["offsets"], int(pack["chip_size"])
        chips = np.zeros((len(offsets) - 1, size, size, 3), np.uint8)
        for row, (start, end) in enumerate(zip(offsets[:-1], offsets[1:], strict=True)):
            chips[row] = np.asarray(Image.open(io.BytesIO(blob[start:end])).convert("RGB"))
        flippable = pack["flippable"]
        flipped = pack["teacher_flipped"] * pack["teacher_flipped_scale"]
        sface, sface_flipped = _sface_vectors(pack, flippable)
        data = ChipSet(
            chips,
            (pack["teacher"] * pack["teacher_scale"]).astype(np.float32),
            np.where(flippable[:, None], flipped, np.nan).astype(np.float32),
            sface,
            sface_flipped,
            [str(x) for x in pack["labels"]],
            [str(x) for x in pack["paths"]],
            [str(x) for x in pack["sources"]],
        )
        return data, json.loads(str(pack["summary"]))


def _sface_vectors(pack: np.lib.npyio.NpzFile, flippable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SFace's vectors of each crop and its mirror, NaN where it gave none (or the pack predates it)."""
    if "sface" not in pack.files:
        missing = np.full((len(flippable), TEACHER_DIM), np.nan, np.float32)
        return missing, missing.copy()
    has_sface = pack["has_sface"][:, None]
    sface = np.where(has_sface, pack["sface"] * pack["sface_scale"], np.nan)
    mirrored = np.where(has_sface & flippable[:, None], pack["sface_flipped"] * pack["sface_flipped_scale"], np.nan)
    return sface.astype(np.float32), mirrored.astype(np.float32)


def read_packs(paths: list[Path]) -> tuple[ChipSet, dict[str, Any]]:
    """One pool from the shards of one pack (write_pack_shards), or from a single pack."""
    parts = [read_pack(path) for path in paths]
    summary = parts[0][1]
    for path, (_, other) in zip(paths[1:], parts[1:], strict=True):
        if other != summary:
            raise FacesimError(f"{path}: a shard of another pool than {paths[0]}")
    return ChipSet.concatenate([data for data, _ in parts]), summary

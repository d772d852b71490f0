"""The one place for facesim's constants, so that training, inference and the index agree."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
WEIGHTS_PATH = PACKAGE_DIR / "weights" / "encoder.pt"
MODEL_CARD_PATH = PACKAGE_DIR / "weights" / "model_card.json"

# Aligned face chips follow dlib's convention (150 px, 25% padding) so that the dlib ResNet
# teacher and our encoder see exactly the same crop.
CHIP_SIZE = 150
CHIP_PADDING = 0.25
# The encoder looks at the chip resized to this many pixels a side.
INPUT_SIZE = 112
EMBEDDING_DIM = 128

# Detection runs on a copy whose longer side is at most this, and boxes are mapped back, so a
# 12 MP photo costs about what a 2 MP one does.
DETECTION_MAX_SIDE = 1600
# HOG finds faces down to about 80 px; one 2x upsample brings that to about 40 px.
HOG_UPSAMPLE = 1

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
HEIC_SUFFIXES = frozenset({".heic", ".heif"})
# Pillow's default bomb limit; larger images are refused rather than decoded.
MAX_IMAGE_PIXELS = 89_478_485

INDEX_ENV_VAR = "FACESIM_INDEX"
CACHE_ENV_VAR = "FACESIM_CACHE"


def default_index_dir() -> Path:
    """Per-user data directory, following XDG so that indexes survive cache clean-ups."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "facesim"


def resolve_index_dir(option: str | Path | None) -> Path:
    """`--index` wins, then $FACESIM_INDEX, then the per-user default; every command uses this."""
    if option:
        return Path(option).expanduser()
    env = os.environ.get(INDEX_ENV_VAR)
    if env:
        return Path(env).expanduser()
    return default_index_dir()


def cache_dir() -> Path:
    """Where training caches aligned chips and teacher vectors; never inside the repository."""
    env = os.environ.get(CACHE_ENV_VAR)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "facesim"


# --- The face index (the top-level `index` package) ---------------------------------------
# Files inside the gallery directory that resolve_index_dir() names.
GALLERY_DB_NAME = "gallery.db"
GALLERY_VECTORS_NAME = "faces.faiss"
GALLERY_LOCK_NAME = "index.lock"
# Photos per SQLite transaction: a crash loses at most this much work, while committing less
# often keeps fsyncs from dominating the cost of small photos.
INDEX_BATCH_SIZE = 32
# Exact search scans every vector (a few ms per query at 100k faces); past this many faces an
# HNSW graph keeps queries fast at a small recall cost.
HNSW_MIN_FACES = 100_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128
# How long a connection waits for another one's transaction before reporting the gallery busy.
SQLITE_BUSY_TIMEOUT_MS = 30_000

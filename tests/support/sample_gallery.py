"""Where the committed sample gallery and, when a checkout has it beside it, LFW live."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE_DATA = REPO / "sample_data"
SAMPLE_PHOTOS = SAMPLE_DATA / "photos"
LFW_ROOT = REPO.parent / "shared" / "data" / "lfw"


def lfw_root_or_skip() -> Path:
    if not (LFW_ROOT / "images").is_dir():
        pytest.skip("LFW is not beside this checkout (../shared/data/lfw)")
    return LFW_ROOT


def single_face_photos() -> dict[str, list[Path]]:
    """The sample gallery's one-person photos, by person (file names are LFW's <Name>_NNNN.jpg)."""
    people: dict[str, list[Path]] = {}
    for photo in sorted(SAMPLE_PHOTOS.glob("*_[0-9][0-9][0-9][0-9].jpg")):
        people.setdefault(photo.stem.rsplit("_", 1)[0], []).append(photo)
    return people

"""The sample photos indexed once per test session, through the real `facesim index --json`, for
every test that needs a real gallery and does not test indexing itself.

A gallery names its photos by absolute path, so a copy of the gallery folder still points at the
session's photos: a test that writes to the gallery works on a copy (`copy_to`), and a test that
changes, moves or writes beside photos indexes photos of its own instead, since no copy of them
could sit at the paths the gallery names.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from support.cli_runs import run_json
from support.sample_gallery import SAMPLE_PHOTOS


@dataclass(frozen=True)
class IndexedSample:
    photos: Path  # a copy of sample_data/photos, so nothing a test does reaches the repository; never changed
    gallery: Path  # only read; a test that writes works on copy_to()
    summary: dict  # what `facesim index --json` printed when it built the gallery

    def copy_to(self, folder: Path) -> Path:
        """A copy of the gallery folder at `folder`, for a test to change."""
        shutil.copytree(self.gallery, folder)
        return folder


def index_sample(base: Path) -> IndexedSample:
    """Copies the sample photos into `base` and indexes them there."""
    photos = base / "photos"
    shutil.copytree(SAMPLE_PHOTOS, photos)
    gallery = base / "gallery"
    summary = run_json("index", photos, "--index", gallery)
    assert isinstance(summary, dict)
    return IndexedSample(photos, gallery, summary)

"""Chips of several photos share one encoder call (examine.examine_photos, used by both engines):
the faces and vectors must be those of one photo at a time, and a failure must stay with its photo.

Expected faces come from faces_in_photo on each photo alone, so these hold for any weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facesim.embedder import default_embedder
from facesim.pipeline import faces_in_photo
from index.ingest import examine

from support.sample_gallery import SAMPLE_PHOTOS


@pytest.fixture(scope="module")
def photos() -> list[Path]:
    """Single portraits, group shots, a photo without a face and a file that is no image."""
    if not (SAMPLE_PHOTOS / "no_face.jpg").is_file():
        pytest.skip("sample_data/photos is not built")
    singles = sorted(SAMPLE_PHOTOS.glob("*_[0-9][0-9][0-9][0-9].jpg"))[:4]
    groups = sorted(SAMPLE_PHOTOS.glob("group_0*.jpg"))[:2]
    return [singles[0], groups[0], SAMPLE_PHOTOS / "no_face.jpg", *singles[1:3], SAMPLE_PHOTOS / "bad_text.png"]


def test_one_encoder_call_gives_each_photos_own_faces_and_vectors(photos: list[Path], tmp_path: Path) -> None:
    calls: list[int] = []

    def embed(chips: list[np.ndarray]) -> np.ndarray:
        calls.append(len(chips))
        return default_embedder().embed(chips)

    missing = tmp_path / "gone.jpg"
    outcomes = examine.examine_photos([(str(path), None) for path in [*photos, missing]], "hog", embed)
    assert len(calls) == 1  # every chip of the chunk in one call
    assert outcomes[-1] is None  # each engine decides what a missing file means
    for path, outcome in zip(photos, outcomes, strict=False):
        assert outcome is not None and outcome.content_hash == examine.file_hash(path)
        if path.name == "bad_text.png":
            assert outcome.error and not outcome.faces
            continue
        expected = faces_in_photo(path, "hog", default_embedder())
        assert outcome.error is None
        assert [face.detection for face in outcome.faces] == [face.detection for face in expected]
        for batched, alone in zip(outcome.faces, expected, strict=True):
            np.testing.assert_allclose(batched.embedding, alone.embedding, atol=1e-5)
    assert calls[0] == sum(len(outcome.faces) for outcome in outcomes[:-1] if outcome is not None)


def test_a_photo_that_breaks_the_encoder_fails_alone(photos: list[Path]) -> None:
    group = next(path for path in photos if path.name.startswith("group_"))
    found = examine._detect(str(group), None, "hog")
    assert isinstance(found, examine._Found) and found.chips
    poison = {chip.tobytes() for chip in found.chips}

    def embed(chips: list[np.ndarray]) -> np.ndarray:
        if any(chip.tobytes() in poison for chip in chips):
            raise RuntimeError("the model broke\non this photo")
        return default_embedder().embed(chips)

    outcomes = examine.examine_photos([(str(path), None) for path in photos], "hog", embed)
    for path, outcome in zip(photos, outcomes, strict=True):
        assert outcome is not None
        if path == group:
            assert outcome.error == f"{group}: RuntimeError: the model broke" and not outcome.faces
        elif path.name != "bad_text.png":
            assert outcome.error is None
            assert len(outcome.faces) == len(faces_in_photo(path, "hog", default_embedder()))

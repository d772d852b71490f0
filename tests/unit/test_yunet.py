"""YuNet, the default detector: the scale rule at its boundaries, the file's hash, and what it
finds on the sample gallery against HOG."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from facesim import yunet
from facesim.config import YUNET_MAX_SIDE, YUNET_PATH, YUNET_SMALLEST_FACE_PX
from facesim.detection import detect_faces
from facesim.errors import FacesimError, ImageError
from facesim.images import load_rgb
from facesim.yunet import scan_zoom

from support.sample_gallery import SAMPLE_PHOTOS


def test_photos_up_to_the_scan_size_are_scanned_as_they_are() -> None:
    assert scan_zoom(250, 250, 48) == 1.0
    assert scan_zoom(YUNET_MAX_SIDE, 100, 48) == 1.0


def test_big_photos_shrink_to_the_scan_size_when_the_smallest_face_allows() -> None:
    # 4000 px, smallest face 160 px: 640 / 4000 = 0.16 keeps that face at 25.6 px (over 20).
    assert scan_zoom(4000, 3000, 160) == pytest.approx(YUNET_MAX_SIDE / 4000)


def test_the_smallest_face_sought_limits_the_shrink() -> None:
    # 48 px faces in a 4000 px photo: shrinking to 640 px would leave 7.7 px, so stop at 20 px.
    assert scan_zoom(4000, 3000, 48) == pytest.approx(YUNET_SMALLEST_FACE_PX / 48)
    boundary = YUNET_SMALLEST_FACE_PX * 4000 / YUNET_MAX_SIDE  # where both rules give one zoom
    assert scan_zoom(4000, 3000, boundary) == pytest.approx(YUNET_MAX_SIDE / 4000)


def test_a_detector_file_that_is_not_yunet_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    changed = tmp_path / YUNET_PATH.name
    shutil.copy(YUNET_PATH, changed)
    with changed.open("ab") as handle:
        handle.write(b"\0")
    monkeypatch.setattr(yunet, "YUNET_PATH", changed)
    yunet._detector.cache_clear()
    try:
        with pytest.raises(FacesimError, match="does not match its recorded sha256"):
            yunet._detector()
    finally:
        yunet._detector.cache_clear()


def _sample() -> list[tuple[str, np.ndarray]]:
    photos = []
    for path in sorted(SAMPLE_PHOTOS.iterdir()):
        try:
            photos.append((path.name, load_rgb(path)))
        except ImageError:
            continue
    return photos


def test_yunet_finds_every_face_hog_finds_on_the_sample_and_no_face_on_the_empty_photo() -> None:
    """Each HOG face has a YuNet face on it (box centres within a quarter of the box), so the
    default detector loses nothing of the old one; the photo without a face stays without."""
    for name, rgb in _sample():
        found = detect_faces(rgb, "yunet")
        if name == "no_face.jpg":
            assert found == []
        for face in detect_faces(rgb, "hog"):
            width = face.box[2] - face.box[0]
            centre = np.array([(face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2])
            assert any(
                np.abs(centre - [(f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2]).max() < width / 4
                and abs((f.box[2] - f.box[0]) / width - 1) < 0.3
                for f in found
            ), name


def test_chip_caches_name_the_detection_that_made_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache of HOG's chips (or of YuNet's at another score) is never read back as the current one's."""
    from facesim import detection
    from facesim.training import chip_cache
    from facesim.training.sources import FaceJob, FaceSource

    source = FaceSource("s", [FaceJob("a.jpg", "x")], lambda rgb: (rgb, None), 0.2, False, lambda labels: None, "")
    current = chip_cache.jobs_digest(source)
    assert detection.detection_key("hog") != detection.detection_key("yunet")
    monkeypatch.setattr(detection, "YUNET_SCORE_THRESHOLD", 0.71)
    assert chip_cache.jobs_digest(source) != current

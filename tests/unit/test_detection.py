"""Detection scales each photo to the smallest face it looks for, and maps boxes back.

The scale is checked at the boundaries of its rule; the real detector then shows that a face of
exactly the minimum size is found at both ends of the range (a small photo, which needs the
upsample, and a 12 MP photo, which is scanned on a reduced copy), and that half of it in the
12 MP photo is not, so the copy really was reduced.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from facesim import detection
from facesim.config import DETECTOR_WINDOW_PX, MIN_FACE_FRACTION, MIN_FACE_PX, YUNET_MIN_FACE_PX
from facesim.detection import (
    DetectionScale,
    _fallback_min_face,
    detect_faces,
    detection_copy,
    detection_scale,
    find_primary_face,
    min_face_size,
)
from facesim.images import load_rgb

from support.sample_gallery import SAMPLE_PHOTOS

SAMPLE_PHOTO = SAMPLE_PHOTOS / "Abdullah_Gul_0001.jpg"
# Where the fixed floor and the fraction of the long side meet.
CROSSOVER = round(MIN_FACE_PX / MIN_FACE_FRACTION)


def test_small_photos_are_scanned_for_faces_down_to_the_floor() -> None:
    """Up to the crossover the floor decides: one enlarged copy that makes a MIN_FACE_PX face fill
    the detector's window, whatever the photo's size."""
    floor_scale = DetectionScale(DETECTOR_WINDOW_PX / MIN_FACE_PX, 0)
    assert detection_scale(250, 250) == floor_scale
    assert detection_scale(CROSSOVER, CROSSOVER // 2) == floor_scale
    assert detection_scale(250, 250).smallest_face == pytest.approx(MIN_FACE_PX)
    assert detection_scale(250, 250, min_face=MIN_FACE_PX / 2).smallest_face == pytest.approx(MIN_FACE_PX / 2)


def test_past_the_crossover_the_copy_shrinks_below_2x_and_dlib_no_longer_upsamples() -> None:
    scale = detection_scale(CROSSOVER + 10, 500)
    assert scale.upsample == 0
    assert 1 < scale.zoom < 2
    assert scale.smallest_face == pytest.approx(MIN_FACE_FRACTION * (CROSSOVER + 10))


def test_no_copy_where_the_minimum_face_already_fills_the_window() -> None:
    longest = round(DETECTOR_WINDOW_PX / MIN_FACE_FRACTION)
    assert detection_scale(longest, longest * 3 // 4) == DetectionScale(1.0, 0)
    assert detection_copy(np.zeros((3, 4, 3), np.uint8), 1.0).shape == (3, 4, 3)


def test_a_12_megapixel_photo_is_scanned_on_a_reduced_copy() -> None:
    scale = detection_scale(4000, 3000)
    assert scale == DetectionScale(DETECTOR_WINDOW_PX / (MIN_FACE_FRACTION * 4000), 0)
    assert scale.zoom < 1
    assert detection_copy(np.zeros((3000, 4000, 3), np.uint8), scale.zoom).shape == (1500, 2000, 3)


def test_a_caller_may_ask_for_larger_faces_only() -> None:
    assert detection_scale(400, 400, min_face=DETECTOR_WINDOW_PX) == DetectionScale(1.0, 0)


def test_the_cnn_fallback_never_upsamples_and_is_bounded() -> None:
    for shape in [(250, 250), (600, 800), (3000, 4000)]:
        scale = detection_scale(shape[1], shape[0], _fallback_min_face(shape))
        assert scale.upsample == 0 and scale.zoom <= 1
        assert max(shape) * scale.zoom <= 800
    assert detection_scale(250, 250, _fallback_min_face((250, 250))) == DetectionScale(1.0, 0)


def _face_of_width(width: float, canvas: tuple[int, int]) -> tuple[np.ndarray, tuple[float, float]]:
    """The sample portrait resized so that its detected face box is `width` px wide, pasted in
    the middle of a grey canvas; returns the canvas and where the face's centre should be."""
    rgb = load_rgb(SAMPLE_PHOTO)
    (face,) = detect_faces(rgb, "hog")
    factor = width / (face.box[2] - face.box[0])
    portrait = Image.fromarray(rgb).resize(
        (round(rgb.shape[1] * factor), round(rgb.shape[0] * factor)), Image.Resampling.LANCZOS
    )
    image = Image.new("RGB", canvas, (128, 128, 128))
    left, top = (canvas[0] - portrait.width) // 2, (canvas[1] - portrait.height) // 2
    image.paste(portrait, (left, top))
    centre = (left + (face.box[0] + face.box[2]) / 2 * factor, top + (face.box[1] + face.box[3]) / 2 * factor)
    return np.asarray(image), centre


@pytest.mark.parametrize("detector", ["yunet", "hog"])
@pytest.mark.parametrize("canvas", [(400, 300), (4000, 3000)], ids=["small photo", "12 MP photo"])
def test_a_face_of_exactly_the_minimum_size_is_found_where_it_is(canvas: tuple[int, int], detector: str) -> None:
    minimum = min_face_size(*canvas, YUNET_MIN_FACE_PX if detector == "yunet" else MIN_FACE_PX)
    rgb, (x, y) = _face_of_width(minimum, canvas)
    faces = detect_faces(rgb, detector)
    assert len(faces) == 1
    left, top, right, bottom = faces[0].box
    assert abs((left + right) / 2 - x) < minimum / 4 and abs((top + bottom) / 2 - y) < minimum / 4
    assert right - left == pytest.approx(minimum, rel=0.3)
    assert all(left - minimum / 2 <= px <= right + minimum / 2 for px, _ in faces[0].landmarks)


@pytest.mark.parametrize("detector", ["yunet", "hog"])
def test_half_the_minimum_face_in_a_12_megapixel_photo_is_not_looked_for(detector: str) -> None:
    rgb, _ = _face_of_width(min_face_size(4000, 3000) / 2, (4000, 3000))
    assert not detect_faces(rgb, detector)
    assert detect_faces(rgb, detector, min_face=min_face_size(4000, 3000) / 2)


class _BlindHog:
    """A HOG detector that finds nothing, as HOG does on a head turned past about 45 degrees."""

    def run(self, *_args: object) -> tuple[list, list, list]:
        return [], [], []


class _CnnCalls:
    """Wraps the real CNN detector and records the size of every image it is given."""

    def __init__(self) -> None:
        self.real = detection._mmod()
        self.calls: list[tuple[tuple[int, ...], int]] = []

    def __call__(self, image: np.ndarray, upsample: int) -> object:
        self.calls.append((image.shape, upsample))
        return self.real(image, upsample)


def test_thorough_never_runs_the_cnn_where_hog_found_a_face(monkeypatch: pytest.MonkeyPatch) -> None:
    cnn = _CnnCalls()
    monkeypatch.setattr(detection, "_mmod", lambda: cnn)
    rgb = load_rgb(SAMPLE_PHOTO)
    assert [face.box for face in detect_faces(rgb, "thorough")] == [face.box for face in detect_faces(rgb, "hog")]
    assert cnn.calls == []


def test_thorough_asks_the_cnn_where_hog_found_nothing_on_a_bounded_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    cnn = _CnnCalls()
    monkeypatch.setattr(detection, "_mmod", lambda: cnn)
    monkeypatch.setattr(detection, "_hog", lambda: _BlindHog())
    rgb = load_rgb(SAMPLE_PHOTO)
    assert not detect_faces(rgb, "hog")
    (face,) = detect_faces(rgb, "thorough")
    assert cnn.calls == [(rgb.shape, 0)]  # 250 px: as it is, never upsampled
    assert find_primary_face(rgb, "hog") == face  # one-face questions get the same fallback

    big = np.asarray(Image.fromarray(rgb).resize((1600, 1600)))
    detect_faces(big, "thorough")
    assert cnn.calls[-1] == ((800, 800, 3), 0)


def test_thorough_on_a_photo_without_a_face_finds_none() -> None:
    assert not detect_faces(load_rgb(SAMPLE_PHOTOS / "no_face.jpg"), "thorough")

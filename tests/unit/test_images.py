"""load_rgb against the files a real photo folder holds, and the committed sample_data.

Indexing walks folders nobody curated, so every odd file must either load as an upright 8-bit RGB
array or fail with a one-line ImageError that names it; anything else (a traceback, a sideways
face, a silently wrong frame) stops an index run or quietly loses a face.
"""

from __future__ import annotations

import builtins
import csv
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image

from facesim.detection import detect_faces, primary_face
from facesim.errors import ImageError
from facesim.images import load_rgb

from support.bad_inputs import LOADED, REFUSED, SAMPLE_PHOTOS, face_rgb, make_bad_corpus, portrait_face

SAMPLE_DATA = SAMPLE_PHOTOS.parent

# Readable or not depending on who runs the tests; see the permission tests.
PERMISSION_DEPENDENT = ("unreadable",)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_bad_corpus(tmp_path_factory.mktemp("bad_inputs"))


def entry(corpus: dict[str, Path], key: str) -> Path:
    if key not in corpus:
        pytest.skip(f"this file system cannot hold the {key!r} entry")
    return corpus[key]


def refusal(path: Path) -> str:
    """The message load_rgb refuses `path` with, after checking it is fit for a one-line report."""
    with pytest.raises(ImageError) as info:
        load_rgb(path)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    assert str(path) in message
    return message


def test_every_corpus_entry_has_an_expectation(corpus: dict[str, Path]) -> None:
    expected = set(REFUSED) | set(LOADED) | set(PERMISSION_DEPENDENT)
    assert set(corpus) <= expected, f"untested corpus entries: {set(corpus) - expected}"
    assert expected - set(corpus) <= {"non_utf8_name"}


@pytest.mark.parametrize("key", sorted(REFUSED))
def test_bad_file_gives_one_line_error_naming_it(corpus: dict[str, Path], key: str) -> None:
    assert REFUSED[key] in refusal(corpus[key])


@pytest.mark.parametrize("name", ["bad_empty.jpg", "bad_truncated.jpg", "bad_text.png"])
def test_sample_bad_files_are_refused(name: str) -> None:
    refusal(SAMPLE_PHOTOS / name)


def test_bomb_is_refused_from_its_header(corpus: dict[str, Path]) -> None:
    """The file is a few hundred bytes: refusal must come from the declared size, not from running out of memory."""
    assert corpus["png_bomb"].stat().st_size < 1024
    assert "too large" in refusal(corpus["png_bomb"])


@pytest.mark.parametrize("key", LOADED)
def test_odd_but_valid_files_load_as_rgb_uint8(corpus: dict[str, Path], key: str) -> None:
    rgb = load_rgb(entry(corpus, key))
    assert rgb.ndim == 3 and rgb.shape[2] == 3
    assert rgb.dtype == np.uint8
    # dlib refuses arrays that are views with strides, so the loader must hand back contiguous memory.
    assert rgb.flags["C_CONTIGUOUS"]


def test_grayscale_becomes_three_equal_channels(corpus: dict[str, Path]) -> None:
    rgb = load_rgb(corpus["grayscale"])
    with Image.open(corpus["grayscale"]) as image:
        assert image.mode == "L"
        grey = np.asarray(image)
    for channel in range(3):
        np.testing.assert_array_equal(rgb[..., channel], grey)


def test_cmyk_keeps_its_colours(corpus: dict[str, Path]) -> None:
    with Image.open(corpus["cmyk"]) as image:
        assert image.mode == "CMYK"
    difference = np.abs(load_rgb(corpus["cmyk"]).astype(int) - np.asarray(face_rgb(), dtype=int))
    assert difference.mean() < 3


def test_16_bit_is_scaled_not_clipped(corpus: dict[str, Path]) -> None:
    with Image.open(corpus["grey16"]) as image:
        assert image.mode == "I;16"
    rgb = load_rgb(corpus["grey16"])
    expected = np.asarray(face_rgb().convert("L"), dtype=int)
    assert np.abs(rgb[..., 0].astype(int) - expected).max() <= 1
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])


@pytest.mark.parametrize("key", ["animated_gif", "animated_webp"])
def test_animation_loads_its_first_frame(corpus: dict[str, Path], key: str) -> None:
    with Image.open(corpus[key]) as image:
        assert image.n_frames == 2
    rgb = load_rgb(corpus[key])
    face = np.asarray(face_rgb(), dtype=int)
    assert np.abs(rgb.astype(int) - face).mean() < 4  # GIF's 256-colour palette costs a little
    assert np.abs(rgb.astype(int) - 128).mean() > 40  # frame 1 is flat grey
    assert detect_faces(rgb)


def test_exif_rotated_loads_upright(corpus: dict[str, Path]) -> None:
    upright = np.asarray(portrait_face(), dtype=int)
    with Image.open(corpus["exif_rotated"]) as image:
        assert image.getexif()[ExifTags.Base.Orientation] == 8
        assert image.size == (upright.shape[0], upright.shape[1])  # stored sideways
    rgb = load_rgb(corpus["exif_rotated"])
    assert rgb.shape == upright.shape
    assert np.abs(rgb.astype(int) - upright).mean() < 3


def test_sample_rotated_photo_is_upright_and_only_then_has_a_face() -> None:
    path = SAMPLE_PHOTOS / "rotated_exif.jpg"
    with Image.open(path) as image:
        assert image.getexif()[ExifTags.Base.Orientation] == 6
        stored = np.asarray(image.convert("RGB"))
    rgb = load_rgb(path)
    assert rgb.shape[0] > rgb.shape[1]  # a portrait crop, stored landscape
    # Orientation 6 means "turn clockwise to view"; a pure transpose, so the pixels match exactly.
    np.testing.assert_array_equal(rgb, np.rot90(stored, k=-1))
    assert detect_faces(rgb)
    assert not detect_faces(np.ascontiguousarray(stored))


def test_permission_denied_is_reported(corpus: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs everywhere, root included: the OS refusal is simulated where Pillow opens the file."""
    target = corpus["unreadable"]
    real_open = builtins.open

    def refusing_open(file: object, *args: object, **kwargs: object) -> object:
        if isinstance(file, (str, os.PathLike)) and os.fspath(file) == str(target):
            raise PermissionError(13, "Permission denied", str(target))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refusing_open)
    assert "permission denied" in refusal(target)


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="root reads files whatever their mode, so chmod 000 cannot make one unreadable "
    "(as in CI); test_permission_denied_is_reported covers this path",
)
def test_chmod_000_file_is_refused(corpus: dict[str, Path]) -> None:
    assert "permission denied" in refusal(corpus["unreadable"])


def test_non_utf8_name_loads(corpus: dict[str, Path]) -> None:
    np.testing.assert_array_equal(load_rgb(entry(corpus, "non_utf8_name")), np.asarray(face_rgb()))


def test_non_utf8_name_is_named_in_errors(corpus: dict[str, Path], tmp_path: Path) -> None:
    good = entry(corpus, "non_utf8_name")
    broken = tmp_path / os.fsdecode(b"cass\xe9.jpg")
    broken.write_bytes(good.read_bytes()[:1000])
    refusal(broken)


def test_photo_with_odd_exif_tag_still_loads_upright(tmp_path: Path) -> None:
    # A little-endian EXIF block by hand: Orientation 6, and tag 338 holding ASCII text although
    # Pillow knows 338 (ExtraSamples) as SHORT; real cameras write mislabelled tags like this.
    entries = [
        struct.pack("<HHIH2x", ExifTags.Base.Orientation, 3, 1, 6),
        struct.pack("<HHI4s", ExifTags.Base.ExtraSamples, 2, 4, b"Cam\x00"),
    ]
    exif = b"Exif\x00\x00II*\x00" + struct.pack("<IH", 8, len(entries)) + b"".join(entries) + struct.pack("<I", 0)
    path = tmp_path / "odd_exif.jpg"
    portrait_face().transpose(Image.Transpose.ROTATE_90).save(path, quality=95, exif=exif)

    rgb = load_rgb(path)
    assert rgb.shape == np.asarray(portrait_face()).shape


def sample_pairs() -> list[dict[str, str]]:
    with (SAMPLE_DATA / "pairs.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def person(photo: str) -> str:
    return Path(photo).stem.rsplit("_", 1)[0]


def test_sample_pairs_are_labelled_by_person() -> None:
    pairs = sample_pairs()
    assert [row["label"] for row in pairs].count("1") == 60
    assert [row["label"] for row in pairs].count("0") == 60
    for row in pairs:
        assert row["label"] == str(int(person(row["path_a"]) == person(row["path_b"])))


def test_sample_single_photos_load_with_their_subject_at_the_centre() -> None:
    photos = sorted({row[key] for row in sample_pairs() for key in ("path_a", "path_b")})
    assert len(photos) == 40
    for photo in photos:
        rgb = load_rgb(SAMPLE_DATA / photo)
        assert rgb.shape == (250, 250, 3)
        faces = detect_faces(rgb)
        # The subject fills the crop's centre; anyone else the detector sees stands off it.
        assert faces and primary_face(faces, rgb.shape) == faces[0], photo
        assert all(not face.contains(125, 125) for face in faces[1:]), photo


def test_sample_group_shots_have_one_face_per_listed_person() -> None:
    groups = json.loads((SAMPLE_DATA / "groups.json").read_text())
    assert sorted(groups) == ["group_01.jpg", "group_02.jpg", "group_03.jpg"]
    for name, group in groups.items():
        faces = detect_faces(load_rgb(SAMPLE_PHOTOS / name))
        tiles = [member["tile"] for member in group["people"]]
        assert 2 <= len(tiles) <= 4 and len({member["name"] for member in group["people"]}) >= 2
        assert len(faces) == len(tiles), name
        centres = [((f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2) for f in faces]
        for left, top, right, bottom in tiles:
            assert sum(left <= x < right and top <= y < bottom for x, y in centres) == 1, name


def test_sample_no_face_photo_has_no_face() -> None:
    assert not detect_faces(load_rgb(SAMPLE_PHOTOS / "no_face.jpg"))

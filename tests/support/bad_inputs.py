"""Odd and broken "photos", made fresh in a temporary folder for each test run.

A real photo folder holds files that are empty, cut short, mislabelled, huge on paper, sideways,
animated, in unusual pixel formats, or not files at all (links to nowhere, folders named .jpg).
Building them at test time, rather than committing them, keeps the repository small, lets us make
things git cannot store (unreadable modes, symlink loops, non-UTF-8 names), and means each test
gets untouched copies.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image

from support.sample_gallery import SAMPLE_PHOTOS

# A 250x250 LFW photo in which dlib's HOG finds exactly one face, at the centre.
FACE_PHOTO = SAMPLE_PHOTOS / "Salma_Hayek_0001.jpg"
# Portrait crop for the EXIF sample, so that ignoring the tag gives the wrong shape, not just the wrong pixels.
PORTRAIT_BOX = (35, 0, 215, 250)
# Orientation 8 ("turn 90 degrees anticlockwise to display"); sample_data/photos/rotated_exif.jpg covers 6.
EXIF_ORIENTATION = 8
# Declared sizes for the PNG bombs: far over Pillow's hard limit (2x MAX_IMAGE_PIXELS), and just over
# the soft limit where Pillow only warns, which facesim must also refuse.
BOMB_SIZE = (100_000, 100_000)
SOFT_BOMB_SIZE = (10_000, 10_000)
NON_UTF8_NAME = b"caf\xe9.jpg"  # Latin-1 "café.jpg", invalid as UTF-8


def face_rgb() -> Image.Image:
    with Image.open(FACE_PHOTO) as image:
        return image.convert("RGB")


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG of a few dozen bytes that declares a huge size: the decompression-bomb shape."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    # 8-bit greyscale, deflate, adaptive filtering, no interlace.
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    # One filtered row of zeros; a decoder never gets this far, because the size alone is refused.
    first_row = zlib.compress(b"\x00" * (width + 1))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", first_row) + chunk(b"IEND", b"")


def save_animation(face: Image.Image, path: Path, **options: object) -> None:
    """Frame 0 is the face; frame 1 is flat grey, so a loader that picks the wrong frame finds no face."""
    blank = Image.new("RGB", face.size, (128, 128, 128))
    face.save(path, save_all=True, append_images=[blank], duration=200, loop=0, **options)


def make_bad_corpus(directory: Path) -> dict[str, Path]:
    """Creates every odd input in `directory` and returns them by kind.

    Entries whose file system cannot hold them (a non-UTF-8 name on macOS, say) are left out,
    so callers should skip, not fail, when a key is missing.
    """
    directory.mkdir(parents=True, exist_ok=True)
    face = face_rgb()
    face_bytes = FACE_PHOTO.read_bytes()
    corpus: dict[str, Path] = {}

    def path(key: str, name: str) -> Path:
        corpus[key] = directory / name
        return corpus[key]

    path("empty", "empty.jpg").write_bytes(b"")
    path("truncated", "truncated.jpg").write_bytes(face_bytes[: len(face_bytes) * 2 // 5])
    path("text_as_jpg", "notes.jpg").write_text("Shopping list: eggs, milk.\nNot a photo.\n")
    path("png_bomb", "bomb.png").write_bytes(png_header_only(*BOMB_SIZE))
    path("png_soft_bomb", "soft_bomb.png").write_bytes(png_header_only(*SOFT_BOMB_SIZE))
    face.resize((1, 1)).save(path("one_pixel", "one_pixel.png"))

    face.convert("L").save(path("grayscale", "grayscale.jpg"), quality=92)
    face.convert("CMYK").save(path("cmyk", "cmyk.jpg"), quality=92)
    grey16 = np.asarray(face.convert("L"), dtype=np.uint16) * 257  # 0..255 spread over 0..65535
    Image.fromarray(grey16).save(path("grey16", "grey16.png"))  # Pillow stores uint16 as mode I;16
    save_animation(face, path("animated_gif", "animated.gif"))
    save_animation(face, path("animated_webp", "animated.webp"), lossless=True)

    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = EXIF_ORIENTATION
    # Orientation 8 asks the viewer to turn the stored pixels anticlockwise, so they are stored clockwise.
    sideways = face.crop(PORTRAIT_BOX).transpose(Image.Transpose.ROTATE_270)
    sideways.save(path("exif_rotated", "exif_rotated.jpg"), quality=95, exif=exif)

    unreadable = path("unreadable", "unreadable.jpg")
    unreadable.write_bytes(face_bytes)
    unreadable.chmod(0)

    os.symlink("missing.jpg", path("broken_symlink", "dangling.jpg"))
    os.symlink("loop_b.jpg", path("symlink_loop", "loop_a.jpg"))
    os.symlink("loop_a.jpg", directory / "loop_b.jpg")

    try:
        path("non_utf8_name", os.fsdecode(NON_UTF8_NAME)).write_bytes(face_bytes)
    except OSError:
        del corpus["non_utf8_name"]

    path("folder", "folder.jpg").mkdir()
    return corpus


def portrait_face() -> Image.Image:
    """The upright picture that the EXIF-rotated entry should load as."""
    return face_rgb().crop(PORTRAIT_BOX)


# Corpus entries no command may use, with a word of the reason the one-line error must give.
REFUSED = {
    "empty": "not an image",
    "truncated": "truncated",
    "text_as_jpg": "not an image",
    "png_bomb": "too large",
    "png_soft_bomb": "too large",
    "one_pixel": "too small",
    "broken_symlink": "no such file",
    "symlink_loop": "symbolic links",
    "folder": "folder",
}
# Corpus entries that are real pictures in unusual clothing and must load.
LOADED = ("grayscale", "cmyk", "grey16", "animated_gif", "animated_webp", "exif_rotated", "non_utf8_name")

"""Reads a photo into an upright RGB array, or says in one line why it cannot."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

from facesim.config import HEIC_SUFFIXES, IMAGE_SUFFIXES, MAX_IMAGE_PIXELS
from facesim.errors import ImageError, first_line

Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS


def heic_supported() -> bool:
    """HEIC is optional: it needs pillow-heif, which registers itself with Pillow once."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


def supported_suffixes() -> frozenset[str]:
    return IMAGE_SUFFIXES | HEIC_SUFFIXES if heic_supported() else IMAGE_SUFFIXES


def load_rgb(path: str | Path) -> np.ndarray:
    """Decode with EXIF orientation applied, because phones store portraits sideways.

    The file is opened read-only and never written.
    """
    path = Path(path)
    if path.suffix.lower() in HEIC_SUFFIXES and not heic_supported():
        raise ImageError(f"{path}: HEIC needs pillow-heif (pip install pillow-heif)")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not a photo")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.seek(0)
                upright = _upright(image)
                rgb = np.asarray(_to_rgb(upright))
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except PermissionError:
        raise ImageError(f"{path}: permission denied") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{path}: image too large (over {MAX_IMAGE_PIXELS:,} pixels)") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: unreadable image ({first_line(exc, type(exc).__name__)})") from None
    if rgb.shape[0] < 2 or rgb.shape[1] < 2:
        raise ImageError(f"{path}: image too small ({rgb.shape[1]}x{rgb.shape[0]})")
    return np.ascontiguousarray(rgb)


def upright_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of the photo as load_rgb returns it, from the header alone, for sidecars
    whose face regions are fractions of the upright photo."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            turned = _ORIENTATION_TRANSPOSE.get(image.getexif().get(ExifTags.Base.Orientation, 1))
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: unreadable image ({first_line(exc, type(exc).__name__)})") from None
    sideways = turned in (
        Image.Transpose.TRANSPOSE,
        Image.Transpose.ROTATE_270,
        Image.Transpose.TRANSVERSE,
        Image.Transpose.ROTATE_90,
    )
    return (height, width) if sideways else (width, height)


_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _upright(image: Image.Image) -> Image.Image:
    """Applies EXIF orientation without rewriting the EXIF block, which Pillow's exif_transpose
    does and which fails on the mislabelled tags some cameras write."""
    method = _ORIENTATION_TRANSPOSE.get(image.getexif().get(ExifTags.Base.Orientation, 1))
    return image.transpose(method) if method is not None else image


def _to_rgb(image: Image.Image) -> Image.Image:
    """16-bit, CMYK, palette and grey images all become 8-bit RGB."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        peak = max(float(array.max()), 1.0)
        scale = 255.0 / (65535.0 if peak > 255 else 255.0)
        image = Image.fromarray(np.clip(array * scale, 0, 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image.convert("RGB")

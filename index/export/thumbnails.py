"""Face thumbnails for the HTML contact sheet, cut from the user's photos (read-only)."""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
from PIL import Image

from facesim.images import load_rgb
from index.persons.face_rows import FaceRow

THUMBNAIL_SIDE = 112
# A little context around the detector's tight box makes a face recognisable at a glance.
THUMBNAIL_MARGIN = 0.2


@lru_cache(maxsize=8)
def _photo(path: str) -> np.ndarray:
    """Group photos contribute several faces in a row; decode each once."""
    return load_rgb(path)


def face_thumbnail(row: FaceRow) -> bytes:
    rgb = _photo(row.photo_path)
    left, top, right, bottom = row.box
    pad = int(THUMBNAIL_MARGIN * max(right - left, bottom - top))
    height, width = rgb.shape[:2]
    crop = rgb[max(0, top - pad) : min(height, bottom + pad), max(0, left - pad) : min(width, right + pad)]
    image = Image.fromarray(crop)
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()

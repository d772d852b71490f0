"""Regenerates sample_data/ from a local copy of LFW; the project never runs this at run time.

The committed files are what tests and examples use, so this script exists only to show where they
came from and to rebuild them the same way. Every photo is checked with facesim's own loader and
HOG detector, because a sample that the pipeline cannot read (or reads wrongly) would make the
tests built on it meaningless.

    python sample_data/build_sample_data.py /path/to/lfw        # holds images/ and pairsDevTest.txt

It replaces sample_data/photos/ entirely and rewrites pairs.csv and groups.json.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import numpy as np
from PIL import ExifTags, Image

from facesim.detection import DetectedFace, detect_faces
from facesim.errors import ImageError
from facesim.images import load_rgb

# People from LFW's DevTest split (never used for training, so results on them are for unseen
# people), chosen by hand for a spread of sex, age and skin tone; each has at least 6 photos.
PEOPLE = (
    "Amelie_Mauresmo",
    "Condoleezza_Rice",
    "Salma_Hayek",
    "Julie_Gerberding",
    "Natalie_Coughlin",
    "Jiang_Zemin",
    "Muhammad_Ali",
    "Leonardo_DiCaprio",
    "Abdullah_Gul",
    "Jimmy_Carter",
)
SINGLES_PER_PERSON = 4
# Each group shot uses the next usable photo (after the singles) of these people, in this order.
GROUPS = (
    ("group_01.jpg", "row", PEOPLE[0:2]),
    ("group_02.jpg", "row", PEOPLE[2:6]),
    ("group_03.jpg", "grid", PEOPLE[6:10]),
)
# LFW photos are 250x250 with the subject centred; this central column keeps the whole face and
# drops most of any bystander, so a group shot has exactly one face per tile.
TILE_BOX = (45, 0, 205, 250)
# The EXIF sample is cropped to portrait so that a loader that ignores EXIF returns the wrong shape.
PORTRAIT_BOX = (30, 0, 220, 250)
EXIF_ORIENTATION = 6  # "rotate 90 degrees clockwise to display": how phones store portrait shots
JPEG_QUALITY = 92
DIFFERENT_PAIRS = 60
PAIRS_SEED = 20240611
TRUNCATE_FRACTION = 0.4


def fail(message: str) -> NoReturn:
    raise SystemExit(f"build_sample_data: {message}")


def devtest_people(lfw: Path) -> set[str]:
    names: set[str] = set()
    for line in (lfw / "pairsDevTest.txt").read_text().splitlines()[1:]:
        fields = line.split()
        names.update(fields[0::2] if len(fields) == 4 else fields[:1])
    return names


def is_single_centred_face(rgb: np.ndarray) -> bool:
    """Exactly one face, covering the centre: an unambiguous sample of the named person."""
    faces = detect_faces(rgb)
    height, width = rgb.shape[:2]
    return len(faces) == 1 and faces[0].contains(width / 2, height / 2)


def usable_photos(lfw: Path, name: str) -> Iterator[Path]:
    for path in sorted((lfw / "images" / name).glob(f"{name}_*.jpg")):
        if is_single_centred_face(load_rgb(path)):
            yield path


def tile(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB").crop(TILE_BOX)


def compose_group(paths: list[Path], layout: str) -> tuple[Image.Image, list[tuple[int, int, int, int]]]:
    """Tiles side by side ("row") or two by two ("grid"); boxes are listed row by row, left to right."""
    tiles = [tile(path) for path in paths]
    width, height = tiles[0].size
    columns = len(tiles) if layout == "row" else 2
    rows = -(-len(tiles) // columns)
    canvas = Image.new("RGB", (columns * width, rows * height))
    boxes = []
    for index, piece in enumerate(tiles):
        left, top = (index % columns) * width, (index // columns) * height
        canvas.paste(piece, (left, top))
        boxes.append((left, top, left + width, top + height))
    return canvas, boxes


def faces_match_tiles(faces: list[DetectedFace], boxes: list[tuple[int, int, int, int]]) -> bool:
    """One detected face per tile, each centred inside its own tile."""
    owners = []
    for face in faces:
        x, y = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
        owners += [i for i, (left, top, right, bottom) in enumerate(boxes) if left <= x < right and top <= y < bottom]
    return sorted(owners) == list(range(len(boxes)))


def save_jpeg(image: Image.Image, path: Path, **options: object) -> None:
    image.save(path, "JPEG", quality=JPEG_QUALITY, **options)


def build_rotated(source: Path, target: Path) -> bool:
    """Stores a portrait crop sideways with an EXIF tag; keeps it only if the tag is what makes HOG see the face."""
    with Image.open(source) as image:
        upright = image.convert("RGB").crop(PORTRAIT_BOX)
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = EXIF_ORIENTATION
    # Orientation 6 asks the viewer to turn the stored pixels clockwise, so they are stored anticlockwise.
    save_jpeg(upright.transpose(Image.Transpose.ROTATE_90), target, exif=exif)
    loaded = load_rgb(target)
    with Image.open(target) as stored:
        raw = np.asarray(stored.convert("RGB"))
    if loaded.shape != (upright.height, upright.width, 3):
        fail(f"{target}: load_rgb ignored the EXIF orientation (shape {loaded.shape})")
    if np.abs(loaded.astype(int) - np.asarray(upright, dtype=int)).mean() > 4:
        fail(f"{target}: load_rgb turned the photo the wrong way")
    if not detect_faces(loaded):
        return False
    return not detect_faces(raw)


def build_no_face(candidates: list[Path], target: Path) -> None:
    """A real background corner, blown up to LFW size: photo-like texture with no face in it."""
    size = 64
    for path in candidates:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
        width, height = rgb.size
        for left, top in ((0, 0), (width - size, 0), (0, height - size), (width - size, height - size)):
            corner = rgb.crop((left, top, left + size, top + size)).resize((250, 250), Image.Resampling.BICUBIC)
            save_jpeg(corner, target)
            if not detect_faces(load_rgb(target)):
                return
    fail("no face-free corner found for no_face.jpg")


def build_bad_files(photos: Path, real_jpeg: Path) -> None:
    (photos / "bad_empty.jpg").write_bytes(b"")
    data = real_jpeg.read_bytes()
    (photos / "bad_truncated.jpg").write_bytes(data[: int(len(data) * TRUNCATE_FRACTION)])
    (photos / "bad_text.png").write_text("This is a text file with a .png name, not a picture.\n")
    for name in ("bad_empty.jpg", "bad_truncated.jpg", "bad_text.png"):
        try:
            load_rgb(photos / name)
        except ImageError:
            continue
        fail(f"load_rgb accepted {name}")


def write_pairs(path: Path, singles: dict[str, list[str]]) -> None:
    """Every same-person pair, then a seeded sample of as many different-person pairs."""
    rows = [(a, b, 1) for name in PEOPLE for a, b in itertools.combinations(singles[name], 2)]
    rng = random.Random(PAIRS_SEED)
    seen: set[frozenset[str]] = set()
    while len(seen) < DIFFERENT_PAIRS:
        first, second = rng.sample(PEOPLE, 2)
        pair = (rng.choice(singles[first]), rng.choice(singles[second]))
        if frozenset(pair) not in seen:
            seen.add(frozenset(pair))
            rows.append((*pair, 0))
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("path_a", "path_b", "label"))
        writer.writerows((f"photos/{a}", f"photos/{b}", label) for a, b, label in rows)


def build(lfw: Path, out: Path) -> None:
    missing = set(PEOPLE) - devtest_people(lfw)
    if missing:
        fail(f"not in pairsDevTest.txt: {sorted(missing)}")
    photos = out / "photos"
    if photos.exists():
        shutil.rmtree(photos)
    photos.mkdir(parents=True)

    singles: dict[str, list[str]] = {}
    spares: dict[str, list[Path]] = {}
    for name in PEOPLE:
        usable = list(usable_photos(lfw, name))
        if len(usable) < SINGLES_PER_PERSON + 2:
            fail(f"{name}: only {len(usable)} photos with one clear face")
        for path in usable[:SINGLES_PER_PERSON]:
            shutil.copyfile(path, photos / path.name)
        singles[name] = [path.name for path in usable[:SINGLES_PER_PERSON]]
        spares[name] = usable[SINGLES_PER_PERSON:]

    groups = {}
    for filename, layout, members in GROUPS:
        sources = [next(p for p in spares[name] if is_single_centred_face(np.asarray(tile(p)))) for name in members]
        canvas, boxes = compose_group(sources, layout)
        save_jpeg(canvas, photos / filename)
        if not faces_match_tiles(detect_faces(load_rgb(photos / filename)), boxes):
            fail(f"{filename}: HOG does not find exactly one face per tile")
        groups[filename] = {
            "layout": layout,
            "order": "row by row, left to right",
            "people": [
                {"name": name, "source": source.name, "tile": list(box)}
                for name, source, box in zip(members, sources, boxes, strict=True)
            ],
        }
        for name, source in zip(members, sources, strict=True):
            spares[name].remove(source)
    (out / "groups.json").write_text(json.dumps(groups, indent=2) + "\n")

    rotated = next((p for name in PEOPLE for p in spares[name] if build_rotated(p, photos / "rotated_exif.jpg")), None)
    if rotated is None:
        fail("no spare photo whose face HOG finds only after the EXIF turn")
    print(f"rotated_exif.jpg from {rotated.name}")

    build_no_face([p for name in PEOPLE for p in spares[name] if p != rotated], photos / "no_face.jpg")
    build_bad_files(photos, lfw / "images" / PEOPLE[0] / singles[PEOPLE[0]][0])
    write_pairs(out / "pairs.csv", singles)

    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"{len(list(photos.iterdir()))} photos, {total / 1e6:.2f} MB in {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lfw", type=Path, help="LFW folder holding images/ and pairsDevTest.txt")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="default: this folder")
    args = parser.parse_args()
    build(args.lfw, args.out)


if __name__ == "__main__":
    main()

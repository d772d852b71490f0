"""Per-photo time for large photos (1, 4 and 12 MP) and whether their faces are still found.

Test photos are made from LFW: single-face LFW photos are upscaled and pasted onto a 4:3
canvas (smooth gradient plus noise, saved as JPEG quality 92 like a camera file), so there are
real faces at known places. "portrait" tiles are a fifth of the canvas width (faces about 9% of
the width); "crowd" tiles are 180 px at 12 MP (faces of roughly 80 px), below what detection on
the smallest face facesim looks for at 12 MP. facesim detects on a copy scaled so that the
smallest face it looks for (facesim.detection.min_face_size) fills the detector's window, and
maps boxes back; the baseline (face_recognition) runs HOG with one upsample on the
full-resolution photo.

    python benchmarks/large_photos.py --lfw ../shared/data/lfw [--quick] [--repeats 3]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from face_recognition_baseline import FaceRecognitionPipeline
from PIL import Image
from speedkit import DEFAULT_LFW, lfw_sample, markdown_table, print_header

from facesim.config import MIN_FACE_FRACTION, MIN_FACE_PX
from facesim.detection import detect_faces, detection_copy, detection_scale
from facesim.images import load_rgb
from facesim.pipeline import faces_in_photo

TILES = 4


@dataclass(frozen=True)
class TestPhoto:
    name: str
    path: Path
    size: tuple[int, int]
    tiles: tuple[tuple[int, int, int, int], ...]  # left, top, right, bottom of each pasted LFW photo

    @property
    def megapixels(self) -> float:
        return self.size[0] * self.size[1] / 1e6

    def faces_in_tiles(self, boxes: list[tuple[int, int, int, int]]) -> int:
        """Pasted faces found: tiles holding at least one box centre."""
        return sum(
            any(left <= (b[0] + b[2]) / 2 <= right and top <= (b[1] + b[3]) / 2 <= bottom for b in boxes)
            for left, top, right, bottom in self.tiles
        )


def single_face_photos(lfw: Path, count: int) -> tuple[list[Path], float]:
    """LFW photos in which the detector finds exactly one face, so every tile holds one face, and
    the mean width of those faces as a fraction of the photo's (to state face sizes in pixels)."""
    chosen, widths = [], []
    for path in lfw_sample(lfw, 200):
        rgb = load_rgb(path)
        found = detect_faces(rgb)
        if len(found) == 1:
            chosen.append(path)
            widths.append((found[0].box[2] - found[0].box[0]) / rgb.shape[1])
            if len(chosen) == count:
                return chosen, float(np.mean(widths))
    raise SystemExit("not enough single-face LFW photos in the sample")


def make_photo(name: str, folder: Path, size: tuple[int, int], tile: int, faces: list[Path]) -> TestPhoto:
    width, height = size
    rng = np.random.default_rng(0)
    ramp = np.linspace(60, 190, width, dtype=np.float32)[None, :, None] + np.linspace(-30, 30, height)[:, None, None]
    canvas = np.clip(ramp + rng.normal(0, 6, (height, width, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(canvas)
    gap = (width - TILES * tile) // (TILES + 1)
    top = (height - tile) // 2
    tiles = []
    for i, face in enumerate(faces):
        left = gap + i * (tile + gap)
        with Image.open(face) as lfw_photo:
            image.paste(lfw_photo.convert("RGB").resize((tile, tile), Image.Resampling.BICUBIC), (left, top))
        tiles.append((left, top, left + tile, top + tile))
    path = folder / f"{name}.jpg"
    image.save(path, quality=92)
    return TestPhoto(name, path, size, tuple(tiles))


def timed(work: Callable[[], object], repeats: int) -> tuple[float, float, object]:
    """Median wall and CPU seconds over `repeats` runs, and the last result."""
    walls, cpus = [], []
    result: object = None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), result


def minimum_face_sizes(photo: TestPhoto, repeats: int) -> list[list[str]]:
    """What MIN_FACE_FRACTION trades: faces found and detection cost at other fractions."""
    rgb = load_rgb(photo.path)
    rows = []
    for fraction in sorted({MIN_FACE_FRACTION, 0.03, 0.02, 0.01}, reverse=True):
        min_face = max(MIN_FACE_PX, fraction * max(photo.size))
        scale = detection_scale(*photo.size, min_face)
        _, cpu, found = timed(lambda m=min_face: detect_faces(rgb, min_face=m), repeats)
        boxes = [face.box for face in found]  # type: ignore[attr-defined]
        pasted = photo.faces_in_tiles(boxes)
        rows.append(
            [
                f"{fraction:.0%}{' (current)' if fraction == MIN_FACE_FRACTION else ''}",
                f"{photo.size[0] * scale.zoom:.0f}x{photo.size[1] * scale.zoom:.0f}, upsample {scale.upsample}",
                f"{min_face:.0f}",
                f"{pasted}/{TILES} (+{len(boxes) - pasted})",
                f"{cpu * 1000:.0f}",
            ]
        )
    return rows


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per photo for facesim (median)")
    parser.add_argument("--quick", action="store_true", help="one facesim run per photo, baseline at 1 MP only")
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    print_header("Large photos: per-photo time and faces found")

    faces, face_fraction = single_face_photos(args.lfw, TILES)
    baseline = FaceRecognitionPipeline()
    with tempfile.TemporaryDirectory(prefix="facesim-large-") as tmp:
        folder = Path(tmp)
        photos = [
            make_photo("1 MP portrait", folder, (1152, 864), 1152 // 5, faces),
            make_photo("4 MP portrait", folder, (2304, 1728), 2304 // 5, faces),
            make_photo("12 MP portrait", folder, (4000, 3000), 4000 // 5, faces),
            make_photo("12 MP crowd", folder, (4000, 3000), 180, faces),
        ]
        faces_in_photo(photos[0].path)  # loads the models outside the timings

        rows = []
        for photo in photos:
            rgb = load_rgb(photo.path)
            scale = detection_scale(*photo.size)
            decode_s = timed(lambda p=photo: load_rgb(p.path), repeats)[1]
            downscale_s = timed(lambda image=rgb, zoom=scale.zoom: detection_copy(image, zoom), repeats)[1]
            detect_s = timed(lambda image=rgb: detect_faces(image), repeats)[1]
            wall, cpu, found = timed(lambda p=photo: faces_in_photo(p.path), repeats)
            boxes = [face.detection.box for face in found]  # type: ignore[attr-defined]
            face_px = (photo.tiles[0][2] - photo.tiles[0][0]) * face_fraction
            rows.append(
                [
                    photo.name,
                    f"{photo.size[0]}x{photo.size[1]}",
                    f"{photo.size[0] * scale.zoom:.0f}x{photo.size[1] * scale.zoom:.0f}, upsample {scale.upsample}",
                    f"~{face_px:.0f}",
                    f"{scale.smallest_face:.0f}",
                    f"{photo.faces_in_tiles(boxes)}/{TILES} (+{len(boxes) - photo.faces_in_tiles(boxes)})",
                    f"{wall * 1000:.0f}",
                    f"{cpu * 1000:.0f}",
                    f"{decode_s * 1000:.0f}",
                    f"{downscale_s * 1000:.0f}",
                    f"{detect_s * 1000:.0f}",
                ]
            )
        facesim_rss = peak_rss_mb()

        baseline_rows = []
        for photo in photos[:1] if args.quick else photos:
            wall, cpu, rects = timed(lambda p=photo: baseline.locations(baseline.load(p.path)), 1)
            boxes = [(r.left(), r.top(), r.right(), r.bottom()) for r in rects]  # type: ignore[attr-defined]
            found = photo.faces_in_tiles(boxes)
            baseline_rows.append(
                [photo.name, f"{found}/{TILES} (+{len(boxes) - found})", f"{wall * 1000:.0f}", f"{cpu * 1000:.0f}"]
            )
        baseline_rss = peak_rss_mb()
        crowd_rows = minimum_face_sizes(photos[-1], repeats)

    print(
        "facesim: faces_in_photo (decode, detect on a copy scaled to the smallest face sought, landmarks and "
        f"chips at full resolution, embed), median of {repeats}; the stage columns are separate timings\n"
    )
    headers = [
        "photo",
        "pixels",
        "detection copy",
        "face px",
        "smallest findable face px",
        "pasted faces found (+other)",
        "facesim ms",
        "facesim CPU ms",
        "decode CPU ms",
        "detection copy CPU ms",
        "detect (copy, HOG, landmarks) CPU ms",
    ]
    print(markdown_table(headers, rows))
    print("\nbaseline: face_recognition decode + HOG upsample 1 at full resolution (detection only, one run)\n")
    print(markdown_table(["photo", "pasted faces found (+other)", "wall ms", "CPU ms"], baseline_rows))
    print(
        f"\npeak RSS of this process: {facesim_rss:.0f} MB after the facesim runs, "
        f"{baseline_rss:.0f} MB after the baseline's full-resolution detection"
    )
    print(f"\n{photos[-1].name}: other minimum face sizes, as a fraction of the long side (recall vs cost):\n")
    headers = [
        "minimum face",
        "detection copy",
        "smallest face sought px",
        "pasted faces found (+other)",
        "detect (copy, HOG, landmarks) CPU ms",
    ]
    print(markdown_table(headers, crowd_rows))


if __name__ == "__main__":
    main()

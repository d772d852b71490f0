"""`facesim index` at its defaults, as a user runs it on a folder of ordinary photos, against the
dlib pipeline face_recognition runs (HOG upsample 1, 5-point chip, dlib ResNet, one process), in
one run: wall time from process start (cold CLI included), faces found, and recall against the
baseline's faces per photo-size bucket.

The photo sets are built from LFW people who are not in pairsDevTest.txt (never used here), in a
cache folder outside the repository, seeded so that every run builds the same photos:
- wild: LFW photos cropped to 3:4, 4:3 or 1:1 and upscaled (Lanczos) to a long side of 400 to
  1,200 px, and, for a quarter of them, group shots of 2 to 6 LFW faces on one canvas;
- crops: LFW's 250x250 crops as they are (the set earlier benchmarks used);
- 12mp: 4000x3000 group shots, for the per-photo time of a 12 MP photo at defaults (the time of
  indexing all of them minus that of indexing half, per photo, so start-up cancels out).
The default detector is YuNet; `--detector hog` (the default until issue 24) runs beside it on
the wild set. On the crops, whose subject is always there, the detectors are also compared
(`--detector hog`, `thorough`, `cnn`): a photo counts as found when a face box covers its centre.

A face of facesim's matches a baseline face when their boxes overlap by IoU >= 0.4; "extra" counts
the faces facesim finds that the baseline does not. With `--floors`, last and in this process,
HOG detection alone on the wild set at other MIN_FACE_PX floors: its CPU cost and recall.

    python benchmarks/real_folder_speed.py --lfw ../shared/data/lfw            # the full run
    python benchmarks/real_folder_speed.py --photos 20 --crops 10 --big 4 --skip-cnn   # smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sqlite3
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from speedkit import DEFAULT_LFW, REPO_ROOT, ChildRun, copy_photos, markdown_table, print_header, run_child

from facesim.config import GALLERY_DB_NAME, MIN_FACE_FRACTION, MIN_FACE_PX
from facesim.geometry import box_iou
from index.ingest.workers import default_workers

BASELINE_SCRIPT = Path(__file__).with_name("face_recognition_baseline.py")
# cli.py run as a script imports this checkout's packages (the console script may be another's).
CLI = [sys.executable, str(REPO_ROOT / "cli.py")]
SPEED_GOAL = 8.0
RECALL_GOAL = 0.99
BIG_PHOTO_GOAL_S = 0.3
MATCH_IOU = 0.4
WILD_SIDES = (400, 1200)
GROUP_SHARE = 0.25
BIG_SIZE = (4000, 3000)
JPEG_QUALITY = 90

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Result:
    name: str
    run: ChildRun
    boxes: dict[str, list[Box]]  # photo file name -> its faces' boxes

    @property
    def faces(self) -> int:
        return sum(len(found) for found in self.boxes.values())


def devtest_people(lfw: Path) -> set[str]:
    """Every name in pairsDevTest.txt: lines are 'name n1 n2' or 'name1 n1 name2 n2'."""
    people = set()
    for line in (lfw / "pairsDevTest.txt").read_text().splitlines()[1:]:
        fields = line.split()
        people.update(fields[0::2] if len(fields) == 4 else fields[:1])
    return people


def allowed_photos(lfw: Path, seed: int) -> list[Path]:
    """Seeded order over the photos of people outside DevTest."""
    excluded = devtest_people(lfw)
    photos = [path for path in sorted((lfw / "images").glob("*/*.jpg")) if path.parent.name not in excluded]
    if not photos:
        raise SystemExit(f"no LFW photos under {lfw / 'images'}; pass --lfw")
    random.Random(seed).shuffle(photos)
    return photos


def background(size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """A smooth gradient with sensor-like noise: no faces, and not a flat colour HOG ignores."""
    width, height = size
    ramp = np.linspace(60, 190, width, dtype=np.float32)[None, :, None] + np.linspace(-30, 30, height)[:, None, None]
    return Image.fromarray(np.clip(ramp + rng.normal(0, 6, (height, width, 3)), 0, 255).astype(np.uint8))


def single(photo: Path, long_side: int, rng: np.random.Generator) -> Image.Image:
    with Image.open(photo) as image:
        rgb = image.convert("RGB")
    aspect = rng.choice([3 / 4, 4 / 3, 1.0])  # width / height
    width, height = rgb.size
    crop = (round(width * min(1, aspect)), round(height * min(1, 1 / aspect)))
    left, top = (width - crop[0]) // 2, (height - crop[1]) // 2
    rgb = rgb.crop((left, top, left + crop[0], top + crop[1]))
    factor = long_side / max(crop)
    return rgb.resize((round(crop[0] * factor), round(crop[1] * factor)), Image.Resampling.LANCZOS)


def group(photos: list[Path], size: tuple[int, int], min_tile: int, rng: np.random.Generator) -> Image.Image:
    """LFW crops pasted on a grid with jitter, in one or two rows; fewer people when the canvas
    cannot give each a tile of `min_tile` px (their faces are about 0.36 of the tile)."""
    width, height = size
    count = len(photos)
    while True:
        rows = 1 if count <= 3 else 2
        cols = math.ceil(count / rows)
        largest = min(width / (cols + 0.5), height / (rows + 0.3))
        if largest >= min_tile or count == 2:
            break
        count -= 1
    tile = int(rng.uniform(max(min_tile, 0.6 * largest), largest)) if largest > min_tile else int(largest)
    canvas = background(size, rng)
    cell_w, cell_h = width / cols, height / rows
    for i, photo in enumerate(photos[:count]):
        row, col = divmod(i, cols)
        x = int(col * cell_w + rng.uniform(0, max(0.0, cell_w - tile)))
        y = int(row * cell_h + rng.uniform(0, max(0.0, cell_h - tile)))
        with Image.open(photo) as image:
            canvas.paste(image.convert("RGB").resize((tile, tile), Image.Resampling.LANCZOS), (x, y))
    return canvas


def build_sets(lfw: Path, root: Path, wild: int, crops: int, big: int, seed: int) -> dict[str, Path]:
    photos = allowed_photos(lfw, seed)
    rng = np.random.default_rng(seed)
    needed = crops + wild * 6 + big * 10
    if needed > len(photos):
        raise SystemExit(f"asked for sets needing {needed} LFW photos; {len(photos)} are outside DevTest")
    pool = iter(photos)
    sets = {name: root / name for name in ("wild", "crops", "12mp", "12mp-half")}
    for folder in sets.values():
        folder.mkdir(parents=True, exist_ok=True)
    copy_photos([next(pool) for _ in range(crops)], sets["crops"])
    for i in range(wild):
        long_side = int(rng.integers(WILD_SIDES[0], WILD_SIDES[1] + 1))
        if rng.random() < GROUP_SHARE:
            size = (long_side, round(long_side * 3 / 4))
            image, kind = group([next(pool) for _ in range(int(rng.integers(2, 7)))], size, 110, rng), "group"
        else:
            image, kind = single(next(pool), long_side, rng), "single"
        image.save(sets["wild"] / f"{kind}_{i:04d}.jpg", quality=JPEG_QUALITY)
    for i in range(big):
        image = group([next(pool) for _ in range(int(rng.integers(4, 11)))], BIG_SIZE, 450, rng)
        image.save(sets["12mp"] / f"group_{i:02d}.jpg", quality=JPEG_QUALITY)
    copy_photos(sorted(sets["12mp"].iterdir())[: max(1, big // 2)], sets["12mp-half"])
    return sets


def run_baseline(folder: Path) -> Result:
    run = run_child([sys.executable, BASELINE_SCRIPT, folder], env={"PYTHONPATH": str(REPO_ROOT)})
    boxes = {name: [tuple(box) for box in found] for name, found in json.loads(run.stdout)["boxes"].items()}
    return Result("dlib pipeline (HOG up 1, 5-pt, ResNet), 1 process", run, boxes)


def run_facesim(folder: Path, gallery: Path, options: list[str], name: str) -> Result:
    run = run_child([*CLI, "index", folder, "--index", gallery, "--json", *options])
    summary = json.loads(run.stdout)
    if summary["errors"]:
        raise SystemExit(f"facesim index reported errors: {summary['errors'][:3]}")
    boxes: dict[str, list[Box]] = {}
    with sqlite3.connect(gallery / GALLERY_DB_NAME) as db:
        for (path,) in db.execute("SELECT path FROM photos"):
            boxes[Path(path).name] = []
        query = (
            'SELECT p.path, f."left", f."top", f."right", f."bottom" FROM faces f JOIN photos p ON p.id = f.photo_id'
        )
        for path, *box in db.execute(query):
            boxes[Path(path).name].append(tuple(box))
    return Result(name, run, boxes)


def matched(ours: list[Box], theirs: list[Box]) -> int:
    """Greedy one-to-one matching, best overlaps first."""
    pairs = sorted(((box_iou(a, b), i, j) for i, a in enumerate(ours) for j, b in enumerate(theirs)), reverse=True)
    used_a, used_b, count = set(), set(), 0
    for overlap, i, j in pairs:
        if overlap < MATCH_IOU:
            break
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            count += 1
    return count


def bucket(folder: Path, name: str) -> str:
    """Long side in 200 px steps, and whether the photo is a group shot (its file name says)."""
    with Image.open(folder / name) as image:
        longest = max(image.size)
    kind = "group" if name.startswith("group_") else "single"
    if longest >= min(BIG_SIZE):
        return f"12 MP, {kind}"
    if longest <= 250:
        return "LFW crop 250 px"
    low = (longest - 1) // 200 * 200
    return f"{low + 1}-{low + 200} px, {kind}"


def recall_rows(folder: Path, baseline: Result, ours: Result) -> list[list[object]]:
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for name, theirs in baseline.boxes.items():
        mine = ours.boxes.get(name, [])
        hits = matched(mine, theirs)
        row = totals[bucket(folder, name)]
        row[0] += 1
        row[1] += len(theirs)
        row[2] += len(mine)
        row[3] += hits
        row[4] += int(hits < len(theirs))
    rows = []
    for key in sorted(totals):
        photos, theirs, mine, hits, short = totals[key]
        recall = hits / theirs if theirs else float("nan")
        rows.append([ours.name, key, photos, theirs, mine, hits, f"{recall:.3f}", mine - hits, short])
    return rows


def overall_recall(baseline: Result, ours: Result) -> float:
    hits = sum(matched(ours.boxes.get(name, []), theirs) for name, theirs in baseline.boxes.items())
    return hits / max(1, baseline.faces)


def speed_row(set_name: str, result: Result, baseline: Result | None) -> list[object]:
    photos = len(result.boxes)
    return [
        set_name,
        result.name,
        photos,
        result.faces,
        sum(1 for found in result.boxes.values() if found),
        f"{result.run.wall_s:.1f}",
        f"{result.run.cpu_s:.1f}",
        f"{result.run.wall_s / photos * 1000:.0f}",
        f"{baseline.run.wall_s / result.run.wall_s:.2f}x" if baseline else "",
        f"{result.run.peak_tree_rss_mb:.0f}",
    ]


def subject_found(result: Result, folder: Path) -> int:
    """LFW crops have their subject in the middle: found when a box covers the centre."""
    found = 0
    for name, boxes in result.boxes.items():
        with Image.open(folder / name) as image:
            x, y = image.size[0] / 2, image.size[1] / 2
        found += any(left <= x <= right and top <= y <= bottom for left, top, right, bottom in boxes)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    parser.add_argument("--photos", type=int, default=300, help="photos in the wild set (the target needs 300+)")
    parser.add_argument("--crops", type=int, default=300, help="LFW crops, as they are")
    parser.add_argument("--big", type=int, default=6, help="12 MP photos")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-cnn", action="store_true", help="leave out --detector cnn (seconds a photo)")
    parser.add_argument("--cache", type=Path, help="build the photo sets here and keep them (default: a temp dir)")
    parser.add_argument(
        "--floors",
        type=float,
        nargs="*",
        default=[],
        help="MIN_FACE_PX values whose HOG detection cost and recall to compare on the wild set (default: skip)",
    )
    args = parser.parse_args()

    print_header(f"A real folder: {args.photos} photos of 400-1,200 px, {args.crops} LFW crops, {args.big} 12 MP")
    with tempfile.TemporaryDirectory(prefix="facesim-real-") as tmp:
        root = args.cache or Path(tmp)
        sets = build_sets(args.lfw, root / "photos", args.photos, args.crops, args.big, args.seed)
        galleries = Path(tmp) / "galleries"  # always fresh: a kept gallery would index nothing
        results: dict[str, Result] = {}
        results["wild base"] = run_baseline(sets["wild"])
        results["wild"] = run_facesim(sets["wild"], galleries / "wild", [], "facesim index (defaults)")
        results["wild w1"] = run_facesim(sets["wild"], galleries / "wild-w1", ["--workers", "1"], "--workers 1")
        results["wild hog"] = run_facesim(sets["wild"], galleries / "wild-hog", ["--detector", "hog"], "--detector hog")
        results["crops base"] = run_baseline(sets["crops"])
        results["crops"] = run_facesim(sets["crops"], galleries / "crops", [], "facesim index (defaults)")
        results["crops hog"] = run_facesim(
            sets["crops"], galleries / "crops-hog", ["--detector", "hog"], "--detector hog"
        )
        results["crops thorough"] = run_facesim(
            sets["crops"], galleries / "crops-thorough", ["--detector", "thorough"], "--detector thorough"
        )
        if not args.skip_cnn:
            results["crops cnn"] = run_facesim(
                sets["crops"], galleries / "crops-cnn", ["--detector", "cnn"], "--detector cnn"
            )
        results["12mp base"] = run_baseline(sets["12mp"])
        results["12mp"] = run_facesim(sets["12mp"], galleries / "12mp", [], "facesim index (defaults)")
        results["12mp half"] = run_facesim(sets["12mp-half"], galleries / "12mp-half", [], "facesim index (defaults)")
        report(results, sets)
        if args.floors:
            floor_trade_off(sets["wild"], results["wild base"], args.floors)


def report(results: dict[str, Result], sets: dict[str, Path]) -> None:
    speed = [
        speed_row("wild", results["wild base"], results["wild base"]),
        speed_row("wild", results["wild"], results["wild base"]),
        speed_row("wild", results["wild w1"], results["wild base"]),
        speed_row("wild", results["wild hog"], results["wild base"]),
        speed_row("crops", results["crops base"], results["crops base"]),
        speed_row("crops", results["crops"], results["crops base"]),
        speed_row("12mp", results["12mp base"], results["12mp base"]),
        speed_row("12mp", results["12mp"], results["12mp base"]),
    ]
    headers = ["set", "pipeline", "photos", "faces", "photos with a face", "wall s", "CPU s", "wall ms/photo"]
    print(markdown_table([*headers, "speed-up, wall", "peak RSS MB (all processes, sampled)"], speed))
    print("\nwall = from process start to exit (interpreter, imports, models, every photo, SQLite and FAISS).\n")

    wild, base = results["wild"], results["wild base"]
    ratio = base.run.wall_s / wild.run.wall_s
    recall = overall_recall(base, wild)
    scaling = results["wild w1"].run.wall_s / wild.run.wall_s
    big, half = results["12mp"], results["12mp half"]
    big_photos = len(big.boxes) - len(half.boxes)
    per_big = (big.run.wall_s - half.run.wall_s) / big_photos if big_photos else float("nan")
    print(
        f"- wild set: {ratio:.2f}x the baseline's wall time (goal >= {SPEED_GOAL:.0f}x), recall {recall:.3f} "
        f"of its faces (goal >= {RECALL_GOAL:.2f})"
    )
    print(f"- scaling: the default ({default_workers()} workers here) is {scaling:.2f}x as fast as --workers 1")
    print(
        f"- 12 MP at defaults: {per_big:.3f} s a photo beyond start-up ((all - half) / photos), "
        f"{big.run.wall_s / len(big.boxes):.3f} s a photo with it (goal <= {BIG_PHOTO_GOAL_S} s)"
    )

    print("\nRecall against the baseline's faces, by photo size (IoU >= 0.4, one to one):\n")
    rows = recall_rows(sets["wild"], base, wild) + recall_rows(sets["wild"], base, results["wild hog"])
    rows += recall_rows(sets["crops"], results["crops base"], results["crops"])
    rows += recall_rows(sets["12mp"], results["12mp base"], big)
    headers = ["facesim", "bucket", "photos", "baseline faces", "facesim faces", "matched", "recall", "extra"]
    print(markdown_table([*headers, "photos with a miss"], rows))

    print("\nDetectors on LFW crops, whose subject is always there (found: a box covers the centre):\n")
    crops = sets["crops"]
    contenders = [results["crops base"], results["crops"], results["crops hog"], results["crops thorough"]]
    contenders += [results["crops cnn"]] if "crops cnn" in results else []
    detector_rows = [
        [
            result.name,
            len(result.boxes),
            f"{subject_found(result, crops)} ({subject_found(result, crops) / len(result.boxes):.3f})",
            result.faces,
            f"{result.run.wall_s:.1f}",
            f"{result.run.wall_s / results['crops'].run.wall_s:.2f}x",
        ]
        for result in contenders
    ]
    headers = ["detector", "photos", "subject found", "faces", "wall s", "wall vs facesim default"]
    print(markdown_table(headers, detector_rows))


def floor_trade_off(folder: Path, baseline: Result, floors: list[float]) -> None:
    """What the 40 px floor costs: below MIN_FACE_FRACTION's crossover every photo gets the 2x
    upsample, as in the baseline, so the floor decides HOG's cost on photos up to 1,000 px. Run
    last and in this process (detection alone, one photo at a time, CPU time), so that no child
    above inherited dlib's memory."""
    from facesim.detection import detect_faces
    from facesim.images import load_rgb

    rows, reference = [], None
    for floor in floors:
        cpu, hits = 0.0, 0
        for name in sorted(baseline.boxes):
            rgb = load_rgb(folder / name)
            started = time.process_time()
            faces = detect_faces(rgb, "hog", min_face=max(floor, MIN_FACE_FRACTION * max(rgb.shape[:2])))
            cpu += time.process_time() - started
            hits += matched([face.box for face in faces], baseline.boxes[name])
        reference = reference or cpu
        current = " (current)" if floor == MIN_FACE_PX else ""
        per_photo_ms = cpu / len(baseline.boxes) * 1000
        recall = hits / max(1, baseline.faces)
        rows.append([f"{floor:g}{current}", f"{per_photo_ms:.0f}", f"{cpu / reference:.2f}", f"{recall:.3f}"])
    print(f"\nMinimum face floor on the wild set (detect_faces alone, {len(baseline.boxes)} photos, one process):\n")
    print(markdown_table(["floor px", "CPU ms/photo", f"CPU vs floor {floors[0]:g}", "recall vs baseline"], rows))


if __name__ == "__main__":
    main()

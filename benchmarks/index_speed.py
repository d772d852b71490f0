"""Indexing throughput: `facesim index` end to end against face_recognition's dlib pipeline on the
same LFW photos, with both face counts (the speed target only counts at equal detection recall).

Each contender is a separate process timed from spawn to exit, so interpreter start, imports and
model loading are included for both; facesim also pays for hashing, SQLite and the FAISS file,
the baseline stores nothing. Peak RSS comes from the kernel (largest process) and from sampling
the whole process tree twice a second (what workers cost together); RSS at 25/50/100% of the run
shows whether memory grows with the number of photos indexed.

    python benchmarks/index_speed.py --lfw ../shared/data/lfw [--quick] [--workers 1 2]
    python benchmarks/index_speed.py --memory-sizes 500 1000 2000   # RSS flatness over gallery size
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from speedkit import (
    DEFAULT_LFW,
    FACESIM_CLI,
    ChildRun,
    copy_photos,
    lfw_sample,
    markdown_table,
    print_header,
    run_child,
)

from facesim.config import GALLERY_DB_NAME

BASELINE_SCRIPT = Path(__file__).with_name("face_recognition_baseline.py")
SPEED_GOAL = 3.0


@dataclass(frozen=True)
class Result:
    name: str
    workers: int
    run: ChildRun
    faces: dict[str, int]  # photo file name -> faces found

    @property
    def photos(self) -> int:
        return len(self.faces)

    @property
    def face_total(self) -> int:
        return sum(self.faces.values())

    @property
    def photos_per_s(self) -> float:
        return self.photos / self.run.wall_s


def run_baseline(folder: Path) -> Result:
    run = run_child([sys.executable, BASELINE_SCRIPT, folder], sample_rss=True)
    return Result("face_recognition (dlib HOG up 1 + 5-pt + dlib ResNet)", 1, run, json.loads(run.stdout)["faces"])


def run_facesim(folder: Path, gallery: Path, workers: int) -> Result:
    command = [FACESIM_CLI, "index", folder, "--index", gallery, "--workers", workers, "--json"]
    run = run_child(command, sample_rss=True)
    summary = json.loads(run.stdout)
    if summary["errors"]:
        raise SystemExit(f"facesim index reported errors: {summary['errors'][:3]}")
    with sqlite3.connect(gallery / GALLERY_DB_NAME) as db:
        faces = {Path(path).name: count for path, count in db.execute("SELECT path, n_faces FROM photos")}
    return Result("facesim index", workers, run, faces)


def throughput_table(results: list[Result], baseline: Result) -> str:
    rows = []
    for result in results:
        run = result.run
        rows.append(
            [
                result.name,
                result.workers,
                result.photos,
                result.face_total,
                sum(1 for count in result.faces.values() if count),
                f"{run.wall_s:.1f}",
                f"{result.photos_per_s:.2f}",
                f"{result.face_total / run.wall_s:.2f}",
                f"{run.cpu_s / result.photos * 1000:.0f}",
                f"{run.cpu_share:.2f}",
                f"{run.peak_rss_mb:.0f}",
                f"{run.peak_tree_rss_mb:.0f}",
                f"{result.photos_per_s / baseline.photos_per_s:.2f}x",
                f"{baseline.run.cpu_s / run.cpu_s:.2f}x",
            ]
        )
    headers = [
        "pipeline",
        "workers",
        "photos",
        "faces",
        "photos with a face",
        "wall s",
        "photos/s",
        "faces/s",
        "CPU ms/photo",
        "CPU/wall",
        "peak RSS MB (largest process)",
        "peak RSS MB (all processes, sampled)",
        "speed-up, wall",
        "speed-up, CPU time",
    ]
    return markdown_table(headers, rows)


def recall_lines(result: Result, baseline: Result) -> list[str]:
    """Per photo, not only in total: more faces on one photo must not hide a miss on another."""
    fewer = sorted(name for name, count in baseline.faces.items() if result.faces.get(name, 0) < count)
    more = sorted(name for name, count in baseline.faces.items() if result.faces.get(name, 0) > count)
    verdict = "equal or better" if not fewer and result.face_total >= baseline.face_total else "LOWER"
    lines = [
        f"- {result.name}, {result.workers} worker(s): {result.face_total} faces vs baseline {baseline.face_total}; "
        f"fewer faces on {len(fewer)} photos, more on {len(more)}: detection recall {verdict}"
    ]
    if fewer:
        lines.append(f"  - fewer on: {', '.join(fewer[:10])}{' ...' if len(fewer) > 10 else ''}")
    return lines


def memory_table(results: list[Result]) -> str:
    rows = [
        [
            result.photos,
            result.workers,
            f"{result.run.peak_rss_mb:.0f}",
            f"{result.run.rss_at(0.25):.0f}",
            f"{result.run.rss_at(0.5):.0f}",
            f"{result.run.rss_at(0.95):.0f}",
        ]
        for result in results
    ]
    headers = ["photos", "workers", "peak RSS MB", "RSS at 25% of run", "RSS at 50%", "RSS at 95%"]
    return markdown_table(headers, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    parser.add_argument("--photos", type=int, default=1000, help="LFW photos to index (seeded sample)")
    parser.add_argument("--quick", action="store_true", help="150 photos, for a smoke run")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="facesim --workers values to time")
    parser.add_argument(
        "--memory-sizes", type=int, nargs="*", default=[], help="also index these many photos (1 worker) for peak RSS"
    )
    args = parser.parse_args()
    count = 150 if args.quick else args.photos

    print_header(f"Indexing throughput, {count} LFW photos")
    with tempfile.TemporaryDirectory(prefix="facesim-bench-") as tmp:
        root = Path(tmp)
        folder = copy_photos(lfw_sample(args.lfw, count), root / "photos")
        baseline = run_baseline(folder)
        ours = [run_facesim(folder, root / f"gallery-w{workers}", workers) for workers in args.workers]
        sized = []
        for size in args.memory_sizes:
            subset = copy_photos(lfw_sample(args.lfw, size), root / f"photos-{size}")
            sized.append(run_facesim(subset, root / f"gallery-{size}", 1))

    results = [baseline, *ours]
    print(throughput_table(results, baseline))
    print(
        "\nspeed-up = facesim photos/s over the baseline's in the same run (goal >= "
        f"{SPEED_GOAL:.0f}x); 'CPU time' divides CPU seconds instead, which a busy shared core distorts less."
    )
    print("\nDetection recall (same photos, per photo):\n")
    for result in ours:
        print("\n".join(recall_lines(result, baseline)))
    print("\nMemory over the run (whole process tree, sampled every 0.5 s):\n")
    print(memory_table(sorted(results[1:] + sized, key=lambda result: (result.workers, result.photos))))
    print(f"\nbaseline RSS at 25/50/95% of its run: {[round(baseline.run.rss_at(f)) for f in (0.25, 0.5, 0.95)]} MB")


if __name__ == "__main__":
    main()

"""Soak: one indexer and several readers on one gallery for minutes at a stretch.

The indexer is the real `facesim index`, run again and again while new photos arrive in its
folder (a chunk before each run), so the gallery commits batch after batch for the whole soak.
Each reader is a process of its own that calls `match`, `photos` and `info` in turn, in process
(typer's CliRunner), and times each call: the latency of the command's work, without the Python
start-up a shell would add. Readers check that the photo count they see never goes down (a
commit once seen is never lost); at the end, every photo in the folder must be in the gallery
and SQLite's integrity check must pass.

The photos are sample_data's one-person photos, each copy with a few pixels changed, so every
copy is a photo of its own (its own hash and vector) with a face the detector finds.

    python benchmarks/soak.py [--photos 3000] [--seconds 300] [--readers 4] [--chunk 100]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMANDS = ("match", "photos", "info")


def make_photos(dest: Path, count: int) -> list[Path]:
    """`count` distinct JPEGs: each sample photo with a 2x2 corner block set to its copy number."""
    from PIL import Image

    sources = sorted((REPO / "sample_data" / "photos").glob("*_[0-9][0-9][0-9][0-9].jpg"))
    dest.mkdir(parents=True, exist_ok=True)
    made = []
    for number in range(count):
        source = sources[number % len(sources)]
        with Image.open(source) as image:
            pixels = image.convert("RGB")
        for x in range(2):
            for y in range(2):
                pixels.putpixel((x, y), (number % 256, (number // 256) % 256, 7))
        path = dest / f"{number:05d}_{source.name}"
        pixels.save(path, quality=95)
        made.append(path)
    return made


def reader(gallery: Path, query: Path, until: float, out: Path) -> None:
    """Loops over COMMANDS until `until` (time.time()); writes latencies and errors as JSON."""
    from typer.testing import CliRunner

    from cli import app

    runner = CliRunner()
    arguments = {
        "match": ["match", str(query), "--top-k", "5", "--json"],
        "photos": ["photos", "--json"],
        "info": ["info", "--json"],
    }
    latencies: dict[str, list[float]] = {command: [] for command in COMMANDS}
    errors: list[str] = []
    seen = 0
    calls = 0
    while time.time() < until:
        command = COMMANDS[calls % len(COMMANDS)]
        calls += 1
        start = time.perf_counter()
        result = runner.invoke(app, [*arguments[command], "--index", str(gallery)])
        latencies[command].append(time.perf_counter() - start)
        if result.exit_code != 0:
            errors.append(f"{command}: exit {result.exit_code}: {result.stderr.strip()[:300]}")
        elif command == "info":
            photos = json.loads(result.stdout)["photos"]
            if photos < seen:
                errors.append(f"info: {photos} photos after {seen}: a commit was lost")
            seen = max(seen, photos)
    out.write_text(json.dumps({"latencies": latencies, "errors": errors}))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def soak(photos: int, seconds: float, readers: int, chunk: int, work: Path) -> dict:
    made = make_photos(work / "made", photos)
    folder, gallery = work / "photos", work / "gallery"
    folder.mkdir()
    waiting = list(made)

    def feed() -> None:
        for path in waiting[:chunk]:
            path.rename(folder / path.name)
        del waiting[:chunk]

    feed()
    facesim = [sys.executable, "-m", "cli"]
    subprocess.run([*facesim, "index", str(folder), "--index", str(gallery)], cwd=REPO, check=True, capture_output=True)
    until = time.time() + seconds
    query = next(folder.iterdir())
    outs = [work / f"reader{number}.json" for number in range(readers)]
    started = [
        subprocess.Popen(
            [sys.executable, __file__, "--reader", str(gallery), str(query), str(until), str(out)], cwd=REPO
        )
        for out in outs
    ]
    runs, failed_runs = 1, []
    while time.time() < until and waiting:
        feed()
        run = subprocess.run([*facesim, "index", str(folder), "--index", str(gallery)], cwd=REPO, capture_output=True)
        runs += 1
        if run.returncode != 0:
            failed_runs.append(run.stderr.decode(errors="replace").strip()[-300:])
    for process in started:
        process.wait()
    # Once the readers are done, one last run indexes what the last chunk brought.
    subprocess.run([*facesim, "index", str(folder), "--index", str(gallery)], cwd=REPO, check=True, capture_output=True)
    connection = sqlite3.connect(f"file:{gallery / 'gallery.db'}?mode=ro", uri=True)
    try:
        stored = dict(connection.execute("SELECT path, status FROM photos"))
        integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
        faces = connection.execute("SELECT count(*) FROM faces").fetchone()[0]
    finally:
        connection.close()
    in_folder = {str(path) for path in folder.iterdir()}
    missing = sorted(path for path in in_folder if stored.get(path) not in ("indexed", "no_face"))
    results = [json.loads(out.read_text()) for out in outs]
    latencies = {
        command: [value for result in results for value in result["latencies"][command]] for command in COMMANDS
    }
    return {
        "photos_offered": photos,
        "photos_in_folder": len(in_folder),
        "faces": faces,
        "seconds": seconds,
        "readers": readers,
        "index_runs": runs,
        "failed_index_runs": failed_runs,
        "reader_errors": [error for result in results for error in result["errors"]],
        "photos_not_indexed": missing[:10],
        "integrity": integrity,
        "latency_s": {
            command: {
                "calls": len(values),
                "p50": round(statistics.median(values), 3) if values else None,
                "p95": round(percentile(values, 0.95), 3),
                "max": round(max(values), 3) if values else None,
            }
            for command, values in latencies.items()
        },
        "machine": f"{platform.machine()}, {os.cpu_count()} logical cores, Python {platform.python_version()}",
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--reader":
        sys.path.insert(0, str(REPO))
        gallery, query, until, out = sys.argv[2:6]
        reader(Path(gallery), Path(query), float(until), Path(out))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--chunk", type=int, default=100, help="photos that arrive before each index run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="facesim-soak-") as work:
        report = soak(args.photos, args.seconds, args.readers, args.chunk, Path(work))
    print(json.dumps(report, indent=2))
    healthy = not (report["reader_errors"] or report["photos_not_indexed"] or report["failed_index_runs"])
    sys.exit(0 if healthy and report["integrity"] == "ok" else 1)


if __name__ == "__main__":
    main()

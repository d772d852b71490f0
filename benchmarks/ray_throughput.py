"""Indexing throughput of `facesim index --engine ray` on a local Ray cluster of 1 and 2 nodes (one
CPU each), against the local engine, on the same LFW photos.

Each run is a fresh gallery and a separate `facesim index` process timed from spawn to exit, so
interpreter start, the cluster connection, actor start-up and model loading are all included; the
cluster itself is started before the clock (a real cluster outlives any one run). CPU time is
not reported for Ray runs: the actors are the cluster's processes, not children of the timed one.
On one small machine Ray cannot win, since its nodes share the same cores; what this measures is
its fixed and per-photo overhead.

    python benchmarks/ray_throughput.py [--lfw ../shared/data/lfw] [--photos 1000] [--nodes 1 2]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
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

# The cluster the tests start (importable since speedkit put tests/ on the path): loopback
# only, one CPU a node, stopped by pid.
from support.ray_cluster import start_cluster


def index_once(folder: Path, gallery: Path, extra: list[str]) -> tuple[ChildRun, int, int]:
    """(the timed run, photos indexed or without a face, faces stored)."""
    run = run_child([FACESIM_CLI, "index", folder, "--index", gallery, "--json", *extra])
    summary = json.loads(run.stdout)
    if summary["errors"]:
        raise SystemExit(f"facesim index reported errors: {summary['errors'][:3]}")
    with sqlite3.connect(gallery / GALLERY_DB_NAME) as db:
        faces = db.execute("SELECT count(*) FROM faces").fetchone()[0]
    return run, summary["indexed"] + summary["no_face"], faces


def ray_run(folder: Path, gallery: Path, nodes: int, temp: Path) -> tuple[ChildRun, int, int]:
    cluster = start_cluster(temp, nodes)
    try:
        return index_once(folder, gallery, ["--engine", "ray", "--address", cluster.address])
    finally:
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    parser.add_argument("--photos", type=int, default=1000, help="LFW photos to index (seeded sample)")
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2], choices=[1, 2], help="Ray cluster sizes")
    args = parser.parse_args()
    if not (args.lfw / "images").is_dir():
        print(f"skipped: no LFW photos under {args.lfw / 'images'}; pass --lfw")
        return

    print_header(f"Ray engine throughput, {args.photos} LFW photos")
    rows = []
    with tempfile.TemporaryDirectory(prefix="fsray") as tmp:
        root = Path(tmp)
        folder = copy_photos(lfw_sample(args.lfw, args.photos), root / "photos")
        local, photos, faces = index_once(folder, root / "local", [])
        rows.append(["local engine, 1 process", photos, faces, local.wall_s, photos / local.wall_s, "1.00x"])
        for nodes in args.nodes:
            temp = root / f"ray{nodes}"
            temp.mkdir()
            run, photos, faces = ray_run(folder, root / f"gallery-ray{nodes}", nodes, temp)
            speed = f"{local.wall_s / run.wall_s:.2f}x"
            rows.append([f"ray engine, {nodes} node(s) x 1 CPU", photos, faces, run.wall_s, photos / run.wall_s, speed])
    headers = ["engine", "photos", "faces", "wall s", "photos/s", "speed vs local"]
    print(markdown_table(headers, [[*row[:3], f"{row[3]:.1f}", f"{row[4]:.2f}", row[5]] for row in rows]))


if __name__ == "__main__":
    main()

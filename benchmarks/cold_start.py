"""CLI cold start: wall time of whole `facesim` commands from process start to exit, and where
it goes (imports, by `python -X importtime`, versus model loading and the actual work).

Every command runs as a fresh process several times (files already in the page cache, as on a
second use); min and median are reported. The import table sums `-X importtime` self times by
top-level package and names the first facesim module on each package's import chain: that is
the import to make lazy if the command does not need it. The photos are the committed
sample_data, so the numbers need no LFW; `match` searches a gallery of all of them.

    python benchmarks/cold_start.py [--runs 5] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from speedkit import FACESIM_CLI, REPO_ROOT, markdown_table, print_header, run_child

OUR_PACKAGES = ("cli", "facesim", "index")
SAMPLE_PHOTOS = REPO_ROOT / "sample_data" / "photos"
# A wrong second path: reported once the first photo's face is found, before the encoder loads.
BAD_VERIFY = "facesim verify a.jpg missing.jpg --json (exits 2)"

# Runs in a child: the verify path step by step (wall and CPU seconds), so model loading is told
# apart from imports and from the photos themselves. dlib.get_frontal_face_detector(), which
# facesim called before it shipped the detector as a file, is timed for comparison only.
_VERIFY_SPLIT = """
import json, sys, time
steps = {}
def step(name, started):
    steps[name] = (time.perf_counter() - started[0], time.process_time() - started[1])
    return time.perf_counter(), time.process_time()
now = time.perf_counter(), time.process_time()
from facesim.model_card import threshold
from facesim.pipeline import face_distance, main_face
now = step("import facesim.pipeline (dlib, PIL, numpy)", now)
from facesim.embedder import default_embedder
default_embedder()
now = step("import torch, load encoder weights", now)
from facesim.detection import _hog, landmark_predictor
_hog()
now = step("HOG detector, loaded from the shipped file", now)
landmark_predictor()
now = step("5-point landmark model", now)
import dlib
dlib.get_frontal_face_detector()
now = step("for comparison only: dlib.get_frontal_face_detector() (the detector built in to dlib)", now)
threshold()
a = main_face(sys.argv[1])
now = step("first photo (decode, detect, align, embed)", now)
b = main_face(sys.argv[2])
now = step("second photo (decode, detect, align, embed)", now)
face_distance(a.embedding, b.embedding)
print(json.dumps(steps))
"""


@dataclass(frozen=True)
class ImportLine:
    self_us: int
    cumulative_us: int
    depth: int
    module: str


def parse_importtime(stderr: str) -> list[ImportLine]:
    """`-X importtime` lines, in the order printed (children before their parent)."""
    lines = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|", 2)
        stripped = name.lstrip(" ")
        lines.append(ImportLine(int(self_us), int(cumulative_us), (len(name) - len(stripped) - 1) // 2, stripped))
    return lines


def imports_by_package(lines: list[ImportLine]) -> list[tuple[str, float, str]]:
    """(top-level package, seconds of self time, nearest facesim module on its import chain).

    Parents are printed after their children, one indent level up, so the importer of a line is
    the next line below it with a smaller depth. A chain with none of our modules on it began at
    depth 0: before runpy that is interpreter start-up, after it cli.py's own top-level imports
    or an import inside a function at run time (importtime cannot tell these two apart).
    """
    runpy = next((i for i, line in enumerate(lines) if line.module == "runpy"), 0)
    totals: dict[str, float] = defaultdict(float)
    first_importer: dict[str, str] = {}
    for position, line in enumerate(lines):
        package = line.module.split(".")[0]
        totals[package] += line.self_us / 1e6
        if package in first_importer or package in OUR_PACKAGES:
            continue
        depth = line.depth
        for parent in lines[position + 1 :]:
            if parent.depth < depth:
                depth = parent.depth
                if parent.module.split(".")[0] in OUR_PACKAGES:
                    first_importer[package] = parent.module
                    break
        else:
            first_importer[package] = "interpreter start-up" if position < runpy else "cli.py, or a run-time import"
    ranked = sorted(totals.items(), key=lambda item: item[1], reverse=True)
    return [(package, seconds, first_importer.get(package, "")) for package, seconds in ranked]


def our_modules(lines: list[ImportLine]) -> list[tuple[str, float]]:
    """facesim/index modules by cumulative import time: the imports a lazy import would move."""
    ours = [(line.module, line.cumulative_us / 1e6) for line in lines if line.module.split(".")[0] in OUR_PACKAGES]
    return sorted(ours, key=lambda item: item[1], reverse=True)


def import_profile(args: list[str | Path]) -> list[ImportLine]:
    process = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "cli", *map(str, args)], capture_output=True, text=True
    )
    return parse_importtime(process.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per command")
    parser.add_argument("--quick", action="store_true", help="2 runs per command")
    args = parser.parse_args()
    runs = 2 if args.quick else args.runs
    print_header("CLI cold start")

    # Two photos of one person (files are named <Name>_NNNN.jpg): verify then answers "same
    # person", as in real use.
    photo_a, photo_b = sorted(SAMPLE_PHOTOS.glob("*_[0-9][0-9][0-9][0-9].jpg"))[:2]
    photos = sum(1 for _ in SAMPLE_PHOTOS.iterdir())
    with tempfile.TemporaryDirectory(prefix="facesim-cold-") as tmp:
        gallery = Path(tmp) / "gallery"
        run_child([FACESIM_CLI, "index", SAMPLE_PHOTOS, "--index", gallery, "--json"])
        commands: dict[str, list[str | Path]] = {
            "python -c pass (interpreter floor)": [sys.executable, "-c", "pass"],
            "facesim --help": [FACESIM_CLI, "--help"],
            "facesim info --json": [FACESIM_CLI, "info", "--index", gallery, "--json"],
            "facesim verify a.jpg b.jpg --json": [FACESIM_CLI, "verify", photo_a, photo_b, "--json"],
            BAD_VERIFY: [FACESIM_CLI, "verify", photo_a, Path(tmp) / "missing.jpg", "--json"],
            f"facesim match q.jpg --json ({photos}-file sample_data gallery)": [
                FACESIM_CLI, "match", photo_a, "--index", gallery, "--json",
            ],
        }  # fmt: skip
        rows = []
        for name, command in commands.items():
            timings = [run_child(command, check=name != BAD_VERIFY) for _ in range(runs)]
            walls = [timing.wall_s for timing in timings]
            rows.append(
                [
                    name,
                    f"{min(walls):.2f}",
                    f"{statistics.median(walls):.2f}",
                    f"{statistics.median(t.cpu_s for t in timings):.2f}",
                    f"{max(t.peak_rss_mb for t in timings):.0f}",
                ]
            )
        profiles = {
            "facesim --help": import_profile(["--help"]),
            "facesim verify": import_profile(["verify", photo_a, photo_b, "--json"]),
            "facesim match": import_profile(["match", photo_a, "--index", gallery, "--json"]),
        }
        split = json.loads(run_child([sys.executable, "-c", _VERIFY_SPLIT, photo_a, photo_b]).stdout)

    print(f"{runs} fresh processes per command; a.jpg, b.jpg = {photo_a.name}, {photo_b.name}\n")
    print(markdown_table(["command", "min wall s", "median wall s", "median CPU s", "peak RSS MB"], rows))
    for name, lines in profiles.items():
        total = sum(line.self_us for line in lines) / 1e6
        print(f"\n`{name}`: imports take {total:.2f} s wall (sum of -X importtime self times); largest packages:\n")
        table = [[package, f"{seconds:.3f}", importer] for package, seconds, importer in imports_by_package(lines)[:8]]
        print(markdown_table(["package", "import s", "nearest facesim module on its import chain"], table))
        print(f"\nfacesim modules by cumulative import time in `{name}`:\n")
        print(markdown_table(["module", "cumulative s"], [[m, f"{t:.3f}"] for m, t in our_modules(lines)[:6]]))
    print("\n`facesim verify` in one process, step by step:\n")
    rows = [[step, f"{wall:.3f}", f"{cpu:.3f}"] for step, (wall, cpu) in split.items()]
    print(markdown_table(["step", "wall s", "CPU s"], rows))


if __name__ == "__main__":
    main()

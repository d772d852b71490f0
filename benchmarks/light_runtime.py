"""The encoder under ONNX Runtime against the torch path it replaced (issue 29), in one run.

1. Cold `facesim verify a b` on two sample photos: wall time and peak memory of the whole process,
   this checkout in a venv of the default install against a checkout of the last torch-path
   commit (TORCH_PATH_COMMIT) in a venv of the full install (torch as pip resolves it here), on
   the same photos, alternating, several times each. The detector is HOG in both, so only the
   runtime differs.
2. Embedding throughput on one core: the same chips through ONNX Runtime (one thread) and through
   torch (one thread), in batches of 32, chip plus mirror in both.
3. Install size: the fresh venv of `pip install -e .` (no extras) against the full one
   (`.[dev]`, torch included), their install times, and whether the default install holds torch
   or any CUDA package.

    python benchmarks/light_runtime.py --venvs /tmp/facesim-venvs [--runs 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from speedkit import REPO_ROOT, markdown_table, print_header, run_child

# The last commit whose gallery commands embedded with torch.
TORCH_PATH_COMMIT = "72344b5"
PHOTOS = [REPO_ROOT / "sample_data" / "photos" / name for name in ("Jimmy_Carter_0002.jpg", "Jimmy_Carter_0004.jpg")]
EMBED_FACES = 256


def checkout(commit: str, folder: Path) -> Path:
    subprocess.run(["git", "-C", str(REPO_ROOT), "worktree", "add", "-q", "--detach", str(folder), commit], check=True)
    return folder


def cold_verify(runs: int, venvs: dict[str, Path]) -> list[list[str]]:
    with tempfile.TemporaryDirectory(prefix="facesim-torchpath-") as scratch:
        torch_tree = checkout(TORCH_PATH_COMMIT, Path(scratch) / "tree")
        try:
            trees = {
                "ONNX Runtime (this checkout, default install)": (REPO_ROOT, venvs["default"]),
                f"torch ({TORCH_PATH_COMMIT}, full install)": (torch_tree, venvs["full"]),
            }
            results: dict[str, list] = {name: [] for name in trees}
            for _ in range(runs):
                for name, (tree, venv) in trees.items():
                    command = [venv / "bin" / "python", tree / "cli.py", "verify", *PHOTOS, "--detector", "hog"]
                    results[name].append(run_child(command))
        finally:
            subprocess.run(["git", "-C", str(REPO_ROOT), "worktree", "remove", "--force", str(torch_tree)], check=True)
    base = results[f"torch ({TORCH_PATH_COMMIT}, full install)"]
    base_wall = statistics.median(r.wall_s for r in base)
    base_rss = statistics.median(r.peak_rss_mb for r in base)
    rows = []
    for name, found in results.items():
        wall = statistics.median(r.wall_s for r in found)
        rss = statistics.median(r.peak_rss_mb for r in found)
        rows.append([name, f"{wall:.2f} s", f"{wall / base_wall:.2f}x", f"{rss:.0f} MB", f"{rss / base_rss:.2f}x"])
    return rows


def throughput() -> list[list[str]]:
    import torch

    from facesim.embedder import Embedder
    from facesim.training.torch_embedder import TorchEmbedder

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    chips = rng.integers(0, 256, (EMBED_FACES, 150, 150, 3), dtype=np.uint8)
    rows, times = [], {}
    for name, embed in (
        ("ONNX Runtime, 1 thread", Embedder(threads=1).embed),
        ("torch, 1 thread", TorchEmbedder(batch_size=32).embed),
    ):
        embed(chips[:32])  # warm
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            embed(chips)
            best = min(best, time.perf_counter() - started)
        times[name] = best / EMBED_FACES * 1000
    base = times["torch, 1 thread"]
    for name, ms in times.items():
        rows.append([name, f"{ms:.2f} ms", f"{ms / base:.2f}x"])
    return rows


INSTALLS = {"default": ("`pip install -e .`", "."), "full": ("`pip install -e '.[dev]'`", ".[dev]")}


def build_venvs(folder: Path) -> tuple[dict[str, Path], list[list[str]]]:
    """Fresh venvs of both installs (rebuilt each run, so the times are real), with their sizes."""
    venvs, rows = {}, []
    for key, (label, target) in INSTALLS.items():
        venv = folder / key
        shutil.rmtree(venv, ignore_errors=True)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, "-e", target], cwd=REPO_ROOT, check=True, capture_output=True)
        seconds = time.perf_counter() - started
        size = sum(p.stat().st_size for p in venv.rglob("*") if p.is_file() and not p.is_symlink())
        listed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list"], capture_output=True, text=True)
        names = [line.split()[0] for line in listed.stdout.splitlines()[2:] if line.strip()]
        heavy = [name for name in names if name.lower().startswith(("torch", "nvidia", "triton"))]
        rows.append([label, f"{size / 2**20:.0f} MB", f"{seconds:.0f} s", f"{len(heavy)}: {', '.join(heavy[:4])}"])
        venvs[key] = venv
    return venvs, rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--venvs", type=Path, required=True, help="folder for the two fresh venvs (outside the repo)")
    args = parser.parse_args()
    print_header("The encoder under ONNX Runtime against the torch path")
    venvs, sizes = build_venvs(args.venvs)
    print("Fresh venvs from this machine's package mirror:\n")
    print(markdown_table(["install", "venv size", "time", "torch, triton and nvidia packages"], sizes))
    print(f"\nCold `facesim verify` on two sample photos (HOG in both), median of {args.runs} runs each:\n")
    print(markdown_table(["runtime", "wall", "vs torch", "peak RSS", "vs torch"], cold_verify(args.runs, venvs)))
    print(f"\nEmbedding {EMBED_FACES} chips, best of 3, per face (chip plus mirror):\n")
    print(markdown_table(["runtime", "per face", "vs torch"], throughput()))


if __name__ == "__main__":
    main()

"""Shared plumbing for the speed benchmarks (index_speed, stages, large_photos, match_latency,
cold_start): the machine header every result must carry, a deterministic LFW sample, child
processes timed with their own CPU time and peak RSS, and markdown tables.

CPU time is reported beside wall time because these benchmarks often run on a core shared with
other jobs: wall time then measures the neighbours too, while a process's CPU seconds barely move.
"""

from __future__ import annotations

import os
import platform
import random
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
# The tests' helpers that benchmarks share: the process-tree walk and the Ray test cluster.
sys.path.insert(0, str(REPO_ROOT / "tests"))
from support.process_tree import descendants  # noqa: E402

DEFAULT_LFW = REPO_ROOT.parent / "shared" / "data" / "lfw"
# The console script that `pip install -e .` put beside this interpreter: the real CLI.
FACESIM_CLI = Path(sys.executable).with_name("facesim")


def cpu_model() -> str:
    """The CPU as /proc/cpuinfo names it (platform.processor() is empty on most Linux builds)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# Run in a child process: see machine_lines().
_LIBRARY_PROBE = """
import dlib, faiss, numpy, torch
print(
    f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
    f"dlib {dlib.__version__} (AVX {dlib.USE_AVX_INSTRUCTIONS}, BLAS {dlib.DLIB_USE_BLAS}), "
    f"faiss {faiss.__version__} ({faiss.omp_get_max_threads()} OpenMP threads), numpy {numpy.__version__}"
)
"""


def machine_lines() -> list[str]:
    """Who measured what, where and when: every result printed by these scripts starts with this.

    The library versions and thread counts are probed in a child process so that this one never
    imports torch: a child started by (v)fork + exec inherits its parent's RSS high-water mark,
    so a heavy benchmark parent would inflate every child's measured peak RSS.
    """
    probe = subprocess.run([sys.executable, "-c", _LIBRARY_PROBE], capture_output=True, text=True, check=True)
    affinity = sorted(os.sched_getaffinity(0))
    load = os.getloadavg()
    lines = [
        f"date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"cpu: {cpu_model()}, {os.cpu_count()} logical cores, this process may use cores {affinity}",
        f"load average (1/5/15 min) at start: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}",
        f"python {platform.python_version()}, {probe.stdout.strip()}",
    ]
    if len(affinity) == 1:
        lines.append(
            "NOTE: single-core run (one core allowed by CPU affinity); multi-process numbers cannot show "
            "their gain here, and wall times include any other job sharing that core (see CPU time)."
        )
    return lines


def print_header(title: str) -> None:
    print(f"## {title}\n")
    for line in machine_lines():
        print(f"- {line}")
    print()


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def lfw_images(lfw: Path) -> list[Path]:
    images = sorted((lfw / "images").glob("*/*.jpg"))
    if not images:
        raise SystemExit(f"no LFW photos under {lfw / 'images'}; pass --lfw")
    return images


def lfw_sample(lfw: Path, count: int, seed: int = 0) -> list[Path]:
    """The same `count` photos every run (a seeded sample over all people, not the first names
    alphabetically), so runs and machines compare like for like. Samples of different sizes are
    nested: the first 500 of the 1,000 sample are the 500 sample."""
    images = lfw_images(lfw)
    if count > len(images):
        raise SystemExit(f"asked for {count} photos, LFW has {len(images)}")
    order = random.Random(seed).sample(range(len(images)), len(images))
    return [images[i] for i in order[:count]]


def copy_photos(photos: Sequence[Path], folder: Path) -> Path:
    """Copies into one flat folder (names keep the person, so they stay unique). Copies rather
    than links: every contender then reads the same files, already in the page cache."""
    folder.mkdir(parents=True, exist_ok=True)
    for photo in photos:
        shutil.copyfile(photo, folder / photo.name)
    return folder


@dataclass(frozen=True)
class ChildRun:
    wall_s: float
    cpu_s: float  # user + system, of the child and every descendant it waited for
    peak_rss_mb: float  # the largest single process in the tree, as the kernel records it
    stdout: str
    returncode: int
    stderr: str
    # (seconds since start, summed RSS of the child and its descendants in MB), when sampled
    rss_timeline: tuple[tuple[float, float], ...] = ()

    @property
    def cpu_share(self) -> float:
        """CPU seconds per wall second; well below the number of busy processes means the core
        was shared with someone else's job during the run."""
        return self.cpu_s / self.wall_s if self.wall_s else 0.0

    @property
    def peak_tree_rss_mb(self) -> float:
        """With worker processes, what the machine must hold at once (sampled, so a lower bound)."""
        return max((rss for _, rss in self.rss_timeline), default=self.peak_rss_mb)

    def rss_at(self, fraction: float) -> float:
        """Tree RSS at this fraction of the run's wall time: at a steady photo rate a flat curve
        means memory does not grow with the number of photos indexed."""
        if not self.rss_timeline:
            return float("nan")
        target = fraction * self.wall_s
        return min(self.rss_timeline, key=lambda sample: abs(sample[0] - target))[1]


def run_child(
    command: Sequence[str | Path], env: dict[str, str] | None = None, *, sample_rss: bool = False, check: bool = True
) -> ChildRun:
    """Runs a command to completion and returns its wall time, CPU time and peak RSS.

    os.wait4 reports the child's own resource usage, so neither this process nor another
    benchmark's children leak into the numbers. With `check`, a failing child ends the
    benchmark (a number from a half-run would be misleading); without, the caller reports it.
    """
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(part) for part in command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
        text=True,
    )
    timeline: list[tuple[float, float]] = []
    stop = threading.Event()
    sampler = threading.Thread(target=_sample_rss, args=(process.pid, started, timeline, stop))
    if sample_rss:
        sampler.start()
    # Read both pipes to the end before waiting, so a chatty child cannot block on a full pipe.
    stdout, stderr = _drain(process)
    stop.set()
    if sample_rss:
        sampler.join()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if check and process.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command))} failed ({process.returncode}):\n{stderr[-3000:]}")
    cpu = usage.ru_utime + usage.ru_stime
    return ChildRun(wall, cpu, usage.ru_maxrss / 1024, stdout, process.returncode, stderr, tuple(timeline))


def _drain(process: subprocess.Popen[str]) -> tuple[str, str]:
    """Both pipes read to EOF on threads, without reaping the child (communicate() would reap
    it and lose its resource usage)."""
    chunks: dict[str, str] = {}

    def read(name: str, stream: IO[str]) -> None:
        chunks[name] = stream.read()
        stream.close()

    threads = [
        threading.Thread(target=read, args=("out", process.stdout)),
        threading.Thread(target=read, args=("err", process.stderr)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return chunks["out"], chunks["err"]


_RSS_INTERVAL_S = 0.5


def _sample_rss(root: int, started: float, timeline: list[tuple[float, float]], stop: threading.Event) -> None:
    """Sums VmRSS over the process tree twice a second; at this rate walking /proc costs far
    below the noise of the measurement."""
    while not stop.wait(_RSS_INTERVAL_S):
        tree = {root} | descendants(root)
        total_kb = sum(_rss_kb(pid) for pid in tree)
        if total_kb:
            timeline.append((time.perf_counter() - started, total_kb / 1024))


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def percentiles_ms(seconds: Sequence[float], points: Sequence[float] = (50, 99)) -> list[float]:
    return [float(value) * 1000 for value in np.percentile(np.asarray(seconds), points)]

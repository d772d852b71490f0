"""How many processes `facesim index` uses when the user does not say: one per core this
process may run on, as many as the available memory can hold, never fewer than one."""

from __future__ import annotations

import os
from pathlib import Path

from facesim.config import WORKER_MEMORY_BYTES

_MEMINFO = Path("/proc/meminfo")


def workers_for(cores: int, available_bytes: int | None) -> int:
    """The bound itself, apart from reading the machine, so that it can be tested. Unknown
    memory does not bound: refusing to use the cores would be a guess too."""
    workers = max(1, cores)
    if available_bytes is not None:
        workers = min(workers, available_bytes // WORKER_MEMORY_BYTES)
    return max(1, workers)


def default_workers() -> int:
    return workers_for(usable_cores(), available_memory())


def usable_cores() -> int:
    """The cores this process may use (a container or `taskset` limits them), not the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def available_memory() -> int | None:
    """MemAvailable counts the page cache the kernel would give back, unlike free memory, so it
    is what new processes can really have; where there is no /proc, sysconf's free pages."""
    try:
        for line in _MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None

"""Processes below a pid, found from /proc: Ray's workers leave their parent's process group,
and this kernel has no /proc/PID/task/TID/children, so each process's parent id is the only
reliable link. Used by the Ray test cluster and by the benchmarks' memory sampling."""

from __future__ import annotations

from pathlib import Path


def descendants(root: int) -> set[int]:
    """Every live process below `root`, from each process's parent id in /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # The command name in field 2 may hold spaces; the parent id follows its ')'.
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found

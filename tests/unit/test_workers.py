"""The default --workers: cores this process may use, bounded by available memory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from facesim.config import WORKER_MEMORY_BYTES
from index.ingest import indexer, workers
from index.ingest.workers import available_memory, usable_cores, workers_for
from index.store.gallery import Gallery


def test_memory_bounds_the_cores_at_the_exact_boundary() -> None:
    assert workers_for(8, 3 * WORKER_MEMORY_BYTES) == 3
    assert workers_for(8, 3 * WORKER_MEMORY_BYTES - 1) == 2
    assert workers_for(2, 100 * WORKER_MEMORY_BYTES) == 2


def test_never_fewer_than_one_worker() -> None:
    assert workers_for(4, WORKER_MEMORY_BYTES - 1) == 1
    assert workers_for(4, 0) == 1
    assert workers_for(0, None) == 1


def test_unknown_memory_leaves_the_cores() -> None:
    assert workers_for(6, None) == 6


def test_cores_are_those_the_process_may_use_not_the_machines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {3})
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert usable_cores() == 1


def test_available_memory_is_memavailable_not_memfree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:  16000000 kB\nMemFree:  1000 kB\nMemAvailable:  2000000 kB\n")
    monkeypatch.setattr(workers, "_MEMINFO", meminfo)
    assert available_memory() == 2_000_000 * 1024


def test_without_proc_meminfo_sysconf_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "_MEMINFO", tmp_path / "missing")
    pages = {"SC_AVPHYS_PAGES": 1000, "SC_PAGE_SIZE": 4096}
    monkeypatch.setattr(os, "sysconf", lambda name: pages[name])
    assert available_memory() == 4096 * 1000


def test_index_folder_without_a_worker_count_uses_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """None reaches the pool as the resolved count; the engine check still sees a number."""
    seen: list[int] = []
    monkeypatch.setattr(indexer, "default_workers", lambda: 3)

    def fake_outcomes(tasks, count, *_args, **_kwargs):  # noqa: ANN001, ANN202
        seen.append(count)
        raise SystemExit

    monkeypatch.setattr(indexer, "_outcomes", fake_outcomes)
    (tmp_path / "photos").mkdir()
    with Gallery.open(tmp_path / "gallery") as gallery, pytest.raises(SystemExit):
        indexer.index_folder(gallery, tmp_path / "photos", workers=None)
    assert seen == [3]

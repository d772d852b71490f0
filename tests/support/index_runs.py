"""Real `facesim index` processes for the crash and concurrency tests, and read-only looks at
their gallery while they run or after they were killed.

The tests read SQLite as a second user would: read-only (WAL lets them read while a writer is
mid-batch), and without recovering anything themselves after a crash, so that the next real run
is the one that has to cope with it.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from support.sample_gallery import REPO, SAMPLE_PHOTOS

# How often a waiting test looks at the gallery; small next to a batch of photos.
POLL_SECONDS = 0.02


@lru_cache(maxsize=1)
def single_face_sources() -> list[Path]:
    """The sample gallery's LFW portraits (named <Name>_NNNN.jpg) in which the default detector
    finds one face, in a fixed order: a few show someone behind their subject too, and a copy of
    one of those would be two faces."""
    from facesim.detection import detect_faces
    from facesim.images import load_rgb

    portraits = sorted(SAMPLE_PHOTOS.glob("*_[0-9][0-9][0-9][0-9].jpg"))
    return [photo for photo in portraits if len(detect_faces(load_rgb(photo))) == 1]


def make_copies(dest: Path, count: int) -> dict[Path, Path]:
    """`count` distinct JPEG files (copy -> the sample photo it copies), cycling through the sources.

    Each copy gets a JPEG comment naming it, inserted after the start-of-image marker: the bytes
    and hash differ, so every copy is its own photo to the indexer, yet the decoded pixels are the
    source's exactly, so its faces are known without indexing it.
    """
    dest.mkdir(parents=True, exist_ok=True)
    sources = single_face_sources()
    copies: dict[Path, Path] = {}
    for number in range(count):
        source = sources[number % len(sources)]
        data = source.read_bytes()
        comment = f"facesim test copy {number}".encode()
        segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
        copy = dest / f"{number:04d}_{source.name}"
        copy.write_bytes(data[:2] + segment + data[2:])
        copies[copy] = source
    return copies


def facesim(*args: str | Path) -> list[str]:
    """The real command line, in this interpreter, so the test runs the code under test."""
    return [sys.executable, "-m", "cli", *map(str, args)]


def start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Output goes to files, not pipes: a pipe nobody reads can fill up and stall the writer,
    which would change exactly the timing these tests depend on."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log.with_suffix(".out"), "wb") as stdout, open(log.with_suffix(".err"), "wb") as stderr:
        return subprocess.Popen(args, cwd=REPO, stdout=stdout, stderr=stderr)


def stderr_of(log: Path) -> str:
    return log.with_suffix(".err").read_text(errors="replace")


def message_lines(stderr: str) -> list[str]:
    """What a person reads on stderr. Blank lines are left out because `facesim index` ends its
    progress display with one even when stderr is not a terminal (reported, cli.py)."""
    return [line for line in stderr.splitlines() if line.strip()]


@dataclass(frozen=True)
class Snapshot:
    """The gallery's last commit as a reader sees it."""

    readable: bool  # False while there is no database, or its schema is not committed yet
    photos: int = 0
    faces: int = 0
    runs: int = 0


NOTHING = Snapshot(readable=False)


def snapshot(db: Path) -> Snapshot:
    if not db.exists():
        return NOTHING
    try:
        connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    except sqlite3.OperationalError:
        return NOTHING
    try:
        photos = connection.execute("SELECT count(*) FROM photos").fetchone()[0]
        faces = connection.execute("SELECT count(*) FROM faces").fetchone()[0]
        runs = connection.execute("SELECT count(*) FROM runs").fetchone()[0]
    except sqlite3.OperationalError:  # no tables yet, or busy for a moment
        return NOTHING
    finally:
        connection.close()
    return Snapshot(True, photos, faces, runs)


def wait_until(
    process: subprocess.Popen[bytes], db: Path, ready: Callable[[Snapshot], bool], timeout: float = 180
) -> Snapshot | None:
    """Polls the gallery until `ready` holds and returns what was seen then, or None when the
    process ended first. A stuck process fails the test instead of hanging it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = snapshot(db)
        if ready(seen):
            return seen
        if process.poll() is not None:
            return None
        time.sleep(POLL_SECONDS)
    process.kill()
    process.wait()
    raise AssertionError(f"gave up after {timeout}s waiting on {db}")


def integrity_problems(db: Path) -> list[str]:
    """What must never be true, however a run ended: a path twice, a photo's face count that
    disagrees with its face rows, a face without a photo."""
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        checks = {
            "duplicate paths": "SELECT path FROM photos GROUP BY path HAVING count(*) > 1",
            "n_faces disagrees with face rows": (
                "SELECT p.path FROM photos p WHERE p.n_faces != (SELECT count(*) FROM faces f WHERE f.photo_id = p.id)"
            ),
            "faces without a photo": (
                "SELECT f.id FROM faces f LEFT JOIN photos p ON p.id = f.photo_id WHERE p.id IS NULL"
            ),
            "faces of a photo not indexed": (
                "SELECT f.id FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.status != 'indexed'"
            ),
        }
        return [f"{name}: {rows[:3]}" for name, sql in checks.items() if (rows := connection.execute(sql).fetchall())]
    finally:
        connection.close()


def children_of(pid: int) -> list[int]:
    """Processes whose parent is `pid`, read from /proc (Linux); empty where there is no /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie: a zombie has exited and only waits for its new parent to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def kill_hard(process: subprocess.Popen[bytes]) -> int:
    """kill -9 and reap; returns the exit status, -SIGKILL when the kill landed on a live process."""
    process.kill()
    return process.wait()

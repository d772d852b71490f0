"""One writer per gallery: an advisory lock on a file in the gallery directory.

flock is released by the kernel when the holder exits, however it exits, so a killed indexer
never leaves a stale lock behind. Readers never take it: WAL gives them the last commit.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from facesim.errors import FacesimError


class WriteLock:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Takes the lock if nobody holds it; never waits, so a second `facesim index` fails
        fast instead of hanging behind a long run."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        # The holder's pid is only for the message another process shows.
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def acquire(self) -> None:
        if not self.try_acquire():
            holder = self._holder()
            who = f" (pid {holder})" if holder else ""
            raise FacesimError(
                f"{self.path.parent}: another facesim process{who} is indexing this gallery; "
                "wait for it to finish or use another --index"
            )

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _holder(self) -> str:
        try:
            return self.path.read_text().strip()
        except OSError:
            return ""

    def __enter__(self) -> WriteLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

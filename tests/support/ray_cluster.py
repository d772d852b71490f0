"""A real two-node Ray cluster on this machine for the `--engine ray` tests (and the Ray
benchmark): a head and a worker node, each a `ray start --block` process with one CPU, both on
127.0.0.1 with a free port and a temp folder for the cluster.

Ray's workers leave their parent's process group, so stopping a node kills every descendant of
its `ray start` process by pid (found from /proc), never Ray processes by name: another cluster
on the same machine is left alone, and nothing of ours is left behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from support.process_tree import descendants

RAY_CLI = Path(sys.executable).with_name("ray")
# How long a node may take to come up on a busy 2-core machine.
START_TIMEOUT_S = 120.0
_STARTED = "Ray runtime started."


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Node:
    process: subprocess.Popen[bytes]
    log: Path
    # Every process the node had once it was up: Ray's daemons and workers are reparented to
    # init when their `ray start` dies, so they are remembered while they are still findable.
    known: set[int] = field(default_factory=set)

    def remember(self) -> None:
        self.known |= descendants(self.process.pid)

    def runs(self, name: str) -> bool:
        """Whether a live process of this node has `name` in its command line, e.g. an actor."""
        for pid in descendants(self.process.pid):
            try:
                if name.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return True
            except OSError:
                continue
        return False

    def kill(self) -> None:
        """SIGKILL to the node and everything it started: a crash, not a shutdown."""
        self.remember()
        for pid in [self.process.pid, *self.known]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait()


@dataclass
class LocalCluster:
    address: str  # the GCS, as `--address HOST:PORT`
    head: Node
    worker: Node | None  # None for a one-node cluster

    def stop(self) -> None:
        for node in (self.worker, self.head):
            if node is not None:
                node.kill()


def start_cluster(temp_root: Path, nodes: int = 2) -> LocalCluster:
    """A head and, for two nodes, a worker node. Any failure on the way stops what was started."""
    port = free_port()
    address = f"127.0.0.1:{port}"
    common = ["--block", "--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats"]
    head = _start(
        [
            "--head",
            f"--port={port}",
            "--include-dashboard=false",
            f"--temp-dir={temp_root}",
            *common,
        ],
        temp_root / "head.log",
    )
    if nodes == 1:
        return LocalCluster(address, head, None)
    try:
        worker = _start([f"--address={address}", *common], temp_root / "worker.log")
    except BaseException:
        head.kill()
        raise
    return LocalCluster(address, head, worker)


def _start(args: list[str], log: Path) -> Node:
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [str(RAY_CLI), "start", *args], stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    node = Node(process, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if _STARTED in log.read_text(errors="replace"):
            node.remember()
            return node
        if process.poll() is not None:
            break
        time.sleep(0.2)
    node.kill()
    raise RuntimeError(f"ray start {' '.join(args)} did not come up:\n{log.read_text(errors='replace')[-3000:]}")

"""`facesim index --engine ray`: decode, detect, align and embed on a Ray cluster with Ray Data.

Ray only replaces the local worker pool. The indexer still plans the run, and it alone writes
SQLite and FAISS, one transaction per batch, so skip-by-hash, resume after an interrupt and
"every photo once" are the local engine's rules unchanged. Ray Data re-runs the work of an
actor lost with its node (its actors restart and their tasks retry); results come back in task
order, so a retried photo is still committed once, by the driver, and face ids follow the scan.

Every node reads the photos by the same path the driver scanned, so they must be on storage
that every node mounts at that path; the encoder's ONNX graph is sent with the job. Importing this
module imports Ray: only `--engine ray` does.
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from facesim.config import PHOTOS_PER_ENCODER_CALL, RAY_CONNECT_TIMEOUT_S
from facesim.embedder import onnx_bytes
from facesim.errors import FacesimError, first_line
from index.ingest.examine import Outcome, Task, examine_photos, missing

try:
    import ray
    import ray.data
except ImportError:  # the extra is not installed; ray_cluster says how to get it
    ray = None

# The encoder and dlib are imported in the actors only: the driver just plans and writes.
if TYPE_CHECKING:
    from facesim.detection import Detector

INSTALL_HINT = "--engine ray needs Ray: pip install 'facesim[ray]'"


@contextmanager
def ray_cluster(address: str | None) -> Iterator[None]:
    """Connected to the cluster at `address` (None: $RAY_ADDRESS, a running local cluster, or a
    new one on this machine) for the block, before the run scans anything, so that a wrong
    address fails at once. Disconnecting on the way out ends this run's actors however the block
    is left; a connection the caller had already made is used and left open."""
    if ray is None:
        raise FacesimError(INSTALL_HINT)
    quiet = logging.getLogger("ray.data")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # Ray Data's per-run INFO lines would bury facesim's summary
    owned = not ray.is_initialized()
    # Ray's driver prints cluster events (a node lost, a task retried) to stdout; they are
    # diagnostics, and stdout belongs to the caller, e.g. `facesim index --json`.
    with redirect_stdout(sys.stderr):
        try:
            if owned:
                _connect(address)
            yield
        finally:
            quiet.setLevel(level)
            if owned and ray.is_initialized():
                ray.shutdown()


def _connect(address: str | None) -> None:
    """A GCS address that nothing listens on would make ray.init retry for minutes; a plain TCP
    connect first turns that into one line at once."""
    if address and address.startswith("ray://"):
        raise FacesimError(
            "--engine ray cannot run through Ray Client (ray://): Ray Data needs the driver inside the "
            "cluster; run facesim on a cluster node with --address auto (or `ray job submit -- facesim index ...`)"
        )
    if address and address not in ("auto", "local"):
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=RAY_CONNECT_TIMEOUT_S).close()
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise FacesimError(f"cannot reach a Ray cluster at {address} ({reason})") from None
    try:
        ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
    except ConnectionError as exc:
        raise FacesimError(f"cannot connect to Ray: {first_line(exc, 'unknown error')}") from None


def ray_outcomes(tasks: list[Task], detector: Detector, weights: Path) -> Iterator[tuple[Task, Outcome]]:
    """(task, outcome) in task order, like the local engine's pool; needs ray_cluster's block."""
    if not tasks:  # everything unchanged: start no actor
        return
    context = ray.data.DataContext.get_current()
    # In order, so that face ids come out in scan order whichever actor finishes first.
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    items = [
        # Paths travel as bytes: a Linux file name need not be UTF-8, and Arrow strings must be.
        {"index": number, "path": os.fsencode(task.path), "known_hash": task.known_hash or ""}
        for number, task in enumerate(tasks)
    ]
    blocks = -(-len(items) // PHOTOS_PER_ENCODER_CALL)
    photos = ray.data.from_items(items, override_num_blocks=blocks)
    results = photos.map_batches(
        PhotoWorker,
        # The weights travel with the job, so every node embeds with exactly the driver's model.
        fn_constructor_kwargs={"weights": onnx_bytes(weights), "detector": detector},
        batch_size=PHOTOS_PER_ENCODER_CALL,
        batch_format="numpy",
        # One actor per CPU, each holding one copy of the model; Ray Data's defaults restart an
        # actor whose node died and retry its unfinished batches on the actors that remain.
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=cpus),
        num_cpus=1,
    )
    for row in results.iter_rows():
        task = tasks[int(row["index"])]
        outcome = pickle.loads(row["outcome"])
        if outcome is None:
            yield task, _unseen(task)
        else:
            yield task, outcome


def _unseen(task: Task) -> Outcome:
    """A worker found no file where the driver had just seen one: the photos are not on storage
    that every node shares. Recording it as an error would hide every such photo from later runs,
    so the run stops instead; batches committed so far are kept."""
    if os.path.exists(task.path):
        raise FacesimError(
            f"{task.path}: a Ray worker node cannot read it; --engine ray needs the photos "
            "at the same path on every node"
        )
    return missing(task.path)


class PhotoWorker:
    """A Ray Data actor: loads the model once, then examines each batch of photos as the local
    engine examines a chunk, their chips sharing one encoder call."""

    def __init__(self, weights: bytes, detector: Detector) -> None:
        from facesim.embedder import Embedder

        # An actor holds one CPU; more threads would only compete with its neighbours. The graph
        # arrives as bytes, which ONNX Runtime loads without a file.
        self.embedder = Embedder(weights, threads=1)
        self.detector = detector

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        photos = [
            (os.fsdecode(bytes(path)), str(digest) or None)
            for path, digest in zip(batch["path"], batch["known_hash"], strict=True)
        ]
        outcomes = examine_photos(photos, self.detector, self.embedder.embed)
        return {"index": batch["index"], "outcome": np.array([pickle.dumps(item) for item in outcomes], dtype=object)}

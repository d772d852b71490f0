"""Incremental indexing of a folder into a gallery.

Cheap checks come first: a file whose size and mtime are unchanged is skipped without being
read; otherwise its blake2b hash decides whether it really changed. Only new or changed photos
are decoded and embedded, optionally in worker processes, while this process alone writes to
SQLite, one transaction per batch, so an interrupted run loses at most one batch and the next
run resumes. Nothing here prints; progress goes to a callback.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from facesim import model_card
from facesim.config import DEFAULT_DETECTOR, INDEX_BATCH_SIZE, ONNX_PATH, PHOTOS_PER_ENCODER_CALL
from facesim.errors import FacesimError
from facesim.model_card import MatchRule
from index.ingest.examine import EmbedChips, Outcome, Task, cannot_read, examine_photos, file_hash, missing
from index.ingest.scan import FolderScan, is_excluded, is_inside, scan_folder
from index.ingest.workers import default_workers
from index.persons.persons import hold_persons, join_new_faces, restore_persons
from index.store.database import Store
from index.store.gallery import META_MODEL_ID, Gallery
from index.store.rows import Location, PhotoRow

# The encoder, OpenCV and dlib (through the pipeline) are imported where photos are embedded:
# with --workers only the workers embed, and the parent stays small.
if TYPE_CHECKING:
    import numpy as np

    from facesim.detection import Detector
    from facesim.embedder import Embedder

# (total photos, photos done, photo just done or None for a bulk step such as the skips)
ProgressCallback = Callable[[int, int, Path | None], None]
# local: this process, or --workers processes on this machine; ray: a Ray cluster (index.ingest.ray_engine).
Engine = Literal["local", "ray"]
ENGINES: tuple[Engine, ...] = ("local", "ray")

# Chunks queued per worker: enough to keep workers busy, few enough that Ctrl-C stops promptly.
_QUEUE_PER_WORKER = 2
# How often a worker checks that the indexer that started it is still alive.
_PARENT_CHECK_SECONDS = 1.0


@dataclass
class IndexSummary:
    photos_seen: int = 0  # supported files found under the root (plus stale photos re-embedded)
    indexed: int = 0  # photos (re)processed this run that have faces
    faces: int = 0  # faces written this run
    skipped: int = 0  # unchanged photos, including known-bad ones not retried
    no_face: int = 0  # photos (re)processed this run without a face
    errors: list[tuple[Path, str]] = field(default_factory=list)  # files that failed this run
    gone: int = 0  # photos marked gone this run
    moved: int = 0  # known photos under a new path (renamed, moved, or now only at a copy): nothing re-embedded
    duplicates: int = 0  # byte-identical copies of a known photo, recorded as its further locations
    excluded: int = 0  # photo files skipped by --exclude
    joined: int = 0  # new faces that joined a person the gallery keeps
    new_persons: int = 0  # persons started by new faces that matched none (when the gallery keeps persons)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)  # folders the scan could not read
    # files skipped as known bad from an earlier run (unchanged since), with their message
    known_errors: list[tuple[Path, str]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """The numbers alone, as stored with the run."""
        return {key: len(value) if isinstance(value, list) else value for key, value in asdict(self).items()}


def _chunks(tasks: Sequence[Task], size: int = PHOTOS_PER_ENCODER_CALL) -> Iterator[Sequence[Task]]:
    for start in range(0, len(tasks), size):
        yield tasks[start : start + size]


def _examine_chunk(tasks: Sequence[Task], detector: Detector, embed: EmbedChips) -> list[Outcome]:
    """The local engine's reading of examine_photos: a file gone since the scan failed to read."""
    outcomes = examine_photos([(task.path, task.known_hash) for task in tasks], detector, embed)
    return [missing(task.path) if outcome is None else outcome for task, outcome in zip(tasks, outcomes, strict=True)]


def index_folder(
    gallery: Gallery,
    root: str | Path,
    *,
    detector: Detector = DEFAULT_DETECTOR,
    workers: int | None = 1,
    retry_errors: bool = False,
    retry_no_face: bool = False,
    reembed: bool = False,
    batch_size: int = INDEX_BATCH_SIZE,
    progress: ProgressCallback | None = None,
    weights: Path = ONNX_PATH,
    model_id: str | None = None,
    engine: Engine = "local",
    ray_address: str | None = None,
    exclude: Sequence[str] = (),
    match_rule: MatchRule | None = None,
) -> IndexSummary:
    """Brings the gallery up to date with every photo under `root` and returns what changed.

    Holds the gallery's write lock throughout (a concurrent run fails fast). A gallery built by
    another model is refused unless `reembed`, which then re-processes every photo whose vectors
    another model made, under this root or not, and every photo under it that another detector
    examined (persons carry over by box overlap). Photos without a face are looked at again when
    another detector examined them, or always with `retry_no_face`; `retry_errors` looks again at
    those that failed.
    `weights`/`model_id` name the encoder; the defaults are the packaged weights and their model
    card. Paths matching an `exclude` glob
    (see index.ingest.scan.is_excluded) are skipped, and left in the gallery if it has them. When the
    gallery keeps persons, new faces join them (index.persons.persons.join_new_faces) by `match_rule`
    (default: the model card's, the rule `facesim match` answers with), so persons are never
    stale. Exceptions raised by `progress` (e.g. KeyboardInterrupt) stop the run
    after the last committed batch. `workers` None: one process per core this process may use, as
    memory allows (the CLI's default).
    """
    if workers is None:
        workers = default_workers() if engine == "local" else 1
    if workers < 1:
        raise ValueError("workers must be at least 1")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    _check_engine(engine, workers, ray_address)
    root_path = Path(os.path.abspath(Path(root).expanduser()))
    if not root_path.exists():
        raise FacesimError(f"{root_path}: no such file or folder")
    current_model = model_id or model_card.model_id()
    report = progress or (lambda _total, _done, _path: None)

    with _cluster(engine, ray_address), gallery.write_lock():
        store = gallery.store
        stored_model = gallery.model_id
        if stored_model is None:
            store.set_meta(META_MODEL_ID, current_model)
        elif stored_model != current_model and not reembed:
            raise FacesimError(str(gallery.model_mismatch(current_model)))

        summary = IndexSummary()
        scan = scan_folder(root_path, exclude=exclude)
        summary.unreadable = scan.errors
        summary.excluded = scan.excluded
        known = store.photos_by_path()
        locations = store.locations()
        run_id = store.start_run(root_path)
        seen = {str(path) for path in scan.photos}
        present = [path for path, row in known.items() if row.status != "gone"]
        gone = [known[path].id for path in _vanished(present, root_path, scan, seen, exclude)]
        lost = _vanished(locations, root_path, scan, seen, exclude)

        stale = [Path(path) for path, row in known.items() if _needs_model(row, current_model) and path not in seen]
        paths = scan.photos + stale
        summary.photos_seen = len(paths)
        plan = _plan(
            paths,
            known,
            locations,
            store.photos_by_hash(),
            seen,
            current_model,
            _Rerun(detector, retry_errors, retry_no_face, reembed),
        )
        _check_root(root_path)
        summary.unreadable += [(Path(folder), f"{folder}: disappeared during the run") for folder in plan.unplugged]
        _apply_plan(store, plan, gone, lost, summary)
        summary.skipped = plan.unchanged + len(plan.touched)
        summary.known_errors = plan.known_errors
        done = len(paths) - len(plan.tasks) - len(plan.failed)
        report(len(paths), done, None)

        pending = [(task, Outcome(None, error=message)) for task, message in plan.failed]
        for task, _ in pending:  # failed before reading (unreadable, empty): each still reported
            done += 1
            report(len(paths), done, Path(task.path))
        with _outcomes(plan.tasks, workers, detector, weights, engine) as outcomes:
            for task, outcome in outcomes:
                pending.append((task, outcome))
                if len(pending) >= batch_size or (outcome.vanished and not root_path.exists()):
                    _commit(store, pending, current_model, detector, summary)
                    pending = []
                    _check_root(root_path)
                done += 1
                report(len(paths), done, Path(task.path))
        _commit(store, pending, current_model, detector, summary)
        _record_later_copies(store, plan, summary)
        if store.count_stale(current_model) == 0:  # distances across two models would mean nothing
            joined = join_new_faces(store, match_rule or model_card.match_rule())
            summary.joined, summary.new_persons = joined.existing, joined.new_persons

        if stored_model != current_model and store.count_stale(current_model) == 0:
            store.set_meta(META_MODEL_ID, current_model)
        gallery.sync_vectors()
        store.finish_run(run_id, summary.counts())
        return summary


@dataclass(frozen=True)
class Forgotten:
    photos: int  # photos taken out of the gallery, with their faces
    faces: int
    copies: int  # further locations under the path dropped
    kept: int  # photos whose only paths under the path were dropped: they live on at a copy elsewhere


def forget_path(gallery: Gallery, path: str | Path) -> Forgotten:
    """Takes a file, or everything under a folder, out of the gallery: rows, faces, vectors (the
    FAISS file is brought up to date) and persons' hold on those faces. A photo with a copy
    elsewhere stays, at that copy. The photos themselves are not touched, and the path need not
    exist any more. A later `index` of a folder above it finds them again unless --exclude'd."""
    target = os.path.abspath(Path(path).expanduser())
    with gallery.write_lock():
        store = gallery.store
        photos = store.photos_under(target)
        copies = [location for location in store.locations().values() if is_inside(location.path, target)]
        if not photos and not copies:
            raise FacesimError(f"{target}: nothing in the gallery is at or under this path")
        with store.transaction():
            store.remove_locations([location.path for location in copies])
            elsewhere = {location.photo_id: location for location in store.locations().values()}
            kept = [elsewhere[row.id] for row in photos if row.id in elsewhere]
            for location in kept:
                store.promote_location(location)
            dropped = [row for row in photos if row.id not in elsewhere]
            store.forget_photos([row.id for row in dropped])
        gallery.sync_vectors()
    return Forgotten(len(dropped), sum(row.n_faces for row in dropped), len(copies), len(kept))


def _check_engine(engine: str, workers: int, ray_address: str | None) -> None:
    """The engine options as the user gave them (the CLI passes them through unchecked)."""
    if engine not in ENGINES:
        raise FacesimError(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")
    if engine == "ray" and workers != 1:
        raise FacesimError("--workers is for the local engine; --engine ray runs one actor per CPU of the cluster")
    if engine != "ray" and ray_address is not None:
        raise FacesimError("--address needs --engine ray")


def _cluster(engine: Engine, ray_address: str | None) -> AbstractContextManager[None]:
    """The Ray connection for the whole run, made first so that a missing extra or a wrong
    address fails before a long scan; Ray is imported only here, and only for --engine ray."""
    if engine != "ray":
        return nullcontext()
    from index.ingest.ray_engine import ray_cluster

    return ray_cluster(ray_address)


def _check_root(root: Path) -> None:
    """A root gone mid-run is an unplugged drive or an unmounted share, not photos deleted: the
    run stops before it reads every remaining photo as missing, and marks nothing gone."""
    if not root.exists():
        raise FacesimError(
            f"{root}: disappeared during the run (an unplugged drive?); everything committed so far is kept "
            "and nothing was marked gone; run again once it is back"
        )


def _needs_model(row: PhotoRow, model_id: str) -> bool:
    return row.status == "indexed" and row.model_id != model_id


def _vanished(paths: Iterable[str], root: Path, scan: FolderScan, seen: set[str], exclude: Sequence[str]) -> list[str]:
    """Known paths under root that the scan did not find. Paths below a folder the scan could
    not read are left alone (unreadable is not deleted), and so are excluded ones (skipped is not
    deleted either)."""
    blocked = tuple(str(path).rstrip(os.sep) + os.sep for path, _ in scan.errors)
    return [
        path
        for path in paths
        if path not in seen
        and is_inside(path, str(root))
        and not path.startswith(blocked)
        and not is_excluded(Path(path), root, exclude)
    ]


@dataclass(frozen=True)
class _Rerun:
    """Which known, unchanged photos a run examines again: errors and photos without a face on
    request, photos without a face that another detector looked at always (a different detector
    may well find what the last one missed, and such photos cost nothing to keep), and with
    `reembed` every photo another detector examined (its persons carry over by box overlap)."""

    detector: str
    errors: bool = False
    no_face: bool = False
    reembed: bool = False

    def wants(self, row: PhotoRow) -> bool:
        if row.status == "error":
            return self.errors
        other_detector = row.detector != self.detector
        if row.status == "no_face":
            return self.no_face or other_detector
        return self.reembed and other_detector


@dataclass
class _Plan:
    tasks: list[Task] = field(default_factory=list)  # photos to decode and embed
    failed: list[tuple[Task, str]] = field(default_factory=list)  # cannot even be stat'ed or hashed
    vanished: list[int] = field(default_factory=list)  # ids of known photos gone since the scan
    # folders gone since the scan: their photos are left as they are, like an unreadable folder's
    unplugged: set[str] = field(default_factory=set)
    known_errors: list[tuple[Path, str]] = field(default_factory=list)  # unchanged known-bad files
    unchanged: int = 0
    touched: list[tuple[str, int, int]] = field(default_factory=list)  # copies re-dated, same bytes
    lost_locations: list[str] = field(default_factory=list)  # copies deleted or overwritten
    # (photo id, new path, size, mtime_ns): known bytes under a new path, nothing to embed
    moves: list[tuple[int, str, int, int]] = field(default_factory=list)
    copies: list[tuple[int, str, int, int]] = field(default_factory=list)
    # (content hash, path, size, mtime_ns): a copy of a photo first met in this very run
    later_copies: list[tuple[str, str, int, int]] = field(default_factory=list)


def _plan(
    paths: Sequence[Path],
    known: dict[str, PhotoRow],
    locations: dict[str, Location],
    by_hash: dict[str, PhotoRow],
    seen: set[str],
    model_id: str,
    rerun: _Rerun,
) -> _Plan:
    """What to do with each path; everything known by its stat is skipped without being opened.

    A path the gallery does not know is hashed here, before any decoding, because a photo is its
    content: bytes the gallery already holds are a move (their old path is gone) or a copy (it is
    not), and neither is decoded or embedded again.
    """
    plan = _Plan()
    hash_of = {row.id: row.content_hash for row in known.values()}
    movable = {digest: row for digest, row in by_hash.items() if not _needs_model(row, model_id)}
    moved: set[int] = set()
    first_seen: set[str] = set()
    for path in paths:
        key = str(path)
        row = known.get(key)
        location = locations.get(key)
        try:
            info = path.stat()
        except FileNotFoundError:
            if not path.parent.is_dir():
                plan.unplugged.add(str(path.parent))
                continue
            if row is not None and row.status != "gone":
                plan.vanished.append(row.id)
            if location is not None:
                plan.lost_locations.append(key)
            continue
        except OSError as exc:
            plan.failed.append(_unreadable(key, row, exc))
            continue
        stat = (info.st_size, info.st_mtime_ns)
        known_bad = row is not None and row.status == "error" and (row.size, row.mtime_ns) == stat
        if info.st_size == 0 and not (known_bad and not rerun.errors):
            # No bytes are no photo (the message is the reader's): every empty file would otherwise
            # be a "copy" of the first.
            if location is not None:
                plan.lost_locations.append(key)
            task = Task(key, *stat, row.id if row else None, None)
            plan.failed.append((task, f"{key}: not an image"))
            continue
        if location is not None and (location.size, location.mtime_ns) == stat:
            plan.unchanged += 1
            continue
        trusted = row is not None and row.status != "gone" and not _needs_model(row, model_id) and not rerun.wants(row)
        if row is not None and row.status != "gone":
            if trusted and (row.size, row.mtime_ns) == stat:
                plan.unchanged += 1
                if row.status == "error":
                    plan.known_errors.append((path, row.error or f"{path}: failed in an earlier run"))
            else:
                known_hash = row.content_hash if trusted else None
                plan.tasks.append(Task(key, *stat, row.id, known_hash))
            continue
        try:
            digest = file_hash(path)
        except FileNotFoundError:
            if location is not None:
                plan.lost_locations.append(key)
            continue
        except OSError as exc:
            plan.failed.append(_unreadable(key, row, exc))
            continue
        if location is not None:
            if digest == hash_of.get(location.photo_id):
                plan.touched.append((key, *stat))
                continue
            plan.lost_locations.append(key)  # overwritten with other bytes: a file of its own now
        same = movable.get(digest)
        if same is not None:
            if same.id not in moved and same.path not in seen and not os.path.exists(same.path):
                moved.add(same.id)
                plan.moves.append((same.id, key, *stat))
            else:
                plan.copies.append((same.id, key, *stat))
        elif digest in first_seen:
            plan.later_copies.append((digest, key, *stat))
        else:
            first_seen.add(digest)
            plan.tasks.append(Task(key, *stat, row.id if row else None, None))
    plan.vanished = [photo_id for photo_id in plan.vanished if photo_id not in moved]
    return plan


def _apply_plan(store: Store, plan: _Plan, gone: list[int], lost: list[str], summary: IndexSummary) -> None:
    """Moves, copies and deletions in one transaction: a moved photo is never marked gone first,
    and a photo whose main path is gone lives on at a copy that remains, so its faces, persons and
    names stay."""
    moved = {photo_id for photo_id, *_ in plan.moves}
    with store.transaction():
        store.remove_locations(plan.lost_locations + lost)
        for photo_id, path, size, mtime_ns in plan.moves:
            store.move_photo(photo_id, path, size=size, mtime_ns=mtime_ns)
        for photo_id, path, size, mtime_ns in plan.copies:
            store.add_location(photo_id, path, size=size, mtime_ns=mtime_ns)
        for path, size, mtime_ns in plan.touched:
            store.touch_location(path, size=size, mtime_ns=mtime_ns)
        promoted, marked = store.retire_photos([i for i in dict.fromkeys(gone + plan.vanished) if i not in moved])
        summary.moved += promoted
        summary.gone += marked
    summary.moved += len(plan.moves)
    summary.duplicates += len(plan.copies)


def _record_later_copies(store: Store, plan: _Plan, summary: IndexSummary) -> None:
    """Copies of photos first met in this run, once those photos are committed; a run stopped
    before this records them the next time, when their photo is known."""
    with store.transaction():
        for digest, path, size, mtime_ns in plan.later_copies:
            photo = store.photo_with_hash(digest)
            if photo is not None:
                store.add_location(photo.id, path, size=size, mtime_ns=mtime_ns)
                summary.duplicates += 1


def _unreadable(key: str, row: PhotoRow | None, exc: OSError) -> tuple[Task, str]:
    """A file the scan cannot stat or hash: recorded as failed, with the system's reason."""
    task = Task(key, None, None, row.id if row else None, None)
    return task, cannot_read(key, exc)


def _commit(
    store: Store, batch: list[tuple[Task, Outcome]], model_id: str, detector: Detector, summary: IndexSummary
) -> None:
    """One transaction for the batch; the summary counts only what was committed."""
    if not batch:
        return
    with store.transaction():
        for task, outcome in batch:
            size, mtime_ns = outcome.stat or (task.size, task.mtime_ns)
            if outcome.vanished:
                continue  # the next run finds it gone, or back; its row, if any, stays as it was
            if outcome.unchanged and task.photo_id is not None and size is not None:
                store.touch_photo(task.photo_id, size=size, mtime_ns=mtime_ns or 0)
                continue
            status = "error" if outcome.error else ("indexed" if outcome.faces else "no_face")
            # A photo embedded again (a new model, changed bytes) keeps its persons and corrections.
            held = hold_persons(store, task.photo_id) if task.photo_id is not None else None
            photo_id = store.record_photo(
                task.path,
                status=status,
                content_hash=outcome.content_hash,
                # Kept for failures too, so a known-bad file is skipped until it changes.
                size=size,
                mtime_ns=mtime_ns,
                model_id=model_id,
                faces=outcome.faces,
                error=outcome.error,
                detector=None if outcome.error else detector,
            )
            if held is not None and outcome.faces:
                restore_persons(store, held, photo_id)
    for task, outcome in batch:
        if outcome.unchanged:
            summary.skipped += 1
        elif outcome.error:
            summary.errors.append((Path(task.path), outcome.error))
        elif outcome.faces:
            summary.indexed += 1
            summary.faces += len(outcome.faces)
        else:
            summary.no_face += 1


@contextmanager
def _outcomes(
    tasks: list[Task], workers: int, detector: Detector, weights: Path, engine: Engine = "local"
) -> Iterator[Iterator[tuple[Task, Outcome]]]:
    """(task, outcome) in task order, which keeps face ids in scan order whatever the worker
    count. The pool, if any, is shut down however the caller leaves the block."""
    if engine == "ray":
        from index.ingest.ray_engine import ray_outcomes

        yield ray_outcomes(tasks, detector, weights)
        return
    workers = min(workers, len(tasks))
    if workers <= 1:
        yield _examine_here(tasks, detector, weights)
        return
    pool = ProcessPoolExecutor(
        max_workers=workers,
        # spawn: a fresh interpreter per worker, safe with OpenCV's, ONNX Runtime's and OpenMP's threads.
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(str(weights), detector),
    )
    try:
        # Smaller chunks when there are few photos, so that every worker gets some.
        size = min(PHOTOS_PER_ENCODER_CALL, -(-len(tasks) // workers))
        yield _examine_in_pool(pool, _chunks(tasks, size), workers * _QUEUE_PER_WORKER)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _examine_here(tasks: list[Task], detector: Detector, weights: Path) -> Iterator[tuple[Task, Outcome]]:
    embedder: list[Embedder] = []

    def embed(chips: list[np.ndarray]) -> np.ndarray:
        # Loaded on first use: a run where everything is unchanged never touches the model.
        if not embedder:
            from facesim.embedder import Embedder, default_embedder

            embedder.append(default_embedder() if weights == ONNX_PATH else Embedder(weights))
        return embedder[0].embed(chips)

    for chunk in _chunks(tasks):
        yield from zip(chunk, _examine_chunk(chunk, detector, embed), strict=True)


def _examine_in_pool(
    pool: ProcessPoolExecutor, remaining: Iterator[Sequence[Task]], depth: int
) -> Iterator[tuple[Task, Outcome]]:
    queue: deque[tuple[Sequence[Task], Future[list[Outcome]]]] = deque()
    for chunk in remaining:
        queue.append((chunk, pool.submit(_examine_in_worker, chunk)))
        if len(queue) >= depth:
            break
    while queue:
        chunk, future = queue.popleft()
        try:
            outcomes = future.result()
        except BrokenProcessPool:
            raise FacesimError(
                f"a worker process died near {chunk[0].path}; finished batches are kept; "
                "rerun with one worker to find the photo that crashes it"
            ) from None
        following = next(remaining, None)
        if following is not None:
            queue.append((following, pool.submit(_examine_in_worker, following)))
        yield from zip(chunk, outcomes, strict=True)


# Set once in each worker process by _init_worker.
_worker_embedder: Embedder | None = None
_worker_detector: Detector = DEFAULT_DETECTOR


def _init_worker(weights: str, detector: Detector) -> None:
    """Runs once per worker process: loads the model once, and leaves Ctrl-C to the parent,
    which stops the run cleanly instead of every worker printing a traceback."""
    global _worker_embedder, _worker_detector
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    from facesim.embedder import Embedder

    # The workers are the parallelism; threads inside each would only fight over the cores.
    _worker_embedder = Embedder(Path(weights), threads=1)
    _worker_detector = detector


def _exit_with_parent(parent: int) -> None:
    """Ends this worker once the indexer is gone. After a kill -9 of the indexer nothing else
    would: each worker holds the write end of its own task queue, so it never sees end-of-file
    and would sit forever with the model in memory."""
    while os.getppid() == parent:
        time.sleep(_PARENT_CHECK_SECONDS)
    os._exit(1)


def _examine_in_worker(tasks: Sequence[Task]) -> list[Outcome]:
    embedder = _worker_embedder
    if embedder is None:
        raise RuntimeError("worker used before _init_worker ran")
    return _examine_chunk(tasks, _worker_detector, embedder.embed)

"""Checks a gallery against its FAISS file and the photos on disk, and repairs what it safely can.

SQLite is the source of truth, so every repair follows from it: the FAISS file is rebuilt from
it, photos missing from disk are marked gone, face rows without an indexed photo are dropped.
Repairs never touch the photos. What needs the photos read again (changed files, vectors from
another model, an interrupted run) is left to `facesim index`, and each finding says which
command to run. Nothing here prints.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from facesim import model_card
from facesim.config import GALLERY_LOCK_NAME, GALLERY_VECTORS_NAME
from index.ingest.examine import file_hash
from index.ingest.scan import is_inside
from index.store.database import DamagedDatabase, Store
from index.store.gallery import Gallery
from index.store.lock import WriteLock
from index.store.rows import STATUSES, RunRow
from index.store.salvage import Salvage, salvage_database
from index.store.vectors import VectorIndex, sidecar_path

# Examples listed per finding; the count says how many there are in all.
MAX_EXAMPLES = 5
# What an interrupted atomic write of the FAISS file or its sidecar leaves (see vectors._atomic_write).
_TEMP_GLOB = f".{GALLERY_VECTORS_NAME}*.tmp"
# Why a photo recovered from a damaged database is read again (its row's error column).
REREAD_NOTE = "its gallery row was damaged and recovered without its faces; the next `facesim index` reads it again"


@dataclass(frozen=True)
class Finding:
    """One class of problem: how many, a few examples, and what to do about it."""

    kind: str
    title: str
    count: int
    examples: list[str]
    advice: str


@dataclass
class Checkup:
    gallery: Path
    photos: int  # indexed photos (with faces), as `facesim info` counts them
    faces: int
    photo_status: dict[str, int]  # status -> photos, every status present
    findings: list[Finding]  # problems that remain, in a fixed order of kinds
    repaired: list[str] = field(default_factory=list)  # what --repair did, one line each

    @property
    def healthy(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict[str, Any]:
        return {
            "gallery": str(self.gallery.absolute()),
            "healthy": self.healthy,
            "photos": self.photos,
            "faces": self.faces,
            "photo_status": self.photo_status,
            "problems": [asdict(finding) for finding in self.findings],
            "repaired": self.repaired,
        }


@dataclass
class _Evidence:
    """What the checks found, with the ids a repair needs; `findings` is what the user sees."""

    missing_photo_ids: list[int] = field(default_factory=list)
    orphan_face_ids: list[int] = field(default_factory=list)
    vectors_wrong: bool = False
    temp_files: list[Path] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def run_doctor(gallery: Gallery, *, repair: bool = False, model_id: str | None = None) -> Checkup:
    """Checks the gallery and, with `repair`, fixes what SQLite alone can fix, then checks again.

    Holds the writer's lock throughout, even to only check: while an indexer runs, a FAISS file
    behind SQLite and a run without an end are normal, not problems, so the doctor refuses to
    run beside one rather than report them. A read-only gallery, where no indexer can run, is
    checked without it. `model_id` defaults to the shipped model's.

    SQLite's own integrity check comes first: the other checks read the database, and on a
    damaged one they would fail or, worse, report its intact part as the whole gallery.
    """
    shipped = model_id or model_card.model_id()
    with nullcontext() if gallery.read_only and not repair else gallery.write_lock():
        damage = gallery.store.damage()
        if damage and not repair:
            return Checkup(gallery.directory, 0, 0, dict.fromkeys(STATUSES, 0), [_damage_finding(gallery, damage)])
        repaired = _recover(gallery) if damage else []
        evidence = _examine(gallery, shipped)
        fixed = _repair(gallery, evidence) if repair else []
        if fixed:
            evidence = _examine(gallery, shipped)
        counts = gallery.store.status_counts()
        store = gallery.store
        findings = evidence.findings
        return Checkup(gallery.directory, counts["indexed"], store.face_count(), counts, findings, repaired + fixed)


def _damage_finding(gallery: Gallery, damage: list[str]) -> Finding:
    name = gallery.store.path.name
    return Finding(
        "damaged_database",
        f"damaged parts of {name} (SQLite's integrity check; the other checks wait for a repair)",
        len(damage),
        damage[:MAX_EXAMPLES],
        f"`facesim doctor --repair` copies every row that can still be read into a new {name}, keeps the damaged "
        f"file beside it ({name}.damaged-TIME), lists what it could not read and marks those photos to be read "
        f"again; or restore {name} from a backup",
    )


def doctor_at(index_dir: str | Path | None, *, repair: bool = False, model_id: str | None = None) -> Checkup:
    """run_doctor on the gallery at `index_dir`. With `repair`, a database SQLite cannot even
    open (a truncated file) is first rebuilt from what it still holds, under the writer's lock."""
    recovered: list[str] = []
    try:
        gallery = Gallery.open(index_dir, create=False)
    except DamagedDatabase as damaged:
        if not repair:
            raise
        with WriteLock(damaged.path.with_name(GALLERY_LOCK_NAME)):
            recovered = _replace_with_salvage(damaged.path)
        gallery = Gallery.open(index_dir, create=False)
    with gallery:
        checkup = run_doctor(gallery, repair=repair, model_id=model_id)
    checkup.repaired[:0] = recovered
    return checkup


def _recover(gallery: Gallery) -> list[str]:
    """Replaces a damaged database with a copy of every row still readable and reopens it; the
    FAISS file is left to be rebuilt from it."""
    database = gallery.store.path
    gallery.store.close()
    done = _replace_with_salvage(database)
    gallery.store = Store(database, create=False)
    sidecar_path(gallery.vectors_path).unlink(missing_ok=True)
    return done


def _replace_with_salvage(database: Path) -> list[str]:
    """A copy of every row still readable, made sound again (see _reconcile), takes the
    database's place; the damaged file stays beside it. The photos are untouched."""
    fresh = database.with_name(database.name + ".recovering")
    for leftover in (fresh, Path(f"{fresh}-wal"), Path(f"{fresh}-shm")):
        leftover.unlink(missing_ok=True)
    salvage = salvage_database(database, fresh)
    with Store(fresh, create=False) as recovered, recovered.transaction():
        notes = _reconcile(recovered, salvage)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    backup = database.with_name(f"{database.name}.damaged-{stamp}")
    os.replace(database, backup)
    # The damaged file's WAL belongs with it: left here, SQLite would replay it into the new file.
    if Path(f"{database}-wal").exists():
        os.replace(f"{database}-wal", f"{backup}-wal")
    Path(f"{database}-shm").unlink(missing_ok=True)
    os.replace(fresh, database)
    copied = sum(salvage.copied.values())
    return [
        f"copied the {copied} readable rows of {database.name} into a new one; the damaged file is {backup.name}",
        *notes,
    ]


def _reconcile(store: Store, salvage: Salvage) -> list[str]:
    """What the lost rows mean for the gallery, fixed so that nothing lost passes for sound:
    a photo whose row was lost is put back from what its indexes still say (its path) and, like
    a photo that lost some of its faces, marked to be read again by the next `facesim index`
    (no content hash or stat, no model); faces whose vectors came back damaged go too. Returns
    one line per kind of loss."""
    notes: list[str] = []
    lost_faces = len(salvage.lost.get("faces", []))
    damaged_vectors = store.drop_damaged_vectors()
    known = salvage.known.get("photos", {})
    placed = {photo_id: columns["path"] for photo_id, columns in known.items() if columns.get("path") is not None}
    for photo_id, path in placed.items():
        store.put_back_photo(photo_id, path, REREAD_NOTE)
    # A photo whose faces are not all there (or that has faces and lost its row) is read again.
    reread = store.photos_short_of_faces(REREAD_NOTE)
    for photo_id, _, found in reread:
        if found:
            store.reset_photo(photo_id, status="indexed", error=None, n_faces=found)
        else:
            store.reset_photo(photo_id, status="error", error=REREAD_NOTE, n_faces=found)
    unplaced = len(salvage.lost.get("photos", [])) - len(placed)
    if placed:
        notes.append(f"could not read the rows of {len(placed)} photos: put back by their path, to be read again")
    if unplaced:
        notes.append(f"could not read the rows of {unplaced} photos whose path is lost too: their faces are removed")
    if lost_faces or damaged_vectors:
        notes.append(f"could not read {lost_faces + damaged_vectors} faces: their photos are marked to be read again")
    if reread:
        examples = ", ".join(path for _, path, _ in reread[:MAX_EXAMPLES])
        notes.append(f"{len(reread)} photos to be read again by `facesim index` (e.g. {examples})")
    dangling = store.drop_person_rows_of_missing_faces()
    for table, rowids in salvage.lost.items():
        if table not in ("photos", "faces"):
            notes.append(f"could not read {len(rowids)} rows of {_LOST_WORDS.get(table, table)}")
    if dangling:
        notes.append(f"forgot {dangling} person memberships and corrections of faces that could not be read")
    return notes


# What the loss of a table's rows means to the user, for the tables other than photos and faces.
_LOST_WORDS = {
    "persons": "persons: their names are lost (name them again with `facesim name`)",
    "face_persons": "person memberships: those faces join persons again at the next `facesim index`",
    "face_links": "your corrections (merge, move, reject): make them again",
    "photo_paths": "duplicate paths: the next `facesim index` finds them again",
    "runs": "the run history",
    "meta": "gallery settings (the next `facesim index` sets the model id again)",
    "sqlite_sequence": "id counters (kept above every id seen)",
}


def _examine(gallery: Gallery, shipped_model: str) -> _Evidence:
    evidence = _Evidence()
    store = gallery.store
    runs = store.runs()
    roots = sorted({_root(run) for run in runs})
    index_command = f"--index {shlex.quote(str(gallery.directory))}"

    missing, unreadable, changed, reread = _check_photos(store)
    deleted: list[tuple[int, str]] = []
    unplugged: list[str] = []
    absent_folders: set[str] = set()
    for photo_id, path in missing:
        folder = _innermost(roots, path)
        if folder is not None and not os.path.isdir(folder):
            unplugged.append(path)
            absent_folders.add(folder)
        else:
            deleted.append((photo_id, path))
    evidence.missing_photo_ids = [photo_id for photo_id, _ in deleted]
    _add(
        evidence,
        "missing_photos",
        "photos missing from disk",
        [path for _, path in deleted],
        "`facesim doctor --repair` marks them gone, which takes their faces out of search",
    )
    # A whole indexed folder gone at once is more likely an unplugged drive than deleted photos;
    # marking them gone would throw away their faces and the names given to their persons.
    _add(
        evidence,
        "missing_folders",
        "photos whose whole indexed folder is missing (an unplugged drive?)",
        unplugged,
        "reconnect it; --repair leaves these photos alone. If the folder is gone for good, create it empty "
        f"and run {_commands(sorted(absent_folders), [], index_command)}, which marks its photos gone",
    )
    _add(
        evidence,
        "unreadable_photos",
        "photos that cannot be checked (permissions, link loops)",
        unreadable,
        "fix the file or folder permissions; they are not marked gone, since unreadable is not deleted",
    )
    _add(
        evidence,
        "changed_photos",
        "photos whose bytes changed since they were indexed",
        changed,
        f"re-index them: {_commands(roots, changed, index_command)}",
    )
    _add(
        evidence,
        "photos_to_reread",
        "photos never read in full: recovered from a damaged gallery database, or unreadable when indexed",
        reread,
        f"read them again: {_commands(roots, reread, index_command)}",
    )

    vector_problem, orphan_vectors, unsearchable = _check_vectors(gallery)
    evidence.vectors_wrong = bool(vector_problem or orphan_vectors or unsearchable)
    rebuild = "`facesim doctor --repair` rebuilds it from SQLite"
    _add(evidence, "vector_file", "FAISS file missing, damaged or made for another model", vector_problem, rebuild)
    _add(evidence, "orphan_vectors", "FAISS vectors for faces SQLite does not have", orphan_vectors, rebuild)
    _add(evidence, "missing_vectors", "faces in SQLite that the FAISS file lacks", unsearchable, rebuild)

    orphan_faces = _orphan_faces(store)
    evidence.orphan_face_ids = [face_id for face_id, _ in orphan_faces]
    _add(
        evidence,
        "orphan_faces",
        "faces without an indexed photo",
        [description for _, description in orphan_faces],
        "`facesim doctor --repair` removes them",
    )

    stale = store.paths_with_faces_of_other_models(shipped_model)
    if not stale and gallery.model_id not in (None, shipped_model):
        # No vectors, but `facesim index` still refuses the gallery until one --reembed relabels it.
        stale_items = [f"the gallery itself (labelled {gallery.model_id!r})"]
    else:
        stale_items = stale
    _add(
        evidence,
        "model_mismatch",
        f"photos with vectors from another model than the shipped one ({shipped_model})",
        stale_items,
        f"re-embed them: {_commands(roots, stale, index_command + ' --reembed')}",
    )

    interrupted = _unresumed_runs(runs)
    _add(
        evidence,
        "interrupted_runs",
        "indexing runs that stopped before the end and were not run again",
        [f"run {run_id} over {root} started {started}" for run_id, root, started in interrupted],
        "resume: " + "; ".join(f"facesim index {shlex.quote(root)} {index_command}" for _, root, _ in interrupted),
    )

    evidence.temp_files = sorted(gallery.directory.glob(_TEMP_GLOB))
    _add(
        evidence,
        "leftover_files",
        "temporary files left by an interrupted write",
        [str(path) for path in evidence.temp_files],
        "`facesim doctor --repair` deletes them",
    )
    return evidence


def _add(evidence: _Evidence, kind: str, title: str, items: list[str], advice: str) -> None:
    if items:
        evidence.findings.append(Finding(kind, title, len(items), items[:MAX_EXAMPLES], advice))


def _check_photos(store: Store) -> tuple[list[tuple[int, str]], list[str], list[str], list[str]]:
    """(missing (id, path), unreadable paths, changed paths, paths never read in full) over
    every photo not yet gone.

    Size and mtime decide first, so a healthy gallery costs one stat per photo; only a photo
    whose stat differs is hashed, and one merely touched (same bytes) is not a problem. A row
    with neither stat nor hash was never read in full (see _reconcile, indexer._unreadable).
    """
    missing: list[tuple[int, str]] = []
    unreadable: list[str] = []
    changed: list[str] = []
    reread: list[str] = []
    for path, row in store.photos_by_path().items():
        if row.status == "gone":
            continue
        try:
            info = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            missing.append((row.id, path))
            continue
        except OSError as exc:
            unreadable.append(f"{path} ({exc.strerror or type(exc).__name__})")
            continue
        if (info.st_size, info.st_mtime_ns) == (row.size, row.mtime_ns):
            continue
        if row.content_hash is None:
            (reread if row.size is None else changed).append(path)
            continue
        try:
            digest = file_hash(path)
        except OSError as exc:
            unreadable.append(f"{path} ({exc.strerror or type(exc).__name__})")
            continue
        if digest != row.content_hash:
            changed.append(path)
    return missing, unreadable, changed, reread


def _check_vectors(gallery: Gallery) -> tuple[list[str], list[str], list[str]]:
    """(what is wrong with the file, FAISS ids SQLite lacks, SQLite ids FAISS lacks)."""
    path = gallery.vectors_path
    loaded = VectorIndex.load(path)
    if loaded is None:
        state = "missing" if not (path.exists() and sidecar_path(path).exists()) else "damaged"
        return [f"{path} ({state})"], [], []
    index, made_for = loaded
    if made_for != gallery.model_id:
        return [f"{path} (made for model {made_for!r}, the gallery holds {gallery.model_id!r})"], [], []
    in_faiss, in_sqlite = index.ids(), gallery.store.face_ids()
    orphans = np.setdiff1d(in_faiss, in_sqlite, assume_unique=True)
    lacking = np.setdiff1d(in_sqlite, in_faiss, assume_unique=True)
    return [], [f"face id {face_id}" for face_id in orphans.tolist()], [f"face id {i}" for i in lacking.tolist()]


def _orphan_faces(store: Store) -> list[tuple[int, str]]:
    """Faces whose photo row is gone or not `indexed`, each with a line that says which."""
    return [
        (face_id, f"face id {face_id} of {'missing' if status is None else status} photo {photo_id}")
        for face_id, photo_id, status in store.orphan_faces()
    ]


def _unresumed_runs(runs: list[RunRow]) -> list[tuple[int, str, str]]:
    """Runs without finished_at that no later finished run over the same folder, or one around
    it, made good. Runs resumed that way are history, not problems."""
    finished = [(run.id, _root(run)) for run in runs if run.finished_at is not None]
    return [
        (run.id, _root(run), run.started_at)
        for run in runs
        if run.finished_at is None
        and not any(later > run.id and is_inside(_root(run), done) for later, done in finished)
    ]


def _root(run: RunRow) -> str:
    """The folder a run indexed; "" for a run without one (only a hand-made row lacks it)."""
    return run.root or ""


def _innermost(roots: list[str], path: str) -> str | None:
    """The innermost folder indexed so far that holds this photo (a photo indexed on its own
    is not its own folder)."""
    around = [root for root in roots if root != path and is_inside(path, root)]
    return max(around, key=len) if around else None


def _commands(roots: list[str], paths: Iterable[str], index_option: str) -> str:
    """The `facesim index` commands that would reach these photos: the innermost indexed folder
    holding each, or the photo's own folder when no run covers it; with no photos, every folder
    indexed so far."""
    folders = {_innermost(roots, path) or os.path.dirname(path) for path in paths} or set(roots) or {"PHOTOS"}
    return "; ".join(f"facesim index {shlex.quote(folder)} {index_option}" for folder in sorted(folders))


def _repair(gallery: Gallery, evidence: _Evidence) -> list[str]:
    """Only what follows from SQLite; never a write to a photo. Returns one line per action."""
    done: list[str] = []
    store = gallery.store
    if evidence.missing_photo_ids:
        promoted, marked = store.retire_photos(evidence.missing_photo_ids)
        if promoted:
            done.append(f"moved {promoted} missing photos to a copy of theirs that remains")
        if marked:
            done.append(f"marked {marked} missing photos gone")
    if evidence.orphan_face_ids:
        store.delete_faces(evidence.orphan_face_ids)
        done.append(f"removed {len(evidence.orphan_face_ids)} faces without an indexed photo")
    for temp in evidence.temp_files:
        temp.unlink(missing_ok=True)
    if evidence.temp_files:
        done.append(f"deleted {len(evidence.temp_files)} leftover temporary files")
    if evidence.vectors_wrong or evidence.missing_photo_ids or evidence.orphan_face_ids:
        # Without its sidecar the file cannot pass for current, so this is a full rebuild from
        # SQLite, not a catch-up of whatever the old file held.
        sidecar_path(gallery.vectors_path).unlink(missing_ok=True)
        rebuilt = gallery.sync_vectors()
        done.append(f"rebuilt {gallery.vectors_path.name} from SQLite ({rebuilt.size} faces)")
    return done

"""facesim's command line: parses, calls the library, prints. Heavy imports (torch, dlib, faiss)
happen inside the commands so that `--help` and errors stay instant."""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from facesim.errors import FacesimError

# Each photo status as the text output says it.
STATUS_WORDS = {"indexed": "indexed", "no_face": "without a face", "error": "errors", "gone": "gone"}

app = typer.Typer(
    help="Index a photo folder by face, then match, verify and cluster the people in it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# A table is at most this wide when the output is not a terminal: wide enough for any path.
PIPED_WIDTH = 100_000


def _console(stream: Any, *, stderr: bool = False) -> Console:
    """A terminal gets rich's wrapping at its width; a pipe or file is read by scripts, so no line
    is wrapped or cut at the 80 columns rich would otherwise assume."""
    if stream.isatty():
        return Console(stderr=stderr, highlight=False)
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=PIPED_WIDTH)


out = _console(sys.stdout)
err = _console(sys.stderr, stderr=True)

IndexOption = Annotated[
    Path | None, typer.Option("--index", help="Gallery folder (default: $FACESIM_INDEX or the per-user data dir).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
CelebaOption = Annotated[
    Path | None,
    typer.Option(
        "--celeba",
        help="CelebA folder with celebA/ and identity_CelebA.txt; the reserved identities are dropped unread.",
        file_okay=False,
    ),
]
UtkfaceOption = Annotated[
    Path | None,
    typer.Option("--utkface", help="UTKFace folder of aligned crops (unlabelled; distillation only).", file_okay=False),
]
DetectorOption = Annotated[
    str,
    typer.Option(
        "--detector",
        help="Face detector: hog (fast), cnn (dlib MMOD: turned heads too, many times slower) or thorough "
        "(hog, then cnn on photos where hog found nothing).",
    ),
]
LfwOption = Annotated[
    Path, typer.Option("--lfw", help="LFW root with images/<Name>/ and the pairs files.", file_okay=False)
]


@contextmanager
def user_errors() -> Iterator[None]:
    """Every expected failure ends as one line on stderr and a non-zero exit, never a traceback."""
    try:
        yield
    except FacesimError as exc:
        err.print(f"error: {_printable(str(exc))}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        err.print("interrupted: everything committed so far is kept; run again to resume", markup=False)
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:
        if os.environ.get("FACESIM_DEBUG"):
            raise
        from index.storage_faults import storage_fault

        fault = storage_fault(exc)
        if fault is not None:
            err.print(f"error: {_printable(fault)}", markup=False, soft_wrap=True)
            raise typer.Exit(2) from None
        err.print(
            f"error: unexpected {type(exc).__name__}: {_printable(_first_line(exc))} (FACESIM_DEBUG=1 shows details)",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(1) from None


def _detector(name: str) -> str:
    from facesim.config import DETECTORS

    if name not in DETECTORS:
        raise FacesimError(f"unknown detector {name!r}; choose one of: {', '.join(DETECTORS)}")
    return name


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def _invocation() -> str:
    return "facesim " + shlex.join(sys.argv[1:])


def _printable(text: str | Path) -> str:
    """File names need not be UTF-8; escape what a terminal could not print."""
    return os.fsencode(text).decode("utf-8", "backslashreplace")


def _first_line(exc: BaseException) -> str:
    """An unexpected error's message can span lines (SQL, tracebacks of workers); the one-line
    promise holds anyway, and FACESIM_DEBUG=1 shows the rest."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""


def _absolute(path: Path | str) -> str:
    """Paths in JSON and exports are absolute, so a script reads them from any folder."""
    return _printable(os.path.abspath(path))


def _shown(path: Path | str) -> str:
    """Relative to the working folder when inside it, which keeps tables readable."""
    path = Path(path)
    if path.is_absolute() and path.is_relative_to(Path.cwd()):
        path = path.relative_to(Path.cwd())
    return _printable(path)


def _version(value: bool) -> None:
    if not value:
        return
    from facesim import __version__
    from facesim.model_card import model_id

    with user_errors():
        out.print(f"facesim {__version__}, model {model_id()}", markup=False)
    raise typer.Exit(0)


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the package and model versions."),
    ] = False,
) -> None:
    """Index a photo folder by face, then match, verify and cluster the people in it."""


@app.command("index")
def index_photos(
    path: Annotated[Path, typer.Argument(help="Photo folder (searched recursively) or a single photo.")],
    index: IndexOption = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Processes for decoding, detection and embedding (default: one per usable core, "
            "as memory allows, about 0.5 GB each).",
            show_default=False,
        ),
    ] = None,
    detector: DetectorOption = "hog",
    retry_errors: Annotated[bool, typer.Option("--retry-errors", help="Retry files that failed before.")] = False,
    reembed: Annotated[
        bool, typer.Option("--reembed", help="Re-embed photos whose vectors an older model made.")
    ] = False,
    engine: Annotated[
        str, typer.Option("--engine", help="local: this machine (--workers processes); ray: a Ray cluster.")
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            help="With --engine ray: the cluster's HOST:PORT or auto "
            "(default: $RAY_ADDRESS, else a running local cluster, else a new one).",
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude",
            metavar="GLOB",
            help="Skip paths matching GLOB (relative to PATH, a folder, a name or absolute; repeatable).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Find and embed every face in every photo under PATH. Reruns only do new or changed files.

    A known photo under a new path is a move (nothing embedded again), and a byte-identical copy
    is another location of the same photo.
    """
    with user_errors():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from index.gallery import Gallery
        from index.indexer import index_folder

        with (
            Gallery.open(index) as gallery,
            Progress(
                TextColumn("indexing"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err,
                disable=as_json or not err.is_terminal,
                transient=True,
            ) as progress,
        ):
            task = progress.add_task("index", total=None)

            def advance(total: int, done: int, _current: Path | None) -> None:
                progress.update(task, total=total, completed=done)

            summary = index_folder(
                gallery,
                path,
                detector=_detector(detector),
                workers=workers,
                retry_errors=retry_errors,
                reembed=reembed,
                progress=advance,
                engine=engine,
                ray_address=address,
                exclude=exclude or (),
            )
            info = gallery.info(verify=False)
    problems = [(p, m) for p, m in summary.errors + summary.unreadable]
    if as_json:
        _print_json(
            {
                **summary.counts(),
                "errors": [{"path": _absolute(p), "error": m} for p, m in problems],
                "known_errors": [{"path": _absolute(p), "error": m} for p, m in summary.known_errors],
                "gallery": {
                    "path": _absolute(info.directory),
                    "photos": info.photos.get("indexed", 0),
                    "faces": info.faces,
                    "photo_status": info.photos,
                },
            }
        )
        return
    for _, message in problems:
        err.print(f"skipped {_printable(message)}", markup=False, soft_wrap=True)
    for _, message in summary.known_errors:
        err.print(f"still bad (--retry-errors to retry): {_printable(message)}", markup=False, soft_wrap=True)
    line = (
        f"photos {summary.photos_seen}: {summary.indexed} indexed, {summary.faces} faces, "
        f"{summary.skipped} unchanged, {summary.no_face} without a face, {len(problems)} errors, "
        f"{summary.gone} gone, {summary.moved} moved, {summary.duplicates} duplicates"
    )
    if summary.excluded:
        line += f", {summary.excluded} excluded"
    if summary.known_errors:
        line += f", {len(summary.known_errors)} bad files from earlier runs"
    if summary.joined or summary.new_persons:
        line += f"; {summary.joined} faces joined known persons, {summary.new_persons} new persons"
    out.print(line)
    out.print(f"gallery {_shown(info.directory)}: {info.photos.get('indexed', 0)} photos, {info.faces} faces")


@app.command()
def forget(
    path: Annotated[Path, typer.Argument(help="A folder (everything under it) or a single photo.")],
    index: IndexOption = None,
    as_json: JsonOption = False,
) -> None:
    """Take a folder's or a file's photos out of the gallery (faces, vectors and all).

    The photos themselves are not touched. `facesim index --exclude` keeps them out of later runs.
    """
    with user_errors():
        from index.gallery import Gallery
        from index.indexer import forget_path

        with Gallery.open(index, create=False) as gallery:
            forgotten = forget_path(gallery, path)
    if as_json:
        _print_json(dataclasses.asdict(forgotten))
        return
    line = f"forgot {forgotten.photos} photos, {forgotten.faces} faces, {forgotten.copies} duplicates"
    if forgotten.kept:
        line += f"; {forgotten.kept} photos kept at their duplicates elsewhere"
    out.print(line, markup=False)


@app.command()
def match(
    query: Annotated[Path, typer.Argument(help="Photo of the person to look for.")],
    index: IndexOption = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="How many nearest faces to list.")] = 10,
    all_faces: Annotated[
        bool, typer.Option("--all-faces", help="Search for every face in the query, not only the main one.")
    ] = False,
    every_match: Annotated[
        bool, typer.Option("--all", help="List every face under the threshold, however many, instead of --top-k.")
    ] = False,
    detector: DetectorOption = "hog",
    as_json: JsonOption = False,
) -> None:
    """Which indexed photos show this person? Nearest faces first, with the same-person verdict and
    the person each face belongs to."""
    with user_errors():
        import numpy as np

        from facesim.model_card import threshold
        from index.gallery import Gallery
        from index.persons import persons_of_faces
        from index.search import match as search

        with Gallery.open(index, create=False) as gallery:
            faces, in_query = _faces_of(query, all_faces, _detector(detector), {})
            found = search(gallery, np.stack([face.embedding for face in faces]), top_k, every_match=every_match)
            people = persons_of_faces(gallery.store, [hit.face_id for hits in found for hit in hits])
            copies = gallery.store.other_paths([hit.photo_id for hits in found for hit in hits])
        limit = threshold()
    rows = [
        {
            "query_face": number,
            "query_box": list(face.detection.box),
            "query_faces": in_query,
            "path": _absolute(hit.path),
            "other_paths": [_absolute(path) for path in copies.get(hit.photo_id, [])],
            "face_id": hit.face_id,
            "box": list(hit.box),
            "distance": round(hit.distance, 4),
            "same_person": hit.same_person,
            "person": people.get(hit.face_id, (None, ""))[0],
            "name": people.get(hit.face_id, (None, ""))[1],
        }
        for number, (face, hits) in enumerate(zip(faces, found, strict=True))
        for hit in hits
    ]
    if as_json:
        _print_json(rows)
        return
    if in_query > 1 and not all_faces:
        box = ",".join(map(str, faces[0].detection.box))
        err.print(
            f"note: {_printable(query)} shows {in_query} faces; searched the largest, box {box} "
            "(--all-faces searches each)",
            markup=False,
        )
    title = f"every face under {limit:.3f}" if every_match else f"nearest faces (same person below {limit:.3f})"
    table = Table(title=title)
    for column in (["query face"] if all_faces else []) + ["distance", "same person", "photo", "face", "box", "person"]:
        table.add_column(column, overflow="fold")
    for row in rows:
        verdict = "[green]yes[/green]" if row["same_person"] else "no"
        cells = [str(row["query_face"])] if all_faces else []
        person = row["name"] or ("" if row["person"] is None else str(row["person"]))
        box = ",".join(map(str, row["box"]))
        photo = _shown(row["path"]) + (f" (+{len(row['other_paths'])} duplicates)" if row["other_paths"] else "")
        table.add_row(*cells, f"{row['distance']:.3f}", verdict, photo, str(row["face_id"]), box, person)
    out.print(table)


@app.command()
def info(index: IndexOption = None, as_json: JsonOption = False) -> None:
    """The model (architecture, input size, threshold, accuracy) and the gallery (photos, faces, clusters)."""
    with user_errors():
        from facesim.model_card import read_card
        from index.gallery import Gallery

        card = read_card()
        from index.persons import names, unassigned_count

        with Gallery.open(index, create=False) as gallery:
            gallery_info = gallery.info()
            clusters = gallery.person_count()
            named = len(names(gallery.store))
            unassigned = unassigned_count(gallery.store)
            singletons = gallery.person_count(min_size=1) - clusters
    devtest = card.get("evaluation", {}).get("lfw_devtest", {})
    data = {
        "photos": gallery_info.photos.get("indexed", 0),
        "faces": gallery_info.faces,
        "clusters": clusters,
        "named_persons": named,
        "faces_alone": singletons,
        "faces_in_no_person": unassigned,
        "photo_status": gallery_info.photos,
        "index_path": _absolute(gallery_info.directory),
        "vector_index": gallery_info.vector_index,
        "model": {
            "model_id": card.get("model_id"),
            "architecture": card.get("architecture", {}).get("name"),
            "input_size": card.get("input", {}).get("input_size"),
            "threshold": card.get("threshold"),
            "lfw_devtest": {k: devtest.get(k) for k in ("accuracy", "f1", "roc_auc", "tar_at_far_1e-3")},
        },
    }
    if as_json:
        _print_json(data)
        return
    model = data["model"]
    out.print(f"model    {model['model_id']} ({model['architecture']}, {model['input_size']} px input)")
    scores = ", ".join(f"{k} {v:.3f}" for k, v in model["lfw_devtest"].items() if v is not None) or "not evaluated"
    out.print(f"         threshold {model['threshold']}; LFW DevTest: {scores}")
    out.print(f"gallery  {_shown(data['index_path'])} ({data['vector_index'] or 'no'} vector index)")
    out.print(f"         {data['photos']} photos, {data['faces']} faces, {data['clusters']} clusters")
    out.print(
        f"         {data['named_persons']} named persons, {data['faces_alone']} faces alone, "
        f"{data['faces_in_no_person']} faces in no person yet"
    )
    out.print(f"         photo status: {_status_words(data['photo_status'])}", markup=False)


def _status_words(counts: dict[str, int]) -> str:
    """Photo counts by status in words, the same in `info` and `doctor`."""
    return ", ".join(f"{count} {STATUS_WORDS[status]}" for status, count in counts.items())


@app.command()
def photos(
    person: Annotated[
        str | None, typer.Argument(help="A person's id or name: list every photo of them (stored persons).")
    ] = None,
    index: IndexOption = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="Only photos with this status: indexed, no_face, error or gone."),
    ] = None,
    export: Annotated[str | None, typer.Option("--export", help="With PERSON: write the faces as csv.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List the gallery's photos (absolute paths), e.g. `--status no_face` for those without a face,
    or every photo of one person: `facesim photos Ada`."""
    with user_errors():
        from index.gallery import Gallery
        from index.store import STATUSES

        if status not in (None, *STATUSES):
            raise FacesimError(f"unknown status {status!r}; choose one of: {', '.join(STATUSES)}")
        if export not in (None, "csv") or (export and person is None):
            raise FacesimError("--export csv lists one person's photos: give PERSON")
        if person is not None and status is not None:
            raise FacesimError("give PERSON or --status, not both")
        with Gallery.open(index, create=False) as gallery:
            if person is not None:
                from index.persons import faces_of_person

                faces = faces_of_person(gallery.store, person)
            else:
                rows = [row for row in gallery.store.photos_by_path().values() if status in (None, row.status)]
    if person is not None:
        _list_person(faces, export, as_json)
        return
    listed = [
        {"path": _absolute(row.path), "status": row.status, "faces": row.n_faces, "error": row.error}
        for row in sorted(rows, key=lambda row: row.path)
    ]
    if as_json:
        _print_json(listed)
        return
    for row in listed:
        cells = [row["path"]] if status else [row["status"], row["path"]]
        out.print("\t".join(cells + ([row["error"]] if row["error"] else [])), markup=False)


def _list_person(faces: list, export: str | None, as_json: bool) -> None:
    if export:
        _write_export(export, faces, 0, None, faces)
        return
    listed = [
        {
            "path": _absolute(face.photo_path),
            "face_id": face.face_id,
            "box": list(face.box),
            "person": face.person_id,
            "name": face.name,
            "other_paths": [_absolute(p) for p in face.other_paths],
        }
        for face in faces
    ]
    if as_json:
        _print_json(listed)
        return
    for row in listed:
        out.print(f"{row['path']}\tface {row['face_id']}\tbox {','.join(map(str, row['box']))}", markup=False)


@app.command()
def clusters(
    index: IndexOption = None,
    export: Annotated[
        str | None,
        typer.Option(
            "--export", help="Write every face as csv, json or html, or xmp: one MWG-regions sidecar per photo."
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File (folder for xmp) to write the --export to (default: stdout)."),
    ] = None,
    min_size: Annotated[int, typer.Option("--min-size", min=1, help="Hide persons with fewer faces.")] = 2,
    linkage: Annotated[
        str | None,
        typer.Option(
            help="Re-cluster to try another rule, without storing it unless --apply. complete: every two faces of "
            "a person are under the cut; average: their groups' mean distance is (merges more, splits less); "
            "single, whispers (Chinese whispers), dbscan, hdbscan, two-stage: the other rules calibration compared. "
            "Each runs at its own calibrated cut and parameters; the default is the model card's calibrated rule."
        ),
    ] = None,
    apply: Annotated[
        bool,
        typer.Option(
            "--apply", help="Re-cluster and store the result as the gallery's persons (names stay with their ids)."
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """The gallery's persons: clustered by the calibrated rule and stored on the first run, shown
    as stored later.

    New faces join the stored persons at `facesim index`. --linkage tries another clustering
    without storing it; --apply stores a new clustering. Faces from one photo are never put in
    one person.
    """
    with user_errors():
        from facesim.model_card import clustering_rule
        from index.export import hide_small
        from index.gallery import Gallery
        from index.persons import cluster_gallery, has_persons, join_new_faces, stored_clustering, unassigned_count

        if export not in (None, "csv", "json", "html", "xmp"):
            raise FacesimError(f"unknown export format {export!r}; choose csv, json, html or xmp")
        if export == "xmp" and output is None:
            raise FacesimError("--export xmp writes one sidecar per photo: give the folder with --output DIR")
        if output is not None and export is None:
            raise FacesimError("--output needs --export csv, json, html or xmp")
        calibrated = clustering_rule().linkage
        rule = clustering_rule(linkage)
        chosen = rule.linkage
        notes = []
        with Gallery.open(index, create=False) as gallery:
            store = gallery.store
            stored = has_persons(store)
            if apply or (not stored and chosen == calibrated and not gallery.read_only):
                with gallery.write_lock():
                    result = cluster_gallery(store, rule.cut, chosen, params=rule.params)
            elif linkage is not None or not stored:
                result = cluster_gallery(store, rule.cut, chosen, params=rule.params, save=False)
                if linkage is None:
                    notes.append("persons clustered now and not stored: the gallery is read-only")
                else:
                    notes.append(
                        f"a trial of --linkage {chosen}, not stored: the gallery keeps its persons "
                        "(add --apply to store this clustering)"
                    )
            else:
                pending = unassigned_count(store)
                if pending and gallery.try_write_lock():
                    join_new_faces(store, clustering_rule("complete").cut)
                elif pending and gallery.read_only:
                    notes.append(f"{pending} faces are in no person yet: the gallery is read-only")
                elif pending:
                    notes.append(f"{pending} faces of the running `facesim index` join persons when it ends")
                result = stored_clustering(store)
        rows, hidden = hide_small(result.rows, min_size)
        if export or as_json:
            _write_export(export or "json", rows, hidden, output, result.rows if min_size > 1 else [])
    if result.faceless_names:
        listed = ", ".join(f"{person} {name}" for person, name in sorted(result.faceless_names.items()))
        notes.append(f"names kept for persons with no face in this clustering: {listed}")
    for note in notes:
        err.print(f"note: {_printable(note)}", markup=False)
    summary = f"{result.persons} persons, {result.singletons} faces that match nobody"
    if hidden:
        summary += f" ({hidden} faces in persons under --min-size {min_size} not shown)"
    if export or as_json:
        if output is not None:
            err.print(f"wrote {len(rows)} faces to {_shown(output)}: {summary}", markup=False)
        return
    table = Table(title=summary)
    for column in ("person", "name", "faces", "face ids", "photos"):
        table.add_column(column, overflow="fold")
    by_person: dict[int, list] = {}
    for row in rows:
        by_person.setdefault(row.person_id, []).append(row)
    for person, faces in by_person.items():
        more = " ..." if len(faces) > 3 else ""
        photos = ", ".join(_shown(face.photo_path) for face in faces[:3]) + more
        face_ids = ",".join(str(face.face_id) for face in faces[:3]) + more
        table.add_row(str(person), faces[0].name, str(len(faces)), face_ids, photos)
    out.print(table)


def _write_export(fmt: str, rows: list, hidden: int, output: Path | None, all_rows: list) -> None:
    """`all_rows` (every face, when --min-size hid some) gives the HTML its section of faces in no person."""
    from index.export import faces_in_no_person, write_csv, write_html, write_json
    from index.thumbnails import face_thumbnail
    from index.xmp import write_xmp_sidecars

    target = output if output is not None else sys.stdout
    try:
        if fmt == "xmp" and output is not None:
            written = write_xmp_sidecars(rows, output)
            err.print(f"wrote {written} XMP sidecars under {_shown(output)}", markup=False)
        elif fmt == "csv":
            write_csv(rows, target)
        elif fmt == "json":
            write_json(rows, target)
        else:
            unassigned = faces_in_no_person(all_rows)
            write_html(rows, target, face_thumbnail, hidden_faces=hidden - len(unassigned), unassigned=unassigned)
    except BrokenPipeError:
        # The reader (e.g. `head`) has seen enough; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except OSError as exc:
        raise FacesimError(f"{output}: cannot write ({exc.strerror})") from None


@app.command()
def name(
    person_id: Annotated[int, typer.Argument(help="Person id, as listed by `facesim clusters`.")],
    person_name: Annotated[str, typer.Argument(metavar="NAME", help="The name to show for this person.")],
    index: IndexOption = None,
) -> None:
    """Name a person; the name follows them through later re-clusterings and shows in exports and matches."""
    with user_errors():
        from index.gallery import Gallery
        from index.persons import set_name

        with Gallery.open(index, create=False) as gallery, gallery.write_lock():
            set_name(gallery.store, person_id, person_name)
    out.print(f"person {person_id} is now {person_name!r}")


PersonArgument = Annotated[int, typer.Argument(help="Person id, as listed by `facesim clusters`.")]
FaceArgument = Annotated[int, typer.Argument(help="Face id, as listed by `clusters --export` and `match`.")]


@app.command()
def merge(person_id: PersonArgument, other: PersonArgument, index: IndexOption = None) -> None:
    """Two persons are one: OTHER's faces join PERSON_ID, and stay together in every later clustering."""
    with user_errors():
        from index.corrections import merge_persons

        with _corrected(index) as store:
            done = merge_persons(store, person_id, other)
    out.print(f"person {other} merged into person {person_id} ({done.faces} faces)", markup=False)
    if done.note:
        err.print(done.note, markup=False)


@app.command()
def move(face_id: FaceArgument, person_id: PersonArgument, index: IndexOption = None) -> None:
    """This face belongs to PERSON_ID, in this and every later clustering."""
    with user_errors():
        from index.corrections import move_face

        with _corrected(index) as store:
            move_face(store, face_id, person_id)
    out.print(f"face {face_id} is now in person {person_id}", markup=False)


@app.command()
def reject(
    face_id: FaceArgument,
    person_id: Annotated[int | None, typer.Argument(help="The person it is not (default: its person now).")] = None,
    index: IndexOption = None,
) -> None:
    """This face is not this person: it leaves the person and never joins it again."""
    with user_errors():
        from index.corrections import reject_face

        with _corrected(index) as store:
            done = reject_face(store, face_id, person_id)
    out.print(f"face {face_id} is now person {done.person_id} on its own", markup=False)


@app.command()
def split(person_id: PersonArgument, index: IndexOption = None) -> None:
    """Undo the merges and moves into a person, and re-cluster so that what they joined may part."""
    with user_errors():
        from facesim.model_card import clustering_rule
        from index.corrections import unmerge_links
        from index.persons import cluster_gallery

        rule = clustering_rule()
        with _corrected(index) as store:
            dropped = unmerge_links(store, person_id)
            result = cluster_gallery(store, rule.cut, rule.linkage, params=rule.params)
    out.print(f"undid {dropped} merge links of person {person_id}; now {result.persons} persons", markup=False)


@contextmanager
def _corrected(index: Path | None) -> Iterator[Any]:
    """The gallery's store under the writer's lock: a correction rewrites stored persons."""
    from index.gallery import Gallery

    with Gallery.open(index, create=False) as gallery, gallery.write_lock():
        yield gallery.store


@app.command()
def verify(
    photo_a: Annotated[Path | None, typer.Argument(help="First photo.")] = None,
    photo_b: Annotated[Path | None, typer.Argument(help="Second photo.")] = None,
    all_faces: Annotated[
        bool,
        typer.Option("--all-faces", help="Compare every face of A with every face of B; report the closest pair."),
    ] = False,
    pairs: Annotated[
        Path | None,
        typer.Option(
            "--pairs",
            help="CSV with path_a,path_b columns (relative to the CSV): answer every pair in one process.",
            dir_okay=False,
        ),
    ] = None,
    detector: DetectorOption = "hog",
    as_json: JsonOption = False,
) -> None:
    """Are these two photos the same person? Says which faces it compared.

    Compares the main (largest) face of each photo, or with --all-faces the closest pair of faces.
    Exits 0 whatever the answer; non-zero only when a photo cannot be used.
    """
    with user_errors():
        from facesim.model_card import is_same_person, threshold

        limit = threshold()
        _detector(detector)
        if pairs is not None:
            if photo_a is not None:
                raise FacesimError("give two photos or --pairs FILE.csv, not both")
            failed = _verify_pairs(pairs, all_faces, detector, limit, as_json)
            if failed:
                raise FacesimError(f"{failed} pairs could not be compared (see their error column)")
            return
        if photo_a is None or photo_b is None:
            raise FacesimError("give two photos, or --pairs FILE.csv")
        from facesim.pipeline import embed_faces, locate_faces

        # Both photos read and searched for faces before the encoder loads: a bad second photo
        # is reported in a fraction of a second, not after torch.
        located = [locate_faces(photo, detector, all_faces) for photo in (photo_a, photo_b)]
        answer = _compare(*((embed_faces(rgb, chosen), count) for rgb, chosen, count in located))
        same = is_same_person(answer["distance"], limit)
    if as_json:
        _print_json({**answer, "distance": round(answer["distance"], 4), "threshold": limit, "same_person": same})
        return
    verdict = "[green]same person[/green]" if same else "[red]different people[/red]"
    out.print(f"{verdict}  distance {answer['distance']:.3f} (threshold {limit:.3f})")
    for side, photo in (("a", photo_a), ("b", photo_b)):
        if answer[f"faces_{side}"] > 1:
            box = ",".join(map(str, answer[f"box_{side}"]))
            chosen = "the closest" if all_faces else "the largest"
            count = answer[f"faces_{side}"]
            out.print(f"{_printable(photo)} shows {count} faces; compared {chosen}, box {box}", markup=False)


def _faces_of(photo: Path, all_faces: bool, detector: str, cache: dict[Path, tuple[list, int]]) -> tuple[list, int]:
    """(faces to compare, faces in the photo), each photo read and embedded once per process."""
    from facesim.pipeline import embed_faces, locate_faces

    if photo not in cache:
        rgb, chosen, count = locate_faces(photo, detector, all_faces)
        cache[photo] = (embed_faces(rgb, chosen), count)
    return cache[photo]


def _compare(a: tuple[list, int], b: tuple[list, int]) -> dict[str, Any]:
    """The closest pair of the given faces: its distance and boxes, and each photo's face count."""
    from facesim.pipeline import face_distance

    distance, face_a, face_b = min(
        ((face_distance(x.embedding, y.embedding), x, y) for x in a[0] for y in b[0]), key=lambda item: item[0]
    )
    return {
        "distance": distance,
        "faces_a": a[1],
        "faces_b": b[1],
        "box_a": list(face_a.detection.box),
        "box_b": list(face_b.detection.box),
    }


def _verify_pairs(source: Path, all_faces: bool, detector: str, limit: float, as_json: bool) -> int:
    """Answers every pair of the CSV, one output row each, in input order; a pair whose photo
    cannot be used gets its one-line error instead of stopping the others. Returns how many failed."""
    import csv

    from facesim.model_card import is_same_person

    try:
        with open(source, newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise FacesimError(f"{source}: cannot read ({exc.strerror})") from None
    if not rows or not {"path_a", "path_b"} <= set(rows[0]):
        raise FacesimError(f"{source}: expected a header with path_a,path_b and at least one pair")
    faces: dict[Path, tuple[list, int]] = {}
    answers = []
    for row in rows:
        path_a, path_b = (source.parent / (row[key] or "") for key in ("path_a", "path_b"))
        answer: dict[str, Any] = {"path_a": _absolute(path_a), "path_b": _absolute(path_b)}
        try:
            found = _compare(
                _faces_of(path_a, all_faces, detector, faces), _faces_of(path_b, all_faces, detector, faces)
            )
        except FacesimError as exc:
            answer["error"] = str(exc)
        else:
            same = bool(is_same_person(found["distance"], limit))
            answer.update(found, distance=round(found["distance"], 4), same_person=same, error=None)
        answers.append(answer)
    if as_json:
        _print_json([{**answer, "threshold": limit} for answer in answers])
    else:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        columns = ["path_a", "path_b", "distance", "same_person", "faces_a", "faces_b", "error"]
        writer.writerow(columns)
        for answer in answers:
            writer.writerow([answer.get(key, "") for key in columns[:-1]] + [answer["error"] or ""])
    return sum(answer["error"] is not None for answer in answers)


@app.command()
def evaluate(
    pairs: Annotated[
        Path | None, typer.Option("--pairs", help="CSV of path_a,path_b,label (1 = same person).", dir_okay=False)
    ] = None,
    lfw: Annotated[
        Path | None, typer.Option("--lfw", help="LFW root: evaluate on View 1 DevTest.", file_okay=False)
    ] = None,
    update_card: Annotated[bool, typer.Option("--update-card", help="Record the result in the model card.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Accuracy, precision, recall, F1 and ROC AUC of the shipped encoder at its calibrated threshold."""
    with user_errors():
        from facesim.model_card import threshold
        from facesim.training.workflow import evaluate_pairs, record_evaluation

        if (pairs is None) == (lfw is None):
            raise FacesimError("give exactly one of --pairs FILE.csv or --lfw DIR")
        report = evaluate_pairs(pairs, lfw, threshold())
        if update_card:
            record_evaluation("lfw_devtest" if lfw else Path(pairs).stem, report, _invocation())
    if as_json:
        _print_json(report)
        return
    table = Table(title=f"{report['pairs']} ({report['n_pairs']} pairs)", show_header=False)
    for key in ("accuracy", "precision", "recall", "f1", "roc_auc", "tar_at_far_1e-3", "threshold"):
        table.add_row(key, f"{report[key]:.4f}")
    table.add_row("photos with no face found (central box used)", str(report["undetected_photos"]))
    out.print(table)


@app.command()
def train(
    lfw: LfwOption,
    celeba: CelebaOption = None,
    utkface: UtkfaceOption = None,
    epochs: Annotated[
        int | None, typer.Option(help="Passes over the training people's faces (default: the trainer's).")
    ] = None,
    max_steps: Annotated[int | None, typer.Option(help="Stop after this many steps (smoke runs).")] = None,
    weights: Annotated[Path | None, typer.Option(help="Where to write the weights (default: the package's).")] = None,
    cache: Annotated[Path | None, typer.Option(help="Chip cache dir (default: $FACESIM_CACHE or ~/.cache).")] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Ignore an existing checkpoint.")] = False,
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch (default: torch's choice).")] = None,
    init_from: Annotated[
        Path | None, typer.Option(help="Fine-tune these weights instead of starting from random ones.")
    ] = None,
    learning_rate: Annotated[
        float | None, typer.Option(help="Peak learning rate of the cosine schedule (default: the trainer's).")
    ] = None,
    contrastive_weight: Annotated[
        float | None,
        typer.Option(help="Contrastive term weight beside distillation; 0 distils only (default: the trainer's)."),
    ] = None,
    pack_to: Annotated[
        Path | None,
        typer.Option(
            help="Write the training chips to this one file for a GPU machine "
            "(python -m facesim.training.train_packed), instead of training here."
        ),
    ] = None,
) -> None:
    """Train the Siamese encoder on LFW minus DevTest's people, plus CelebA and UTKFace when given
    (resumes from its checkpoint)."""
    if pack_to is not None:
        with user_errors():
            from facesim.training.workflow import DataRoots, pack_training_pool

            roots = DataRoots(lfw, celeba, utkface)
            size = pack_training_pool(roots, cache, pack_to, _invocation(), log=lambda line: out.print(line))
        out.print(f"wrote {pack_to} ({size / 2**20:.1f} MiB)")
        return
    with user_errors():
        if threads:
            import torch

            torch.set_num_threads(threads)
        from facesim.config import MODEL_CARD_PATH, WEIGHTS_PATH
        from facesim.training.trainer import TrainSettings
        from facesim.training.workflow import DataRoots, train_encoder

        target = weights or WEIGHTS_PATH
        card_path = MODEL_CARD_PATH if weights is None else target.with_suffix(".json")
        overrides = {"epochs": epochs, "learning_rate": learning_rate, "contrastive_weight": contrastive_weight}
        settings = TrainSettings(
            max_steps=max_steps,
            init_from=str(init_from) if init_from else None,
            **{name: value for name, value in overrides.items() if value is not None},
        )
        card = train_encoder(
            DataRoots(lfw, celeba, utkface),
            settings,
            _invocation(),
            target,
            card_path,
            cache,
            resume=not fresh,
            log=lambda line: out.print(line),
        )
    out.print(f"trained {card['model_id']} in {card['training']['seconds']:.0f}s -> {target}")
    out.print("next: facesim calibrate --lfw DIR [--celeba DIR], then facesim evaluate --lfw DIR --update-card")


@app.command()
def calibrate(
    lfw: LfwOption,
    celeba: CelebaOption = None,
    weights: Annotated[Path | None, typer.Option(help="Weights to calibrate (default: the package's).")] = None,
    cache: Annotated[Path | None, typer.Option(help="Chip cache dir (default: $FACESIM_CACHE or ~/.cache).")] = None,
) -> None:
    """Choose the distance threshold that maximises F1 on held-out people of every labelled source,
    store it in the model card, and show each source at that threshold beside its own best one."""
    with user_errors():
        from facesim.config import MODEL_CARD_PATH, WEIGHTS_PATH
        from facesim.model_card import write_card
        from facesim.training.workflow import DataRoots, calibrate_encoder, validation_vectors
        from index.cluster_calibration import calibrate_clustering

        target = weights or WEIGHTS_PATH
        card_path = MODEL_CARD_PATH if weights is None else target.with_suffix(".json")
        val_data, vectors = validation_vectors(DataRoots(lfw, celeba), target, cache)
        card = calibrate_encoder(val_data, vectors, _invocation(), card_path)
        card["clustering"] = calibrate_clustering(val_data.sources, val_data.labels, vectors, card["threshold"])
        write_card(card, card_path)
    calibration, rule = card["calibration"], card["clustering"]
    report = calibration["at_threshold"]
    out.print(
        f"threshold {card['threshold']:.4f}: F1 {report['f1']:.4f}, "
        f"accuracy {report['accuracy']:.4f} on {report['n_pairs']} validation pairs"
    )
    for source, result in calibration["per_source"].items():
        shared, own = result["at_shared_threshold"], result["at_own_threshold"]
        out.print(
            f"  {source}: accuracy {shared['accuracy']:.4f} at the shared threshold, "
            f"{own['accuracy']:.4f} at its own best {result['own_best_threshold']:.4f}"
        )
    strangers = calibration["strangers"]
    out.print(
        f"  strangers: {strangers['stranger_false_hit_rate']:.1%} of {strangers['stranger_queries']} people outside a "
        f"{strangers['gallery_faces']}-face gallery get a false match; "
        f"per-pair false accepts {strangers['pair_false_accept_rate']:.2%}"
    )
    scores = ", ".join(f"{source} F {score['f1']:.3f}" for source, score in rule["at_chosen"].items())
    params = "".join(f", {name} {value}" for name, value in rule["params"].get(rule["linkage"], {}).items())
    out.print(f"clustering: {rule['linkage']} at {rule['cut']:.4f}{params} ({scores})")


@app.command()
def doctor(
    index: IndexOption = None,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Rebuild the FAISS file from SQLite, mark missing photos gone, and copy what a damaged gallery.db "
            "still holds into a new one (the damaged file is kept); never touches photos.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Check the gallery against its FAISS file and the photos on disk; say what to run for each
    problem. Exits 0 when healthy, 1 while problems remain."""
    with user_errors():
        from index.doctor import doctor_at

        checkup = doctor_at(index, repair=repair)
    if as_json:
        _print_json(checkup.as_dict())
    else:
        if not any(finding.kind == "damaged_database" for finding in checkup.findings):  # no counts to trust
            out.print(
                f"gallery {_shown(checkup.gallery)}: {checkup.photos} photos, {checkup.faces} faces", markup=False
            )
            out.print(f"photo status: {_status_words(checkup.photo_status)}", markup=False)
        for action in checkup.repaired:
            out.print(f"repaired: {action}", markup=False, soft_wrap=True)
        for finding in checkup.findings:
            more = f" ({finding.count - len(finding.examples)} more)" if finding.count > len(finding.examples) else ""
            out.print(f"problem: {finding.count} {finding.title}", markup=False, soft_wrap=True)
            out.print(f"  e.g. {_printable('; '.join(finding.examples))}{more}", markup=False, soft_wrap=True)
            out.print(f"  fix: {_printable(finding.advice)}", markup=False, soft_wrap=True)
        kinds = len(checkup.findings)
        out.print("healthy" if checkup.healthy else f"not healthy: {kinds} kind{'s' * (kinds != 1)} of problem")
    if not checkup.healthy:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()

"""facesim's command line: parses, calls the library, prints. Heavy imports (the encoder, dlib, faiss)
happen inside the commands so that `--help` and errors stay instant."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from facesim.config import DEFAULT_DETECTOR
from facesim.errors import FacesimError, first_line

# Each photo status as the text output says it.
STATUS_WORDS = {"indexed": "indexed", "no_face": "without a face", "error": "error", "gone": "gone"}


def _plain_help() -> None:
    """Typer 0.29 prints each parameter's Python type (`--version <bool>`, `--export <str>`) and
    puts required arguments in braces (`{PERSON}`); the help text says in words what each one
    takes, so flags and arguments are shown as their names alone, a text option with its name
    (`--export EXPORT`), and only numbers and paths keep their type. Older Typers print neither
    and are left as they are."""
    from typer import core

    option, argument = getattr(core, "TyperOption", None), getattr(core, "TyperArgument", None)
    if option is None or not hasattr(option, "display_type_rich") or not hasattr(argument, "_usage_display_name"):
        return
    typed = option.display_type_rich

    def value(self: Any, ctx: Any) -> str | None:
        shown = None if self.is_flag else typed(self, ctx)
        return self.name.upper() if shown == "<str>" else shown  # --export EXPORT, not --export <str>

    option.display_type_rich = value
    argument.display_type_rich = lambda self, ctx: None
    usage = argument._usage_display_name
    argument._usage_display_name = lambda self: usage(self).replace("{", "").replace("}", "")


_plain_help()
app = typer.Typer(
    help="Index a photo folder by face, then match, verify and cluster the people in it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Markdown joins a docstring's wrapped lines into one paragraph, as a reader expects, where
    # the default keeps each source line break.
    rich_markup_mode="markdown",
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
        help="Face detector: yunet (OpenCV's CNN, the default: fast, turned heads too), hog (dlib), cnn (dlib "
        "MMOD, many times slower) or thorough (hog, then cnn on photos where hog found nothing).",
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
        from index.store.faults import storage_fault

        fault = storage_fault(exc)
        if fault is not None:
            err.print(f"error: {_printable(fault)}", markup=False, soft_wrap=True)
            raise typer.Exit(2) from None
        err.print(
            f"error: unexpected {type(exc).__name__}: {_printable(first_line(exc, ''))} "
            "(FACESIM_DEBUG=1 shows details)",
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


def _print_cells(cells: list[str]) -> None:
    """One tab-separated line, tabs kept (rich would expand them to spaces, and `cut -f` would
    no longer find the columns)."""
    sys.stdout.write("\t".join(_printable(cell) for cell in cells) + "\n")


def _print_phrases(head: str, phrases: list[str]) -> None:
    """A summary line of comma-separated phrases. A terminal narrower than the line breaks it
    between phrases, never inside one ("3 without / a face"); a pipe gets one line."""
    if not out.is_terminal:
        out.print(head + ", ".join(phrases), markup=False, soft_wrap=True)
        return
    lines, line = [], head
    for number, phrase in enumerate(phrases):
        piece = phrase + ("," if number < len(phrases) - 1 else "")
        if line.strip() and len(line) + len(piece) > out.width:
            lines.append(line.rstrip())
            line = "  "
        line += piece + " "
    lines.append(line.rstrip())
    out.print("\n".join(lines), markup=False, soft_wrap=True)


def _invocation() -> str:
    """This command as the model card records it (facesim.model_card.typed_command)."""
    from facesim.model_card import typed_command

    return typed_command(["facesim", *sys.argv[1:]])


def _printable(text: str | Path) -> str:
    """File names need not be UTF-8; escape what a terminal could not print."""
    return os.fsencode(text).decode("utf-8", "backslashreplace")


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
    detector: DetectorOption = DEFAULT_DETECTOR,
    retry_errors: Annotated[bool, typer.Option("--retry-errors", help="Retry files that failed before.")] = False,
    retry_no_face: Annotated[
        bool,
        typer.Option(
            "--retry-no-face",
            help="Look again at photos where no face was found by this same detector (photos another detector "
            "examined are always looked at again).",
        ),
    ] = False,
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

        from index.ingest.indexer import index_folder
        from index.store.gallery import Gallery

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
                retry_no_face=retry_no_face,
                reembed=reembed,
                progress=advance,
                engine=engine,
                ray_address=address,
                exclude=exclude or (),
            )
            info = gallery.info(verify=False)
    problems = [(p, m) for p, m in summary.errors + summary.unreadable]
    if as_json:
        counts = summary.counts()
        counts["unchanged"] = counts.pop("skipped")  # the text's word for them
        _print_json(
            {
                **counts,
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
    phrases = [
        f"{summary.indexed} indexed",
        plural(summary.faces, "face"),
        f"{summary.skipped} unchanged",
        f"{summary.no_face} without a face",
        plural(len(problems), "error"),
        f"{summary.gone} gone",
        f"{summary.moved} moved",
        plural(summary.duplicates, "duplicate"),
    ]
    if summary.excluded:
        phrases.append(f"{summary.excluded} excluded")
    if summary.known_errors:
        phrases.append(f"{plural(len(summary.known_errors), 'bad file')} from earlier runs")
    if summary.joined or summary.new_persons:
        joined = "1 face joined" if summary.joined == 1 else f"{summary.joined} faces joined"
        phrases[-1] += f"; {joined} known persons"
        phrases.append(f"{summary.new_persons} new {'person' if summary.new_persons == 1 else 'persons'}")
    _print_phrases(f"photos {summary.photos_seen}: ", phrases)
    out.print(
        f"gallery {_shown(info.directory)}: {plural(info.photos.get('indexed', 0), 'photo')}, "
        f"{plural(info.faces, 'face')}",
        markup=False,
    )


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
        from index.ingest.indexer import forget_path
        from index.store.gallery import Gallery

        with Gallery.open(index, create=False) as gallery:
            forgotten = forget_path(gallery, path)
    if as_json:
        _print_json(dataclasses.asdict(forgotten))
        return
    line = (
        f"forgot {plural(forgotten.photos, 'photo')}, {plural(forgotten.faces, 'face')}, "
        f"{plural(forgotten.copies, 'duplicate')}"
    )
    if forgotten.kept:
        where = "its duplicate" if forgotten.kept == 1 else "their duplicates"
        line += f"; {plural(forgotten.kept, 'photo')} kept at {where} elsewhere"
    out.print(line, markup=False)


@app.command()
def match(
    queries: Annotated[
        list[Path], typer.Argument(help="Photos of the people to look for, or folders of them (searched recursively).")
    ],
    index: IndexOption = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="How many nearest faces to list.")] = 10,
    all_faces: Annotated[
        bool, typer.Option("--all-faces", help="Search for every face in a query, not only the main one.")
    ] = False,
    every_match: Annotated[
        bool, typer.Option("--all", help="List every face of the matching person, however many, instead of --top-k.")
    ] = False,
    detector: DetectorOption = DEFAULT_DETECTOR,
    as_json: JsonOption = False,
) -> None:
    """Who in the gallery is this? The persons the face matches (or that nobody does), then the
    nearest photos with the same-person verdict.

    Several photos or folders are answered in one run (the model loads once); a photo that cannot
    be used is reported in one line and the others are still answered. With --json, one JSON
    object per query photo, one per line (JSON Lines), the same shape whether anyone matched or
    nobody did. Exits 2 if any query failed.
    """
    with user_errors():
        import numpy as np

        from index.search import match as search
        from index.store.gallery import Gallery

        photos, answers = _query_photos(queries), []
        with Gallery.open(index, create=False) as gallery:
            for photo, problem in photos:
                if problem is None:
                    try:
                        faces, in_query = _faces_of(photo, all_faces, _detector(detector), {})
                    except FacesimError as exc:
                        problem = str(exc)
                if problem is not None:
                    answers.append({"query": _absolute(photo), "query_faces": 0, "error": problem, "faces": []})
                    _report_query(answers[-1], all_faces, as_json)
                    continue
                found = search(gallery, np.stack([face.embedding for face in faces]), top_k, every_match=every_match)
                copies = gallery.store.other_paths([hit.photo_id for answer in found for hit in answer.matches])
                itself = _gallery_photo_of(gallery.store, photo)
                answers.append(
                    {
                        "query": _absolute(photo),
                        "query_faces": in_query,
                        "error": None,
                        "faces": [
                            _face_answer(n, face, answer, copies, itself)
                            for n, (face, answer) in enumerate(zip(faces, found, strict=True))
                        ],
                    }
                )
                _report_query(answers[-1], all_faces, as_json)
    if any(answer["error"] is not None for answer in answers):
        raise typer.Exit(2)  # each failed query has had its one line


def _query_photos(queries: list[Path]) -> list[tuple[Path, str | None]]:
    """Each query photo with the reason it cannot be used, if any: a folder gives its photos, and
    its unreadable entries as failed queries."""
    from index.ingest.scan import scan_folder

    photos: list[tuple[Path, str | None]] = []
    for query in queries:
        if query.is_dir():
            found = scan_folder(query)
            photos += [(photo, None) for photo in found.photos]
            photos += [(Path(path), message) for path, message in found.errors]
            if not found.photos and not found.errors:
                photos.append((query, f"{query}: a folder with no photos"))
        else:  # a missing or unreadable file is reported when it is read, as verify reports it
            photos.append((query, None))
    return photos


def _face_answer(
    number: int, face: Any, answer: Any, copies: dict[int, list[str]], itself: int | None
) -> dict[str, Any]:
    """One query face's answer, the same shape whether someone matched or nobody did; the query's
    own photo, when the gallery holds it, is marked as such rather than shown as a find."""
    return {
        "query_face": number,
        "query_box": list(face.detection.box),
        "nobody": answer.nobody,
        "persons": [
            {"person": person.person, "name": person.name, "faces": person.faces, "distance": round(person.distance, 4)}
            for person in answer.persons
        ],
        "photos": [
            {
                "path": _absolute(hit.path),
                "other_paths": [_absolute(path) for path in copies.get(hit.photo_id, [])],
                "face_id": hit.face_id,
                "box": list(hit.box),
                "distance": round(hit.distance, 4),
                "same_person": hit.same_person,
                "person": hit.person,
                "name": hit.name,
                "query_photo": hit.photo_id == itself,
            }
            for hit in answer.matches
        ],
    }


def _report_query(answer: dict[str, Any], all_faces: bool, as_json: bool) -> None:
    """Printed as each query is answered, so a folder's answers stream; a failed query's one line
    goes to stderr with --json too."""
    if answer["error"] is not None:
        err.print(f"error: {_printable(answer['error'])}", markup=False, soft_wrap=True)
    if as_json:
        sys.stdout.write(json.dumps(answer) + "\n")
        return
    if answer["error"] is not None:
        return
    query = _shown(answer["query"])
    if answer["query_faces"] > 1 and not all_faces:
        box = ",".join(map(str, answer["faces"][0]["query_box"]))
        err.print(
            f"note: {query} shows {answer['query_faces']} faces; searched the largest, box {box} "
            "(--all-faces searches each)",
            markup=False,
        )
    for face in answer["faces"]:
        about = f"{query}" + (f" face {face['query_face']}" if all_faces else "")
        if face["nobody"]:
            out.print(f"{about}: nobody in the gallery matches", markup=False)
        elif face["persons"]:
            people = Table(title=f"{about}: persons")
            for column in ("person", "name", "faces that agree", "best distance"):
                people.add_column(column, overflow="fold")
            for person in face["persons"]:
                people.add_row(str(person["person"]), person["name"], str(person["faces"]), f"{person['distance']:.3f}")
            out.print(people)
        title = "nearest faces: not the same person" if face["nobody"] else f"{about}: photos"
        table = Table(title=title)
        for column in ("distance", "same person", "photo", "face", "box", "person"):
            table.add_column(column, overflow="fold")
        for row in face["photos"]:
            person = row["name"] or ("" if row["person"] is None else str(row["person"]))
            copies = f" (+{plural(len(row['other_paths']), 'duplicate')})" if row["other_paths"] else ""
            photo = _shown(row["path"]) + copies + (" (the query photo)" if row["query_photo"] else "")
            verdict = "[green]yes[/green]" if row["same_person"] else "no"
            table.add_row(
                f"{row['distance']:.3f}", verdict, photo, str(row["face_id"]), ",".join(map(str, row["box"])), person
            )
        if face["photos"]:
            out.print(table)


def _gallery_photo_of(store: Any, query: Path) -> int | None:
    """The gallery's photo holding the query's very bytes (the query file or a copy of it), so a
    match of the query with itself is shown as such, not as a find at distance 0."""
    from index.ingest.examine import file_hash

    try:
        same = store.photo_with_hash(file_hash(query))
    except OSError:
        return None
    return None if same is None else same.id


@app.command()
def info(index: IndexOption = None, as_json: JsonOption = False) -> None:
    """The model (architecture, input size, threshold, accuracy) and the gallery (photos, faces, persons)."""
    with user_errors():
        from facesim.model_card import read_card
        from index.store.gallery import Gallery

        card = read_card()
        from index.persons.persons import names, unassigned_count

        with Gallery.open(index, create=False) as gallery:
            gallery_info = gallery.info()
            persons = gallery.person_count()
            named = len(names(gallery.store))
            unassigned = unassigned_count(gallery.store)
            singletons = gallery.person_count(min_size=1) - persons
    devtest = card.get("evaluation", {}).get("lfw_devtest", {})
    data = {
        "photos": gallery_info.photos.get("indexed", 0),
        "faces": gallery_info.faces,
        "persons": persons,
        "named_persons": named,
        "faces_alone": singletons,
        "faces_in_no_person": unassigned,
        "photo_status": gallery_info.photos,
        "detectors": gallery_info.detectors,
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
    out.print(
        f"         {plural(data['photos'], 'photo')}, {plural(data['faces'], 'face')}, "
        f"{plural(data['persons'], 'person')}"
    )
    out.print(
        f"         {plural(data['named_persons'], 'named person')}, {plural(data['faces_alone'], 'face')} alone, "
        f"{plural(data['faces_in_no_person'], 'face')} in no person yet"
    )
    out.print(f"         photo status: {_status_words(data['photo_status'])}", markup=False)
    if data["detectors"]:
        examined = ", ".join(f"{name} {count}" for name, count in sorted(data["detectors"].items()))
        out.print(f"         photos examined by detector: {examined}", markup=False)


def _status_words(counts: dict[str, int]) -> str:
    """Photo counts by status in words, the same in `info` and `doctor`."""
    return ", ".join(
        plural(count, STATUS_WORDS[status]) if status == "error" else f"{count} {STATUS_WORDS[status]}"
        for status, count in counts.items()
    )


@app.command()
def photos(
    person: Annotated[
        str | None,
        typer.Argument(
            help="A person's id or name, or a photo of them: list every photo of the person (stored persons)."
        ),
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
    or every photo of one person: `facesim photos Ada`, or of whoever a photo shows:
    `facesim photos new.jpg` (by the same rule as `match`; nothing when nobody matches)."""
    with user_errors():
        from index.store.gallery import Gallery
        from index.store.rows import STATUSES

        if status not in (None, *STATUSES):
            raise FacesimError(f"unknown status {status!r}; choose one of: {', '.join(STATUSES)}")
        if export not in (None, "csv") or (export and person is None):
            raise FacesimError("--export csv lists one person's photos: give PERSON")
        if person is not None and status is not None:
            raise FacesimError("give PERSON or --status, not both")
        with Gallery.open(index, create=False) as gallery:
            if person is not None and _is_photo(person):
                faces = _photos_of_the_person_in(gallery, Path(person))
            elif person is not None:
                from index.persons.persons import faces_of_person

                faces = faces_of_person(gallery.store, person)
            else:
                rows = [row for row in gallery.store.photos_by_path().values() if status in (None, row.status)]
                copies = gallery.store.other_paths([row.id for row in rows])
    if person is not None:
        _list_person(faces, export, as_json)
        return
    listed = [
        {
            "path": _absolute(row.path),
            "status": row.status,
            "faces": row.n_faces,
            "error": row.error,
            "other_paths": [_absolute(path) for path in copies.get(row.id, [])],
        }
        for row in sorted(rows, key=lambda row: row.path)
    ]
    if as_json:
        _print_json(listed)
        return
    for row in listed:
        cells = [row["path"]] if status else [row["status"], row["path"]]
        # An error names its file first ("PATH: unreadable image"); the row has said the path already.
        error = (row["error"] or "").removeprefix(f"{row['path']}: ")
        _print_cells(cells + ([error] if error else []))
        for copy in row["other_paths"]:
            cells = [copy] if status else [row["status"], copy]
            _print_cells([*cells, f"copy of {row['path']}"])
    if status == "no_face" and listed:
        err.print(
            "note: `facesim index PATH --detector cnn` looks for faces in these again with another detector "
            "(--retry-no-face: with the same one)",
            markup=False,
        )


def _is_photo(argument: str) -> bool:
    from facesim.config import HEIC_SUFFIXES, IMAGE_SUFFIXES

    path = Path(argument)
    return path.suffix.lower() in IMAGE_SUFFIXES | HEIC_SUFFIXES and path.is_file()


def _photos_of_the_person_in(gallery: Any, photo: Path) -> list:
    """Every stored face of the person the photo's main face is, by the match rule `match`
    answers with (the nearest person it accepts); none when it accepts nobody."""
    from index.persons.persons import faces_of_person, has_persons
    from index.search import match as search

    if not has_persons(gallery.store):
        raise FacesimError("the gallery keeps no persons yet: run `facesim clusters` (or `facesim match --all PHOTO`)")
    faces, _ = _faces_of(photo, False, "hog", {})
    (answer,) = search(gallery, faces[0].embedding)
    if not answer.persons:
        err.print(f"note: nobody in the gallery matches {_printable(photo)}", markup=False)
        return []
    return faces_of_person(gallery.store, str(answer.persons[0].person))


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
        _print_cells([row["path"], f"face {row['face_id']}", f"box {','.join(map(str, row['box']))}"])


@app.command()
def clusters(
    index: IndexOption = None,
    export: Annotated[
        str | None,
        typer.Option(
            "--export",
            help="Write the persons shown (every face with --min-size 1) as csv, json or html, or xmp: "
            "MWG face regions in a sidecar beside each photo and each of its copies.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="File to write the --export to (default: stdout); for xmp, a folder to put the sidecars in "
            "instead of beside the photos.",
        ),
    ] = None,
    xmp_naming: Annotated[
        str,
        typer.Option(
            "--xmp-naming",
            help="Sidecar names: name.jpg.xmp (digiKam, darktable) or name.xmp (Lightroom; digiKam can read either).",
        ),
    ] = "name.jpg.xmp",
    replace_sidecars: Annotated[
        bool,
        typer.Option(
            "--replace-sidecars", help="Write over sidecars that facesim did not write (kept and listed otherwise)."
        ),
    ] = False,
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
        from facesim.model_card import clustering_rule, match_rule
        from index.export.tables import hide_small
        from index.persons.persons import (
            cluster_gallery,
            has_persons,
            join_new_faces,
            stored_clustering,
            unassigned_count,
        )
        from index.store.gallery import Gallery

        if export not in (None, "csv", "json", "html", "xmp"):
            raise FacesimError(f"unknown export format {export!r}; choose csv, json, html or xmp")
        from index.export.xmp import SIDECAR_NAMINGS

        if xmp_naming not in SIDECAR_NAMINGS:
            raise FacesimError(f"unknown --xmp-naming {xmp_naming!r}; choose {' or '.join(SIDECAR_NAMINGS)}")
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
                    join_new_faces(store, match_rule())
                elif pending and gallery.read_only:
                    notes.append(f"{pending} faces are in no person yet: the gallery is read-only")
                elif pending:
                    notes.append(f"{pending} faces of the running `facesim index` join persons when it ends")
                result = stored_clustering(store)
        rows, hidden = hide_small(result.rows, min_size)
        if export == "xmp":
            _write_sidecars(rows, output, xmp_naming, replace_sidecars)
        elif export or as_json:
            _write_export(export or "json", rows, hidden, output, result.rows if min_size > 1 else [])
        # A file written gets a line saying what it holds (below); stdout and sidecars get this.
        said_below = output is not None and export != "xmp"
        if hidden and not said_below and (export in ("csv", "json", "xmp") or (as_json and not export)):
            notes.append(
                f"left out {plural(hidden, 'face')} of persons under --min-size {min_size} "
                "(--min-size 1 exports every face)"
            )
    if result.faceless_names:
        listed = ", ".join(f"{person} {name}" for person, name in sorted(result.faceless_names.items()))
        notes.append(f"names kept for persons with no face in this clustering: {listed}")
    for note in notes:
        err.print(f"note: {_printable(note)}", markup=False)
    alone = "1 face that matches nobody" if result.singletons == 1 else f"{result.singletons} faces that match nobody"
    summary = f"{plural(result.persons, 'person')}, {alone}"
    if hidden:
        summary += f" ({plural(hidden, 'face')} in persons under --min-size {min_size} not shown)"
    if export or as_json:
        if output is not None and export != "xmp":
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
    from index.export.tables import faces_in_no_person, write_csv, write_html, write_json
    from index.export.thumbnails import face_thumbnail

    target = output if output is not None else sys.stdout
    try:
        if fmt == "csv":
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


PersonArgument = Annotated[
    str, typer.Argument(metavar="PERSON", help="A person's id or name, as listed by `facesim clusters`.")
]
FacesArgument = Annotated[
    list[int], typer.Argument(metavar="FACE", help="Face ids, as listed by `clusters --export` and `match`.")
]


def _write_sidecars(rows: list, folder: Path | None, naming: str, replace: bool) -> None:
    """XMP sidecars beside the photos (or under `folder`), and on stderr what was not written."""
    from index.export.xmp import write_xmp_sidecars

    try:
        done = write_xmp_sidecars(rows, folder, naming=naming, replace=replace)
    except OSError as exc:
        raise FacesimError(f"{exc.filename}: cannot write ({exc.strerror})") from None
    where = "beside the photos" if folder is None else f"under {_shown(folder)}"
    err.print(f"wrote {plural(done.written, 'XMP sidecar')} {where}", markup=False)
    if done.kept:
        listed = ", ".join(_shown(path) for path in done.kept[:3]) + (" ..." if len(done.kept) > 3 else "")
        err.print(
            f"kept {plural(len(done.kept), 'sidecar')} facesim did not write ({listed}); "
            "--replace-sidecars writes over them",
            markup=False,
        )
    if done.unreadable:
        err.print(f"skipped {plural(done.unreadable, 'photo')} that can no longer be read", markup=False)


@app.command()
def name(
    person: PersonArgument,
    person_name: Annotated[str, typer.Argument(metavar="NAME", help="The name to show for this person.")],
    index: IndexOption = None,
) -> None:
    """Name (or rename) a person; the name follows them through later re-clusterings and shows in
    exports and matches."""
    with user_errors():
        from index.persons.persons import resolve_person, set_name

        with _corrected(index) as store:
            person_id = resolve_person(store, person)
            set_name(store, person_id, person_name)
    out.print(f"person {person_id} is now {person_name!r}", markup=False)


@app.command()
def merge(
    person: PersonArgument,
    others: Annotated[list[str], typer.Argument(metavar="OTHER", help="The persons that are PERSON too.")],
    index: IndexOption = None,
) -> None:
    """These persons are one: the others' faces join PERSON, and stay together in every later
    clustering (`facesim merge 97 98 99`)."""
    with user_errors():
        from index.persons.corrections import merge_persons
        from index.persons.persons import resolve_person

        with _corrected(index) as store:
            keep = resolve_person(store, person)
            merged = [resolve_person(store, other) for other in others]
            done = merge_persons(store, keep, merged)
    which = f"person {merged[0]}" if len(merged) == 1 else f"persons {', '.join(map(str, merged))}"
    out.print(f"{which} merged into person {keep} ({plural(done.faces, 'face')})", markup=False)
    if done.note:
        err.print(done.note, markup=False)


@app.command()
def move(
    faces: FacesArgument,
    person: Annotated[
        str, typer.Argument(metavar="PERSON", help="A person's id or name, or `new`: a new person of these faces.")
    ],
    index: IndexOption = None,
) -> None:
    """These faces belong to PERSON (or, with `new`, are a new person together), in this and every
    later clustering."""
    with user_errors():
        from index.persons.corrections import move_faces
        from index.persons.persons import resolve_person

        with _corrected(index) as store:
            target = None if person == "new" else resolve_person(store, person)
            done = move_faces(store, faces, target)
    which = _faces_words(faces)
    out.print(f"{which} {'is' if len(faces) == 1 else 'are'} now in person {done.person_id}", markup=False)


@app.command()
def reject(
    faces: FacesArgument,
    person: Annotated[
        str | None,
        typer.Option("--from", metavar="PERSON", help="The person they are not (default: each face's person now)."),
    ] = None,
    each: Annotated[
        bool, typer.Option("--each", help="Each face becomes a person of its own, instead of one person together.")
    ] = False,
    new_name: Annotated[
        str | None, typer.Option("--name", metavar="NAME", help="Name the new person the faces make together.")
    ] = None,
    index: IndexOption = None,
) -> None:
    """These faces are not their person: they leave it, together as one new person (the person
    you are pulling out), and never join it again. `facesim unreject` takes a reject back."""
    with user_errors():
        from index.persons.corrections import reject_faces
        from index.persons.persons import check_name_free, previous_assignment, resolve_person, set_name

        if each and new_name is not None:
            raise FacesimError("--name names the one person the faces make together; it cannot go with --each")
        with _corrected(index) as store:
            source = None if person is None else resolve_person(store, person)
            if new_name is not None:
                check_name_free(store, new_name)
                if source is not None and source not in {previous_assignment(store).get(face) for face in faces}:
                    raise FacesimError(f"--name names the person the faces make, but none of them is in {source}")
            now = reject_faces(store, faces, source, together=not each)
            if new_name is not None:
                set_name(store, now[faces[0]], new_name)
    by_person: dict[int, list[int]] = {}
    for face, person_id in now.items():
        by_person.setdefault(person_id, []).append(face)
    for person_id, moved in by_person.items():
        verb = "is" if len(moved) == 1 else "are"
        named = f" {new_name!r}" if new_name is not None else ""
        out.print(f"{_faces_words(moved)} {verb} now person {person_id}{named}", markup=False)


@app.command()
def unreject(
    faces: FacesArgument,
    person: Annotated[
        str | None,
        typer.Option("--from", metavar="PERSON", help="Take back only the reject from this person."),
    ] = None,
    index: IndexOption = None,
) -> None:
    """Take back `facesim reject`: each face may be its old person again, and goes back to it now
    when nothing else ties it where it is."""
    with user_errors():
        from index.persons.corrections import unreject_faces
        from index.persons.persons import resolve_person

        with _corrected(index) as store:
            source = None if person is None else resolve_person(store, person)
            now = unreject_faces(store, faces, source)
    for face, person_id in now.items():
        out.print(f"face {face} is in person {person_id}", markup=False)


@app.command()
def split(person: PersonArgument, index: IndexOption = None) -> None:
    """Undo the corrections that made a person (merges and moves into it, rejects that pulled its
    faces out of others), and re-cluster so that what they joined may part."""
    with user_errors():
        from facesim.model_card import clustering_rule
        from index.persons.corrections import take_back
        from index.persons.persons import cluster_gallery, resolve_person

        rule = clustering_rule()
        with _corrected(index) as store:
            person_id = resolve_person(store, person)
            dropped = take_back(store, person_id)
            result = cluster_gallery(store, rule.cut, rule.linkage, params=rule.params)
    out.print(
        f"undid {plural(dropped, 'correction')} of person {person_id}; now {plural(result.persons, 'person')}",
        markup=False,
    )


def plural(count: int, word: str) -> str:
    """ "1 face", "2 faces": the count with its noun in the number a person would write."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _faces_words(faces: list[int]) -> str:
    return f"face {faces[0]}" if len(faces) == 1 else f"faces {', '.join(map(str, faces))}"


@contextmanager
def _corrected(index: Path | None) -> Iterator[Any]:
    """The gallery's store under the writer's lock: a correction rewrites stored persons."""
    from index.store.gallery import Gallery

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
    detector: DetectorOption = DEFAULT_DETECTOR,
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
        # is reported in a fraction of a second, before the encoder loads.
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
            hint = "" if all_faces else " (--all-faces compares every face)"
            out.print(f"{_printable(photo)} shows {count} faces; compared {chosen}, box {box}{hint}", markup=False)


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
        from facesim.training.torch_extra import require_torch

        require_torch()
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
    weights: Annotated[
        Path | None, typer.Option(help="Encoder to calibrate, .onnx or .pt (default: the package's).")
    ] = None,
    cache: Annotated[Path | None, typer.Option(help="Chip cache dir (default: $FACESIM_CACHE or ~/.cache).")] = None,
    match_only: Annotated[
        bool,
        typer.Option(
            "--match-only",
            help="Recalibrate only the match rule, on the held-out people's faces alone (found, aligned and "
            "embedded in minutes, cached), keeping the threshold and clustering rule.",
        ),
    ] = False,
) -> None:
    """Choose the distance threshold that maximises F1 on held-out people of every labelled source,
    the clustering rule, and the rule for a face against a gallery (match), and store them in the
    model card; show each source at the threshold beside its own best one."""
    with user_errors():
        from facesim.config import MODEL_CARD_PATH, ONNX_PATH
        from facesim.model_card import ClusterRule, read_card, write_card
        from facesim.training.workflow import DataRoots, calibrate_encoder, held_out_faces, validation_vectors
        from index.clustering.calibration import calibrate_clustering
        from index.match.calibration import calibrate_matching

        target = weights or ONNX_PATH
        card_path = MODEL_CARD_PATH if weights is None else target.with_suffix(".json")
        roots = DataRoots(lfw, celeba)
        if match_only:
            card = read_card(card_path)
            sources, labels, vectors = held_out_faces(roots, target, cache, log=lambda line: out.print(line))
        else:
            val_data, vectors = validation_vectors(roots, target, cache)
            sources, labels = val_data.sources, val_data.labels
            card = calibrate_encoder(val_data, vectors, _invocation(), card_path)
            card["clustering"] = calibrate_clustering(sources, labels, vectors, card["threshold"])
        rule = card["clustering"]
        clustering = ClusterRule(rule["linkage"], rule["cut"], rule["params"].get(rule["linkage"], {}))
        card["matching"] = calibrate_matching(sources, labels, vectors, card["threshold"], clustering)
        card["matching"]["command"] = _invocation()
        write_card(card, card_path)
    if not match_only:
        _show_calibration(card)
    chosen, before = card["matching"]["at_chosen"]["mean"], card["matching"]["pair_threshold_as_face_rule"]
    parts = ", ".join(f"{key} {value}" for key, value in card["matching"]["rule"].items())
    out.print(f"match rule: {parts}")
    for name, scores in (("match rule", chosen), ("pair threshold", before)):
        out.print(
            f"  {name}: photos of this person precision {scores['precision']:.3f}, recall {scores['recall']:.3f}, "
            f"F1 {scores['f1']:.3f}; strangers with a hit {scores['stranger_false_hits']:.1%}, "
            f"enrolled people found {scores['enrolled_found']:.1%}"
        )


def _show_calibration(card: dict[str, Any]) -> None:
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

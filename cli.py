"""facesim's command line: each command parses its options, calls one library function and hands
what it gets back to `render`, which prints it as JSON with --json and as lines or tables
otherwise. Heavy imports (the encoder, dlib, faiss) happen inside the commands so that `--help`
and errors stay instant."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from facesim.config import DEFAULT_DETECTOR
from facesim.errors import FacesimError, first_line
from facesim.wording import printable, shown


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


# What --help says each option and argument takes, apart from the signatures so that each
# parameter stays one line of its command.
HELP = {
    "index": "Gallery folder (default: $FACESIM_INDEX or the per-user data dir).",
    "json": "Print machine-readable JSON.",
    "celeba": "CelebA folder with celebA/ and identity_CelebA.txt; the reserved identities are dropped unread.",
    "utkface": "UTKFace folder of aligned crops (unlabelled; distillation only).",
    "detector": "Face detector: yunet (OpenCV's CNN, the default: fast, turned heads too), hog (dlib), cnn (dlib "
    "MMOD, many times slower) or thorough (hog, then cnn on photos where hog found nothing).",
    "lfw": "LFW root with images/<Name>/ and the pairs files.",
    "cache": "Chip cache dir (default: $FACESIM_CACHE or ~/.cache).",
    "person": "A person's id or name, as listed by `facesim clusters`.",
    "faces": "Face ids, as listed by `clusters --export` and `match`.",
    "workers": "Processes for decoding, detection and embedding (default: one per usable core, "
    "as memory allows, about 0.5 GB each).",
    "retry_no_face": "Look again at photos where no face was found by this same detector (photos another detector "
    "examined are always looked at again).",
    "reembed": "Re-embed photos whose vectors an older model made.",
    "engine": "local: this machine (--workers processes); ray: a Ray cluster.",
    "address": "With --engine ray: the cluster's HOST:PORT or auto "
    "(default: $RAY_ADDRESS, else a running local cluster, else a new one).",
    "exclude": "Skip paths matching GLOB (relative to PATH, a folder, a name or absolute; repeatable).",
    "queries": "Photos of the people to look for, or folders of them (searched recursively).",
    "match_all_faces": "Search for every face in a query, not only the main one.",
    "every_match": "List every face of the matching person, however many, instead of --top-k.",
    "photos_person": "A person's id or name, or a photo of them: list every photo of the person (stored persons).",
    "status": "Only photos with this status: indexed, no_face, error or gone.",
    "export": "Write the persons shown (every face with --min-size 1) as csv, json or html, or xmp: "
    "MWG face regions in a sidecar beside each photo and each of its copies.",
    "output": "File to write the --export to (default: stdout); for xmp, a folder to put the sidecars in "
    "instead of beside the photos.",
    "xmp_naming": "Sidecar names: name.jpg.xmp (digiKam, darktable) or name.xmp (Lightroom; digiKam can read either).",
    "replace_sidecars": "Write over sidecars that facesim did not write (kept and listed otherwise).",
    "linkage": "Re-cluster to try another rule, without storing it unless --apply. complete: every two faces of "
    "a person are under the cut; average: their groups' mean distance is (merges more, splits less); "
    "single, whispers (Chinese whispers), dbscan, hdbscan, two-stage: the other rules calibration compared. "
    "Each runs at its own calibrated cut and parameters; the default is the model card's calibrated rule.",
    "apply": "Re-cluster and store the result as the gallery's persons (names stay with their ids).",
    "move_to": "A person's id or name, or `new`: a new person of these faces.",
    "reject_from": "The person they are not (default: each face's person now).",
    "each": "Each face becomes a person of its own, instead of one person together.",
    "new_name": "Name the new person the faces make together.",
    "unreject_from": "Take back only the reject from this person.",
    "verify_all_faces": "Compare every face of A with every face of B; report the closest pair.",
    "verify_pairs": "CSV with path_a,path_b columns (relative to the CSV): answer every pair in one process.",
    "evaluate_pairs": "CSV of path_a,path_b,label (1 = same person).",
    "evaluate_lfw": "LFW root: evaluate on View 1 DevTest.",
    "epochs": "Passes over the training people's faces (default: the trainer's).",
    "init_from": "Fine-tune these weights instead of starting from random ones.",
    "learning_rate": "Peak learning rate of the cosine schedule (default: the trainer's).",
    "contrastive_weight": "Contrastive term weight beside distillation; 0 distils only (default: the trainer's).",
    "sface": "Folder holding SFace's model file (face_recognition_sface_2021dec.onnx, hash-checked): SFace labels the "
    'chips beside dlib\'s ResNet (README, "Two teachers").',
    "views": "Augmented views of each photo (scale, turn, blur, JPEG, low light, grey, occlusion) the teachers label.",
    "target": "What the student distils: dlib, sface or concat (both teachers' unit vectors side by side).",
    "sface_weight": "SFace's share of the concat target (default: the trainer's).",
    "pack_to": "Write the training chips to this one file for a GPU machine "
    "(python -m facesim.training.train_packed), instead of training here.",
    "calibrate_weights": "Encoder to calibrate, .onnx or .pt (default: the package's).",
    "match_only": "Recalibrate only the match rule, on the held-out people's faces alone (found, aligned and "
    "embedded in minutes, cached), keeping the threshold and clustering rule.",
    "repair": "Rebuild the FAISS file from SQLite, mark missing photos gone, and copy what a damaged gallery.db "
    "still holds into a new one (the damaged file is kept); never touches photos.",
}
# The parameters several commands share.
IndexOption = Annotated[Path | None, typer.Option("--index", help=HELP["index"])]
JsonOption = Annotated[bool, typer.Option("--json", help=HELP["json"])]
DetectorOption = Annotated[str, typer.Option("--detector", help=HELP["detector"])]
LfwOption = Annotated[Path, typer.Option("--lfw", help=HELP["lfw"], file_okay=False)]
CelebaOption = Annotated[Path | None, typer.Option("--celeba", help=HELP["celeba"], file_okay=False)]
CacheOption = Annotated[Path | None, typer.Option(help=HELP["cache"])]
PersonArgument = Annotated[str, typer.Argument(metavar="PERSON", help=HELP["person"])]
FacesArgument = Annotated[list[int], typer.Argument(metavar="FACE", help=HELP["faces"])]


@contextmanager
def user_errors() -> Iterator[None]:
    """Every expected failure ends as one line on stderr and a non-zero exit, never a traceback."""
    try:
        yield
    except FacesimError as exc:
        err.print(f"error: {printable(str(exc))}", markup=False, soft_wrap=True)
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
            err.print(f"error: {printable(fault)}", markup=False, soft_wrap=True)
            raise typer.Exit(2) from None
        err.print(
            f"error: unexpected {type(exc).__name__}: {printable(first_line(exc, ''))} (FACESIM_DEBUG=1 shows details)",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(1) from None


@dataclasses.dataclass(frozen=True)
class Output:
    """A command's output in both its forms: `data` for --json, and `text`, which prints the lines
    or tables for people."""

    data: Any
    text: Callable[[], None]
    json_lines: bool = False  # one compact object a line, for answers that stream (match)
    write_json: Callable[[], None] | None = None  # where the JSON is an export of its own (clusters)


def render(output: Output, as_json: bool) -> None:
    """The one place that chooses between JSON and text, so --json means the same in every command."""
    if not as_json:
        output.text()
    elif output.write_json is not None:
        output.write_json()
    else:
        sys.stdout.write(json.dumps(output.data, indent=None if output.json_lines else 2) + "\n")


def _lines(lines: list[str], console: Console | None = None, soft_wrap: bool = False) -> None:
    """Sentences as they are (on stdout unless another console is given): no markup, since paths
    and names may hold brackets."""
    for line in lines:
        (console or out).print(line, markup=False, soft_wrap=soft_wrap)


def _notes(notes: list[str]) -> None:
    _lines([f"note: {printable(note)}" for note in notes], err)


def _table(title: str, columns: tuple[str, ...], rows: list[list[Any]]) -> None:
    """A titled table whose cells fold rather than cut, so a long path is shown whole; a verdict
    (a bool) shows as a green yes or a plain no."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(("[green]yes[/green]" if cell else "no") if isinstance(cell, bool) else cell for cell in row))
    out.print(table)


def _print_cells(rows: list[list[str]]) -> None:
    """Tab-separated lines, tabs kept (rich would expand them to spaces, and `cut -f` would no
    longer find the columns)."""
    for cells in rows:
        sys.stdout.write("\t".join(printable(cell) for cell in cells) + "\n")


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
    workers: Annotated[int | None, typer.Option(min=1, help=HELP["workers"], show_default=False)] = None,
    detector: DetectorOption = DEFAULT_DETECTOR,
    retry_errors: Annotated[bool, typer.Option("--retry-errors", help="Retry files that failed before.")] = False,
    retry_no_face: Annotated[bool, typer.Option("--retry-no-face", help=HELP["retry_no_face"])] = False,
    reembed: Annotated[bool, typer.Option("--reembed", help=HELP["reembed"])] = False,
    engine: Annotated[str, typer.Option("--engine", help=HELP["engine"])] = "local",
    address: Annotated[str | None, typer.Option("--address", help=HELP["address"])] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", metavar="GLOB", help=HELP["exclude"])] = None,
    as_json: JsonOption = False,
) -> None:
    """Find and embed every face in every photo under PATH. Reruns only do new or changed files.

    A known photo under a new path is a move (nothing embedded again), and a byte-identical copy
    is another location of the same photo.
    """
    with user_errors():
        from index.ingest.report import index_into_gallery

        run = {"workers": workers, "engine": engine, "ray_address": address, "exclude": exclude or ()}
        again = {"retry_errors": retry_errors, "retry_no_face": retry_no_face, "reembed": reembed}
        with _progress(show=not as_json) as advance:  # JSON is read by scripts: no bar
            report = index_into_gallery(index, path, detector=detector, progress=advance, **run, **again)
    render(Output(report.as_dict(), partial(_index_lines, report)), as_json)


@contextmanager
def _progress(show: bool) -> Iterator[Callable[[int, int, Path | None], None]]:
    """A bar on stderr while photos are examined, where a person watches a terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("indexing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, disable=not show or not err.is_terminal, transient=True) as progress:
        task = progress.add_task("index", total=None)
        yield lambda total, done, _current: progress.update(task, total=total, completed=done)


def _index_lines(report: Any) -> None:
    _lines(report.warnings(), err, soft_wrap=True)
    _print_phrases(f"photos {report.summary.photos_seen}: ", report.phrases())
    _lines([report.gallery_line()])


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
        from index.ingest.report import forget_from_gallery, forgotten_line

        forgotten = forget_from_gallery(index, path)
    render(Output(dataclasses.asdict(forgotten), lambda: _lines([forgotten_line(forgotten)])), as_json)


@app.command()
def match(
    queries: Annotated[list[Path], typer.Argument(help=HELP["queries"])],
    index: IndexOption = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="How many nearest faces to list.")] = 10,
    all_faces: Annotated[bool, typer.Option("--all-faces", help=HELP["match_all_faces"])] = False,
    every_match: Annotated[bool, typer.Option("--all", help=HELP["every_match"])] = False,
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
    failed = False
    with user_errors():
        from index.match.queries import answer_queries

        options = {"top_k": top_k, "all_faces": all_faces, "every_match": every_match, "detector": detector}
        for answer in answer_queries(index, queries, **options):  # printed as answered: a folder's answers stream
            if answer["error"] is not None:  # on stderr, with --json too
                _lines([f"error: {printable(answer['error'])}"], err, soft_wrap=True)
                failed = True
            render(Output(answer, partial(_match_tables, answer, all_faces), json_lines=True), as_json)
    if failed:
        raise typer.Exit(2)  # each failed query has had its one line


def _match_tables(answer: dict[str, Any], all_faces: bool) -> None:
    from index.match import queries

    _notes(queries.searched_note(answer, all_faces))
    for face in answer["faces"]:
        about = shown(answer["query"]) + (f" face {face['query_face']}" if all_faces else "")
        if face["nobody"]:
            _lines([f"{about}: nobody in the gallery matches"])
        elif face["persons"]:
            _table(f"{about}: persons", queries.PERSONS_COLUMNS, queries.persons_rows(face))
        if face["photos"]:
            title = "nearest faces: not the same person" if face["nobody"] else f"{about}: photos"
            _table(title, queries.PHOTOS_COLUMNS, queries.photos_rows(face))


@app.command()
def info(index: IndexOption = None, as_json: JsonOption = False) -> None:
    """The model (architecture, input size, threshold, accuracy) and the gallery (photos, faces, persons)."""
    with user_errors():
        from index.overview import overview, overview_lines

        data = overview(index)
    render(Output(data, lambda: _lines(overview_lines(data))), as_json)


@app.command()
def photos(
    person: Annotated[str | None, typer.Argument(help=HELP["photos_person"])] = None,
    index: IndexOption = None,
    status: Annotated[str | None, typer.Option("--status", help=HELP["status"])] = None,
    export: Annotated[str | None, typer.Option("--export", help="With PERSON: write the faces as csv.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List the gallery's photos (absolute paths), e.g. `--status no_face` for those without a face,
    or every photo of one person: `facesim photos Ada`, or of whoever a photo shows:
    `facesim photos new.jpg` (by the same rule as `match`; nothing when nobody matches)."""
    with user_errors():
        from index.photo_listing import list_photos

        listing = list_photos(index, person=person, status=status, export=export)
        _notes(listing.notices)
        if export:
            _write_table(export, listing.faces, None)
            return
    render(Output(listing.data, partial(_photo_lines, listing)), as_json)


def _photo_lines(listing: Any) -> None:
    _print_cells(listing.cells)
    _notes(listing.hints)


@app.command()
def clusters(
    index: IndexOption = None,
    export: Annotated[str | None, typer.Option("--export", help=HELP["export"])] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help=HELP["output"])] = None,
    xmp_naming: Annotated[str, typer.Option("--xmp-naming", help=HELP["xmp_naming"])] = "name.jpg.xmp",
    replace_sidecars: Annotated[bool, typer.Option("--replace-sidecars", help=HELP["replace_sidecars"])] = False,
    min_size: Annotated[int, typer.Option("--min-size", min=1, help="Hide persons with fewer faces.")] = 2,
    linkage: Annotated[str | None, typer.Option(help=HELP["linkage"])] = None,
    apply: Annotated[bool, typer.Option("--apply", help=HELP["apply"])] = False,
    as_json: JsonOption = False,
) -> None:
    """The gallery's persons: clustered by the calibrated rule and stored on the first run, shown
    as stored later.

    New faces join the stored persons at `facesim index`. --linkage tries another clustering
    without storing it; --apply stores a new clustering. Faces from one photo are never put in
    one person.
    """
    with user_errors():
        from index.export.writing import check_export_options
        from index.gallery_clusters import list_persons

        check_export_options(export, xmp_naming, output)
        listing = list_persons(index, linkage=linkage, apply=apply, min_size=min_size)
        write = partial(_export_persons, output=output, naming=xmp_naming, replace=replace_sidecars)
        if export:
            write(listing, export)
            return
        render(Output(None, partial(_persons_table, listing), write_json=partial(write, listing, "json")), as_json)


def _persons_table(listing: Any) -> None:
    from index.gallery_clusters import TABLE_COLUMNS

    _notes(listing.notes_for(faces_listed=False))
    _table(listing.summary(), TABLE_COLUMNS, listing.table_rows())


def _export_persons(listing: Any, fmt: str, *, output: Path | None, naming: str, replace: bool) -> None:
    """The persons shown, written to a file, stdout or sidecars, then what to know about them."""
    from index.export.writing import write_sidecars

    if fmt == "xmp":
        _lines(write_sidecars(listing.rows, output, naming, replace), err)
    else:
        _write_table(fmt, listing.rows, output, listing.hidden, listing.every_face)
    notes, written = listing.after_export(fmt, output)
    _notes(notes)
    _lines([written] if written else [], err)


def _write_table(fmt: str, rows: list, output: Path | None, hidden: int = 0, all_rows: list | None = None) -> None:
    from index.export.writing import write_table

    try:
        write_table(fmt, rows, output if output is not None else sys.stdout, hidden, all_rows or [])
    except BrokenPipeError:
        # The reader (e.g. `head`) has seen enough; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


@app.command()
def name(
    person: PersonArgument,
    person_name: Annotated[str, typer.Argument(metavar="NAME", help="The name to show for this person.")],
    index: IndexOption = None,
) -> None:
    """Name (or rename) a person; the name follows them through later re-clusterings and shows in
    exports and matches."""
    _correct(lambda correcting: correcting.name_person(index, person, person_name))


@app.command()
def merge(
    person: PersonArgument,
    others: Annotated[list[str], typer.Argument(metavar="OTHER", help="The persons that are PERSON too.")],
    index: IndexOption = None,
) -> None:
    """These persons are one: the others' faces join PERSON, and stay together in every later
    clustering (`facesim merge 97 98 99`)."""
    _correct(lambda correcting: correcting.merge(index, person, others))


@app.command()
def move(
    faces: FacesArgument,
    person: Annotated[str, typer.Argument(metavar="PERSON", help=HELP["move_to"])],
    index: IndexOption = None,
) -> None:
    """These faces belong to PERSON (or, with `new`, are a new person together), in this and every
    later clustering."""
    _correct(lambda correcting: correcting.move(index, faces, person))


@app.command()
def reject(
    faces: FacesArgument,
    person: Annotated[str | None, typer.Option("--from", metavar="PERSON", help=HELP["reject_from"])] = None,
    each: Annotated[bool, typer.Option("--each", help=HELP["each"])] = False,
    new_name: Annotated[str | None, typer.Option("--name", metavar="NAME", help=HELP["new_name"])] = None,
    index: IndexOption = None,
) -> None:
    """These faces are not their person: they leave it, together as one new person (the person
    you are pulling out), and never join it again. `facesim unreject` takes a reject back."""
    _correct(lambda correcting: correcting.reject(index, faces, person, each=each, new_name=new_name))


@app.command()
def unreject(
    faces: FacesArgument,
    person: Annotated[str | None, typer.Option("--from", metavar="PERSON", help=HELP["unreject_from"])] = None,
    index: IndexOption = None,
) -> None:
    """Take back `facesim reject`: each face may be its old person again, and goes back to it now
    when nothing else ties it where it is."""
    _correct(lambda correcting: correcting.unreject(index, faces, person))


@app.command()
def split(person: PersonArgument, index: IndexOption = None) -> None:
    """Undo the corrections that made a person (merges and moves into it, rejects that pulled its
    faces out of others), and re-cluster so that what they joined may part."""
    _correct(lambda correcting: correcting.split(index, person))


def _correct(correction: Callable[[Any], Any]) -> None:
    """Runs a correction of index.persons.correcting: what it did on stdout, what else to know on stderr."""
    with user_errors():
        from index.persons import correcting

        done = correction(correcting)
    _lines(done.said)
    _lines([done.note] if done.note else [], err)


@app.command()
def verify(
    photo_a: Annotated[Path | None, typer.Argument(help="First photo.")] = None,
    photo_b: Annotated[Path | None, typer.Argument(help="Second photo.")] = None,
    all_faces: Annotated[bool, typer.Option("--all-faces", help=HELP["verify_all_faces"])] = False,
    pairs: Annotated[Path | None, typer.Option("--pairs", help=HELP["verify_pairs"], dir_okay=False)] = None,
    detector: DetectorOption = DEFAULT_DETECTOR,
    as_json: JsonOption = False,
) -> None:
    """Are these two photos the same person? Says which faces it compared.

    Compares the main (largest) face of each photo, or with --all-faces the closest pair of faces.
    Exits 0 whatever the answer; non-zero only when a photo cannot be used.
    """
    with user_errors():
        from facesim.config import checked_detector
        from facesim.model_card import threshold

        limit, detector = threshold(), checked_detector(detector)
        if pairs is not None and photo_a is not None:
            raise FacesimError("give two photos or --pairs FILE.csv, not both")
        if pairs is None and (photo_a is None or photo_b is None):
            raise FacesimError("give two photos, or --pairs FILE.csv")
        from facesim import verification

        if pairs is not None:
            answers = verification.verify_pairs(pairs, detector, all_faces, limit)
            csv = partial(sys.stdout.write, verification.pairs_csv(answers))
            render(Output([answer.as_dict() for answer in answers], csv), as_json)
            failed = sum(answer.error is not None for answer in answers)
            if failed:
                raise FacesimError(f"{failed} pairs could not be compared (see their error column)")
            return
        verdict = verification.verify_photos(photo_a, photo_b, detector, all_faces, limit)
    render(Output(verdict.as_dict(), partial(_verdict_lines, verdict, photo_a, photo_b, all_faces)), as_json)


def _verdict_lines(verdict: Any, photo_a: Path, photo_b: Path, all_faces: bool) -> None:
    words = "[green]same person[/green]" if verdict.same_person else "[red]different people[/red]"
    out.print(f"{words}  distance {verdict.pair.distance:.3f} (threshold {verdict.threshold:.3f})")
    _lines(verdict.face_lines(photo_a, photo_b, all_faces))


@app.command()
def evaluate(
    pairs: Annotated[Path | None, typer.Option("--pairs", help=HELP["evaluate_pairs"], dir_okay=False)] = None,
    lfw: Annotated[Path | None, typer.Option("--lfw", help=HELP["evaluate_lfw"], file_okay=False)] = None,
    update_card: Annotated[bool, typer.Option("--update-card", help="Record the result in the model card.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Accuracy, precision, recall, F1 and ROC AUC of the shipped encoder at its calibrated threshold."""
    with user_errors():
        from facesim.training.runs import evaluate_shipped

        report = evaluate_shipped(pairs, lfw, update_card=update_card, command=_invocation())
    render(Output(report, partial(_evaluation_table, report)), as_json)


def _evaluation_table(report: dict[str, Any]) -> None:
    table = Table(title=f"{report['pairs']} ({report['n_pairs']} pairs)", show_header=False)
    for key in ("accuracy", "precision", "recall", "f1", "roc_auc", "tar_at_far_1e-3", "threshold"):
        table.add_row(key, f"{report[key]:.4f}")
    table.add_row("photos with no face found (central box used)", str(report["undetected_photos"]))
    out.print(table)


@app.command()
def train(
    lfw: LfwOption,
    celeba: CelebaOption = None,
    utkface: Annotated[Path | None, typer.Option("--utkface", help=HELP["utkface"], file_okay=False)] = None,
    epochs: Annotated[int | None, typer.Option(help=HELP["epochs"])] = None,
    max_steps: Annotated[int | None, typer.Option(help="Stop after this many steps (smoke runs).")] = None,
    weights: Annotated[Path | None, typer.Option(help="Where to write the weights (default: the package's).")] = None,
    cache: CacheOption = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Ignore an existing checkpoint.")] = False,
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch (default: torch's choice).")] = None,
    init_from: Annotated[Path | None, typer.Option(help=HELP["init_from"])] = None,
    learning_rate: Annotated[float | None, typer.Option(help=HELP["learning_rate"])] = None,
    contrastive_weight: Annotated[float | None, typer.Option(help=HELP["contrastive_weight"])] = None,
    pack_to: Annotated[Path | None, typer.Option(help=HELP["pack_to"])] = None,
    sface: Annotated[Path | None, typer.Option(help=HELP["sface"], file_okay=False)] = None,
    views: Annotated[int, typer.Option(min=0, help=HELP["views"])] = 0,
    target: Annotated[str | None, typer.Option(help=HELP["target"])] = None,
    sface_weight: Annotated[float | None, typer.Option(help=HELP["sface_weight"])] = None,
) -> None:
    """Train the Siamese encoder on LFW minus DevTest's people, plus CelebA and UTKFace when given
    (resumes from its checkpoint)."""
    with user_errors():
        from facesim.training.runs import train_or_pack
        from facesim.training.workflow import DataRoots

        files = {"weights": weights, "cache": cache, "init_from": init_from, "pack_to": pack_to}
        trainer = {"epochs": epochs, "learning_rate": learning_rate, "contrastive_weight": contrastive_weight}
        teachers = {"sface": sface, "views": views, "target": target, "sface_weight": sface_weight}
        run = {"fresh": fresh, "threads": threads, "max_steps": max_steps}
        roots = DataRoots(lfw, celeba, utkface)
        said = train_or_pack(roots, command=_invocation(), log=out.print, **files, **trainer, **teachers, **run)
    for line in said:
        out.print(line)


@app.command()
def calibrate(
    lfw: LfwOption,
    celeba: CelebaOption = None,
    weights: Annotated[Path | None, typer.Option(help=HELP["calibrate_weights"])] = None,
    cache: CacheOption = None,
    match_only: Annotated[bool, typer.Option("--match-only", help=HELP["match_only"])] = False,
) -> None:
    """Choose the distance threshold that maximises F1 on held-out people of every labelled source,
    the clustering rule, and the rule for a face against a gallery (match), and store them in the
    model card; show each source at the threshold beside its own best one."""
    with user_errors():
        from index.card_calibration import calibrate_card, calibration_lines

        card = calibrate_card(lfw, celeba, weights, cache, match_only=match_only, command=_invocation(), log=out.print)
    _lines(calibration_lines(card, match_only))


@app.command()
def doctor(
    index: IndexOption = None,
    repair: Annotated[bool, typer.Option("--repair", help=HELP["repair"])] = False,
    as_json: JsonOption = False,
) -> None:
    """Check the gallery against its FAISS file and the photos on disk; say what to run for each
    problem. Exits 0 when healthy, 1 while problems remain."""
    with user_errors():
        from index.doctor import doctor_at
        from index.doctor_report import checkup_lines

        checkup = doctor_at(index, repair=repair)
    render(Output(checkup.as_dict(), partial(_doctor_lines, checkup_lines(checkup))), as_json)
    if not checkup.healthy:
        raise typer.Exit(1)


def _doctor_lines(lines: list[tuple[str, bool]]) -> None:
    for line, whole in lines:
        out.print(line, markup=False, soft_wrap=whole)


if __name__ == "__main__":
    app()

"""facesim's command line: each command parses its options, calls one library function and hands
what it gets back to `render` (cli_output.py), which prints it as JSON with --json and as lines or
tables otherwise; what --help says of each option is in cli_options.py. Heavy imports (the
encoder, dlib, faiss) happen inside the commands so that `--help` and errors stay instant."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from cli_options import (
    HELP,
    CacheOption,
    CelebaOption,
    DetectorOption,
    FacesArgument,
    IndexOption,
    JsonOption,
    LfwOption,
    PersonArgument,
    plain_help,
)
from cli_output import (
    Output,
    err,
    out,
    print_cells,
    print_lines,
    print_notes,
    print_phrases,
    print_table,
    render,
)
from facesim.config import DEFAULT_DETECTOR
from facesim.errors import FacesimError, first_line
from facesim.wording import printable, shown

plain_help()
app = typer.Typer(
    help="Index a photo folder by face, then match, verify and cluster the people in it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Markdown joins a docstring's wrapped lines into one paragraph, as a reader expects, where
    # the default keeps each source line break.
    rich_markup_mode="markdown",
)


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
    print_lines(report.warnings(), err, soft_wrap=True)
    print_phrases(f"photos {report.summary.photos_seen}: ", report.phrases())
    print_lines([report.gallery_line()])


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
    render(Output(dataclasses.asdict(forgotten), lambda: print_lines([forgotten_line(forgotten)])), as_json)


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
                print_lines([f"error: {printable(answer['error'])}"], err, soft_wrap=True)
                failed = True
            render(Output(answer, partial(_match_tables, answer, all_faces), json_lines=True), as_json)
    if failed:
        raise typer.Exit(2)  # each failed query has had its one line


def _match_tables(answer: dict[str, Any], all_faces: bool) -> None:
    from index.match import queries

    print_notes(queries.searched_note(answer, all_faces))
    for face in answer["faces"]:
        about = shown(answer["query"]) + (f" face {face['query_face']}" if all_faces else "")
        if face["nobody"]:
            print_lines([f"{about}: nobody in the gallery matches"])
        elif face["persons"]:
            print_table(f"{about}: persons", queries.PERSONS_COLUMNS, queries.persons_rows(face))
        if face["photos"]:
            title = "nearest faces: not the same person" if face["nobody"] else f"{about}: photos"
            print_table(title, queries.PHOTOS_COLUMNS, queries.photos_rows(face))


@app.command()
def info(index: IndexOption = None, as_json: JsonOption = False) -> None:
    """The model (architecture, input size, threshold, accuracy) and the gallery (photos, faces, persons)."""
    with user_errors():
        from index.overview import overview, overview_lines

        data = overview(index)
    render(Output(data, lambda: print_lines(overview_lines(data))), as_json)


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
        print_notes(listing.notices)
        if export:
            _write_table(export, listing.faces, None)
            return
    render(Output(listing.data, partial(_photo_lines, listing)), as_json)


def _photo_lines(listing: Any) -> None:
    print_cells(listing.cells)
    print_notes(listing.hints)


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

    print_notes(listing.notes_for(faces_listed=False))
    print_table(listing.summary(), TABLE_COLUMNS, listing.table_rows())


def _export_persons(listing: Any, fmt: str, *, output: Path | None, naming: str, replace: bool) -> None:
    """The persons shown, written to a file, stdout or sidecars, then what to know about them."""
    from index.export.writing import write_sidecars

    if fmt == "xmp":
        print_lines(write_sidecars(listing.rows, output, naming, replace), err)
    else:
        _write_table(fmt, listing.rows, output, listing.hidden, listing.every_face)
    notes, written = listing.after_export(fmt, output)
    print_notes(notes)
    print_lines([written] if written else [], err)


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
    print_lines(done.said)
    print_lines([done.note] if done.note else [], err)


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
    print_lines(verdict.face_lines(photo_a, photo_b, all_faces))


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
    print_lines(calibration_lines(card, match_only))


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

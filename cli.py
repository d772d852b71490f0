"""facesim's command line: parses, calls the library, prints. Heavy imports (torch, dlib, faiss)
happen inside the commands so that `--help` and errors stay instant."""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from facesim.errors import FacesimError

if TYPE_CHECKING:
    from rich.console import Console

app = typer.Typer(
    help="Index a photo folder by face, then match, verify and cluster the people in it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class _LazyConsole:
    """rich's Console, made on first use: `verify --json` and `match --json` print only JSON,
    and without this every command would import rich at start."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def get(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)


out = _LazyConsole(highlight=False)
err = _LazyConsole(stderr=True, highlight=False)

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
        err.print(
            f"error: unexpected {type(exc).__name__}: {_printable(str(exc))} (FACESIM_DEBUG=1 shows details)",
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


def _shown(path: Path | str) -> str:
    """Relative to the working folder when inside it, which keeps tables readable."""
    path = Path(path)
    if path.is_absolute() and path.is_relative_to(Path.cwd()):
        path = path.relative_to(Path.cwd())
    return _printable(path)


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
    as_json: JsonOption = False,
) -> None:
    """Find and embed every face in every photo under PATH. Reruns only do new or changed files."""
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
                console=err.get(),
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
            )
            info = gallery.info()
    problems = [(p, m) for p, m in summary.errors + summary.unreadable]
    if as_json:
        _print_json(
            {
                **summary.counts(),
                "errors": [{"path": _shown(p), "error": m} for p, m in problems],
                "gallery": {"path": str(info.directory), "photos": info.photos, "faces": info.faces},
            }
        )
        return
    for _, message in problems:
        err.print(f"skipped {_printable(message)}", markup=False, soft_wrap=True)
    out.print(
        f"photos {summary.photos_seen}: {summary.indexed} indexed, {summary.faces} faces, "
        f"{summary.skipped} unchanged, {summary.no_face} without a face, {len(problems)} errors, "
        f"{summary.gone} gone"
    )
    out.print(f"gallery {_shown(info.directory)}: {info.photos.get('indexed', 0)} photos, {info.faces} faces")


@app.command()
def match(
    query: Annotated[Path, typer.Argument(help="Photo of the person to look for.")],
    index: IndexOption = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="How many nearest faces to list.")] = 10,
    all_faces: Annotated[
        bool, typer.Option("--all-faces", help="Search for every face in the query, not only the main one.")
    ] = False,
    detector: DetectorOption = "hog",
    as_json: JsonOption = False,
) -> None:
    """Which indexed photos show this person? Nearest faces first, with the same-person verdict."""
    with user_errors():
        import numpy as np

        from facesim.errors import NoFaceError
        from facesim.model_card import threshold
        from facesim.pipeline import faces_in_photo, main_face
        from index.gallery import Gallery
        from index.persons import persons_of_faces
        from index.search import match as search

        with Gallery.open(index, create=False) as gallery:
            if all_faces:
                faces = faces_in_photo(query, _detector(detector))
                if not faces:
                    raise NoFaceError(f"{query}: no face found")
            else:
                faces = [main_face(query, _detector(detector))]
            found = search(gallery, np.stack([face.embedding for face in faces]), top_k)
            people = persons_of_faces(gallery.store, [hit.face_id for hits in found for hit in hits])
        limit = threshold()
    rows = [
        {
            "query_face": number,
            "query_box": list(face.detection.box),
            "path": _shown(hit.path),
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
    from rich.table import Table

    table = Table(title=f"nearest faces (same person below {limit:.3f})")
    for column in (["query face"] if all_faces else []) + ["distance", "same person", "photo", "box", "person"]:
        table.add_column(column, overflow="fold")
    for row in rows:
        verdict = "[green]yes[/green]" if row["same_person"] else "no"
        cells = [str(row["query_face"])] if all_faces else []
        person = row["name"] or ("" if row["person"] is None else str(row["person"]))
        box = ",".join(map(str, row["box"]))
        table.add_row(*cells, f"{row['distance']:.3f}", verdict, row["path"], box, person)
    out.print(table)


@app.command()
def info(index: IndexOption = None, as_json: JsonOption = False) -> None:
    """The model (architecture, input size, threshold, accuracy) and the gallery (photos, faces, clusters)."""
    with user_errors():
        from facesim.model_card import read_card
        from index.gallery import Gallery

        card = read_card()
        with Gallery.open(index, create=False) as gallery:
            gallery_info = gallery.info()
            clusters = gallery.person_count()
    devtest = card.get("evaluation", {}).get("lfw_devtest", {})
    data = {
        "photos": gallery_info.photos.get("indexed", 0),
        "faces": gallery_info.faces,
        "clusters": clusters,
        "photo_status": gallery_info.photos,
        "index_path": str(gallery_info.directory),
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
    out.print(f"         photo status: {data['photo_status']}")


@app.command()
def clusters(
    index: IndexOption = None,
    export: Annotated[str | None, typer.Option("--export", help="Write every face as csv, json or html.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")] = None,
    min_size: Annotated[int, typer.Option("--min-size", min=1, help="Hide persons with fewer faces.")] = 2,
    linkage: Annotated[
        str | None,
        typer.Option(
            help="complete: every two faces of a person are under the cut; average: their groups' mean distance "
            "is (merges more, splits less). Default: the calibrated rule in the model card; each linkage runs at "
            "its own calibrated cut."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Group the gallery's faces into persons by the calibrated clustering rule. Person ids stay
    stable across runs; faces from one photo are never put in one person."""
    with user_errors():
        from facesim.model_card import clustering_rule
        from index.export import hide_small
        from index.gallery import Gallery
        from index.persons import cluster_gallery

        if export not in (None, "csv", "json", "html"):
            raise FacesimError(f"unknown export format {export!r}; choose csv, json or html")
        linkage, cut = clustering_rule(linkage)
        with Gallery.open(index, create=False) as gallery, gallery.write_lock():
            result = cluster_gallery(gallery.store, cut, linkage)
        rows, hidden = hide_small(result.rows, min_size)
        if export or as_json:
            _write_export(export or "json", rows, hidden, output)
    summary = f"{result.persons} persons, {result.singletons} faces that match nobody"
    if hidden:
        summary += f" ({hidden} faces in persons under --min-size {min_size} not shown)"
    if export or as_json:
        if output is not None:
            err.print(f"wrote {len(rows)} faces to {_shown(output)}: {summary}", markup=False)
        return
    from rich.table import Table

    table = Table(title=summary)
    for column in ("person", "name", "faces", "photos"):
        table.add_column(column, overflow="fold")
    by_person: dict[int, list] = {}
    for row in rows:
        by_person.setdefault(row.person_id, []).append(row)
    for person, faces in by_person.items():
        photos = ", ".join(_shown(face.photo_path) for face in faces[:3]) + (" ..." if len(faces) > 3 else "")
        table.add_row(str(person), faces[0].name, str(len(faces)), photos)
    out.print(table)


def _write_export(fmt: str, rows: list, hidden: int, output: Path | None) -> None:
    from index.export import write_csv, write_html, write_json
    from index.thumbnails import face_thumbnail

    target = output if output is not None else sys.stdout
    try:
        if fmt == "csv":
            write_csv(rows, target)
        elif fmt == "json":
            write_json(rows, target)
        else:
            write_html(rows, target, face_thumbnail, hidden_faces=hidden)
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


@app.command()
def verify(
    photo_a: Annotated[Path, typer.Argument(help="First photo.")],
    photo_b: Annotated[Path, typer.Argument(help="Second photo.")],
    detector: DetectorOption = "hog",
    as_json: JsonOption = False,
) -> None:
    """Are these two photos the same person? Compares the main face of each.

    Exits 0 whatever the answer; non-zero only when a photo cannot be used.
    """
    with user_errors():
        from facesim.model_card import threshold
        from facesim.pipeline import embed_face, face_distance, main_detection

        limit = threshold()
        found_a = main_detection(photo_a, _detector(detector))
        found_b = main_detection(photo_b, detector)
        face_a, face_b = embed_face(*found_a), embed_face(*found_b)
        distance = face_distance(face_a.embedding, face_b.embedding)
        same = distance < limit
    if as_json:
        _print_json({"distance": round(distance, 4), "threshold": limit, "same_person": same})
        return
    verdict = "[green]same person[/green]" if same else "[red]different people[/red]"
    out.print(f"{verdict}  distance {distance:.3f} (threshold {limit:.3f})")


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
    from rich.table import Table

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
) -> None:
    """Train the Siamese encoder on LFW minus DevTest's people, plus CelebA and UTKFace when given
    (resumes from its checkpoint)."""
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
    out.print(f"clustering: {rule['linkage']} linkage at {rule['cut']:.4f} ({scores})")


@app.command()
def doctor(
    index: IndexOption = None,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair", help="Rebuild the FAISS file from SQLite and mark missing photos gone; never touches photos."
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Check the gallery against its FAISS file and the photos on disk; say what to run for each
    problem. Exits 0 when healthy, 1 while problems remain."""
    with user_errors():
        from index.doctor import run_doctor
        from index.gallery import Gallery

        with Gallery.open(index, create=False) as gallery:
            checkup = run_doctor(gallery, repair=repair)
    if as_json:
        _print_json(checkup.as_dict())
    else:
        out.print(f"gallery {_shown(checkup.gallery)}: {checkup.photos} photos, {checkup.faces} faces", markup=False)
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

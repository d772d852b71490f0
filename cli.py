"""facesim's command line: parses, calls the library, prints. Heavy imports (torch, dlib, faiss)
happen inside the commands so that `--help` and errors stay instant."""

from __future__ import annotations

import json
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

app = typer.Typer(
    help="Index a photo folder by face, then match, verify and cluster the people in it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

IndexOption = Annotated[
    Path | None, typer.Option("--index", help="Gallery folder (default: $FACESIM_INDEX or the per-user data dir).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
DetectorOption = Annotated[str, typer.Option("--detector", help="Face detector: hog (fast) or cnn (dlib MMOD).")]
LfwOption = Annotated[
    Path, typer.Option("--lfw", help="LFW root with images/<Name>/ and the pairs files.", file_okay=False)
]


@contextmanager
def user_errors() -> Iterator[None]:
    """Every expected failure ends as one line on stderr and a non-zero exit, never a traceback."""
    try:
        yield
    except FacesimError as exc:
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        err.print("interrupted: everything committed so far is kept; run again to resume", markup=False)
        raise typer.Exit(130) from None


def _detector(name: str) -> str:
    from facesim.detection import DETECTORS

    if name not in DETECTORS:
        raise FacesimError(f"unknown detector {name!r}; choose one of: {', '.join(DETECTORS)}")
    return name


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def _invocation() -> str:
    return "facesim " + shlex.join(sys.argv[1:])


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
        from facesim.pipeline import face_distance, main_face

        limit = threshold()
        face_a = main_face(photo_a, _detector(detector))
        face_b = main_face(photo_b, detector)
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
    table = Table(title=f"{report['pairs']} ({report['n_pairs']} pairs)", show_header=False)
    for key in ("accuracy", "precision", "recall", "f1", "roc_auc", "tar_at_far_1e-3", "threshold"):
        table.add_row(key, f"{report[key]:.4f}")
    table.add_row("photos with no face found (central box used)", str(report["undetected_photos"]))
    out.print(table)


@app.command()
def train(
    lfw: LfwOption,
    epochs: Annotated[int, typer.Option(help="Passes over the training people's faces.")] = 30,
    max_steps: Annotated[int | None, typer.Option(help="Stop after this many steps (smoke runs).")] = None,
    weights: Annotated[Path | None, typer.Option(help="Where to write the weights (default: the package's).")] = None,
    cache: Annotated[Path | None, typer.Option(help="Chip cache dir (default: $FACESIM_CACHE or ~/.cache).")] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Ignore an existing checkpoint.")] = False,
) -> None:
    """Train the Siamese encoder on LFW minus DevTest's people (resumes from its checkpoint)."""
    with user_errors():
        from facesim.config import MODEL_CARD_PATH, WEIGHTS_PATH
        from facesim.training.trainer import TrainSettings
        from facesim.training.workflow import train_encoder

        target = weights or WEIGHTS_PATH
        card_path = MODEL_CARD_PATH if weights is None else target.with_suffix(".json")
        settings = TrainSettings(epochs=epochs, max_steps=max_steps)
        card = train_encoder(lfw, settings, _invocation(), target, card_path, cache, resume=not fresh)
    out.print(f"trained {card['model_id']} in {card['training']['seconds']:.0f}s -> {target}")
    out.print("next: facesim calibrate --lfw DIR, then facesim evaluate --lfw DIR --update-card")


@app.command()
def calibrate(
    lfw: LfwOption,
    weights: Annotated[Path | None, typer.Option(help="Weights to calibrate (default: the package's).")] = None,
    cache: Annotated[Path | None, typer.Option(help="Chip cache dir (default: $FACESIM_CACHE or ~/.cache).")] = None,
) -> None:
    """Choose the distance threshold that maximises F1 on held-out people, and store it in the model card."""
    with user_errors():
        from facesim.config import MODEL_CARD_PATH, WEIGHTS_PATH
        from facesim.training.workflow import calibrate_encoder

        target = weights or WEIGHTS_PATH
        card_path = MODEL_CARD_PATH if weights is None else target.with_suffix(".json")
        card = calibrate_encoder(lfw, _invocation(), target, card_path, cache)
    report = card["calibration"]["at_threshold"]
    out.print(
        f"threshold {card['threshold']:.4f}: F1 {report['f1']:.4f}, "
        f"accuracy {report['accuracy']:.4f} on {report['n_pairs']} validation pairs"
    )


if __name__ == "__main__":
    app()

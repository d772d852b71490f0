"""The model card: the JSON beside the weights that says what they are and how good they are.

The distance threshold lives here and nowhere else, so every decision uses the calibrated value.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from facesim.config import CLUSTER_RULES, MODEL_CARD_PATH
from facesim.errors import FacesimError


def read_card(path: Path = MODEL_CARD_PATH) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise FacesimError(f"model card missing: {path}") from None
    except json.JSONDecodeError as exc:
        raise FacesimError(f"model card unreadable: {path} ({exc})") from None


def typed_command(words: Sequence[str]) -> str:
    """A command as a user would type it, for the card's record of how it was made: each word
    quoted for a shell, the home folder written as ~, so no machine's paths go into a committed
    file."""
    home = str(Path.home()).rstrip(os.sep) + os.sep
    return " ".join(
        "~/" + shlex.quote(word[len(home) :]) if word.startswith(home) else shlex.quote(word) for word in words
    )


def write_card(card: dict[str, Any], path: Path = MODEL_CARD_PATH) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(card, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)


@lru_cache(maxsize=4)
def _cached(path: Path) -> dict[str, Any]:
    return read_card(path)


def card_or_empty(path: Path) -> dict[str, Any]:
    """A card that may not exist yet (a first calibration, a fine-tune's start without one) reads
    as empty."""
    return read_card(path) if path.is_file() else {}


def threshold(path: Path = MODEL_CARD_PATH) -> float:
    """The F1-calibrated same-person distance; refusing to guess when it is absent."""
    card = _cached(Path(path))
    value = card.get("threshold")
    if not isinstance(value, (int, float)):
        raise FacesimError(f"{path}: no calibrated threshold; run `facesim calibrate`")
    return float(value)


class ClusterRule(NamedTuple):
    """A clustering rule as calibrated: the rule's name (CLUSTER_RULES), its cut, and its own
    parameters (as cluster_faces takes them; empty for the linkages)."""

    linkage: str
    cut: float
    params: dict[str, float]


def clustering_rule(linkage: str | None = None, path: Path = MODEL_CARD_PATH) -> ClusterRule:
    """The calibrated rule; a rule the user names gets its own calibrated cut and parameters,
    so no clustering ever runs at a hand-picked distance."""
    return cluster_rule_of(_cached(Path(path)).get("clustering"), linkage, path)


def cluster_rule_of(rule: object, linkage: str | None = None, path: Path = MODEL_CARD_PATH) -> ClusterRule:
    """The rule a card's clustering section gives (`path` names the card in errors), also for a
    section just calibrated and not yet written."""
    if not isinstance(rule, dict) or "cuts" not in rule:
        raise FacesimError(f"{path}: no calibrated clustering rule; run `facesim calibrate`")
    chosen = linkage or rule["linkage"]
    if chosen in CLUSTER_RULES and chosen not in rule["cuts"]:
        raise FacesimError(f"{path}: {chosen} was not calibrated; run `facesim calibrate`")
    if chosen not in rule["cuts"]:
        raise FacesimError(f"unknown linkage {chosen!r}; choose {', '.join(rule['cuts'])}")
    return ClusterRule(chosen, float(rule["cuts"][chosen]), dict(rule.get("params", {}).get(chosen, {})))


class MatchRule(NamedTuple):
    """The one-to-many rule (index.match.rule) as calibrated: a person answers a query when their
    nearest face is under `cut`, under `ratio` times the nearest face of anyone else (None: no
    such test), and `cohort_z` standard deviations nearer than the next people are (None: no
    such test); their faces under `list_cut` are listed as the same person."""

    cut: float
    ratio: float | None
    cohort_z: float | None
    list_cut: float


def match_rule(path: Path = MODEL_CARD_PATH) -> MatchRule:
    """The calibrated rule for a face against a gallery (match, photos of a photo, the join at
    index); verify keeps the pair threshold, since it asks about one pair."""
    rule = _cached(Path(path)).get("matching", {}).get("rule")
    if not isinstance(rule, dict):
        raise FacesimError(f"{path}: no calibrated match rule; run `facesim calibrate --match-only`")
    return MatchRule(float(rule["cut"]), rule.get("ratio"), rule.get("cohort_z"), float(rule["list_cut"]))


def is_same_person(distance: float | np.ndarray, threshold: float) -> bool | np.ndarray:
    """The one verdict rule that verify, match and clustering share, so the card's threshold means
    the same everywhere. Strictly under: calibration puts the cut between two measured distances,
    and a pair exactly at the threshold is on the "different" side. Works elementwise on arrays."""
    return distance < threshold


def model_id(path: Path = MODEL_CARD_PATH) -> str:
    """Names the weights that made a vector, so an index never mixes two models."""
    card = _cached(Path(path))
    return str(card.get("model_id", "unknown"))

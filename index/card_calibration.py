"""`facesim calibrate`: the model card's three rules measured on the same held-out people, the
pair threshold (facesim.training), the clustering rule (index.clustering) and the match rule
(index.match), so that verify, clusters and match are calibrated together. Here, above both
layers, because the gallery's rules live in index/ and the model may not import them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from facesim.config import MODEL_CARD_PATH, ONNX_PATH
from facesim.model_card import cluster_rule_of, read_card, write_card
from facesim.training.workflow import DataRoots, calibrate_encoder, held_out_faces, validation_vectors
from index.clustering.calibration import calibrate_clustering
from index.match.calibration import calibrate_matching


def calibrate_card(
    lfw: Path,
    celeba: Path | None,
    weights: Path | None,
    cache: Path | None,
    *,
    match_only: bool,
    command: str,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Writes and returns the card of `weights` (default: the package's encoder and card; other
    weights get a card beside them). `match_only` keeps the threshold and the clustering rule and
    recalibrates the match rule on the held-out people's faces alone, in minutes."""
    target = weights or ONNX_PATH
    card_path = MODEL_CARD_PATH if weights is None else target.with_suffix(".json")
    roots = DataRoots(lfw, celeba)
    if match_only:
        card = read_card(card_path)
        sources, labels, vectors = held_out_faces(roots, target, cache, log=log)
    else:
        val_data, vectors = validation_vectors(roots, target, cache)
        sources, labels = val_data.sources, val_data.labels
        card = calibrate_encoder(val_data, vectors, command, card_path)
        card["clustering"] = calibrate_clustering(sources, labels, vectors, card["threshold"])
    clustering = cluster_rule_of(card["clustering"], path=card_path)
    card["matching"] = calibrate_matching(sources, labels, vectors, card["threshold"], clustering)
    card["matching"]["command"] = command
    write_card(card, card_path)
    return card


def calibration_lines(card: dict[str, Any], match_only: bool) -> list[str]:
    """What the card now says, each rule beside what it gives up: the threshold per source beside
    the source's own best, the clustering rule's scores, and the match rule beside the pair
    threshold used as a rule for a face against a gallery."""
    lines = [] if match_only else _threshold_and_clustering_lines(card)
    matching = card["matching"]
    parts = ", ".join(f"{key} {value}" for key, value in matching["rule"].items())
    lines.append(f"match rule: {parts}")
    for name, scores in (
        ("match rule", matching["at_chosen"]["mean"]),
        ("pair threshold", matching["pair_threshold_as_face_rule"]),
    ):
        lines.append(
            f"  {name}: photos of this person precision {scores['precision']:.3f}, recall {scores['recall']:.3f}, "
            f"F1 {scores['f1']:.3f}; strangers with a hit {scores['stranger_false_hits']:.1%}, "
            f"enrolled people found {scores['enrolled_found']:.1%}"
        )
    return lines


def _threshold_and_clustering_lines(card: dict[str, Any]) -> list[str]:
    calibration, rule = card["calibration"], card["clustering"]
    report = calibration["at_threshold"]
    lines = [
        f"threshold {card['threshold']:.4f}: F1 {report['f1']:.4f}, "
        f"accuracy {report['accuracy']:.4f} on {report['n_pairs']} validation pairs"
    ]
    for source, result in calibration["per_source"].items():
        shared, own = result["at_shared_threshold"], result["at_own_threshold"]
        lines.append(
            f"  {source}: accuracy {shared['accuracy']:.4f} at the shared threshold, "
            f"{own['accuracy']:.4f} at its own best {result['own_best_threshold']:.4f}"
        )
    strangers = calibration["strangers"]
    lines.append(
        f"  strangers: {strangers['stranger_false_hit_rate']:.1%} of {strangers['stranger_queries']} people outside a "
        f"{strangers['gallery_faces']}-face gallery get a false match; "
        f"per-pair false accepts {strangers['pair_false_accept_rate']:.2%}"
    )
    scores = ", ".join(f"{source} F {score['f1']:.3f}" for source, score in rule["at_chosen"].items())
    params = "".join(f", {name} {value}" for name, value in rule["params"].get(rule["linkage"], {}).items())
    lines.append(f"clustering: {rule['linkage']} at {rule['cut']:.4f}{params} ({scores})")
    return lines

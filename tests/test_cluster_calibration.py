"""The clustering rule is chosen by BCubed F on validation galleries, stored in the card, and is
what `clusters` runs with."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facesim.errors import FacesimError
from facesim.model_card import clustering_rule
from index.cluster_calibration import CUT_FRACTIONS, calibrate_clustering
from index.cluster_metrics import bcubed
from index.clustering import cluster_faces


def _gallery(people: int, faces_each: int, spread: float, seed: int) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((people, 128))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = np.repeat(np.arange(people), faces_each)
    vectors = centres[labels] + spread * rng.standard_normal((len(labels), 128)) / np.sqrt(128)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32), [f"p{seed}-{label}" for label in labels]


def test_the_chosen_rule_is_the_best_candidate_on_every_gallery_together() -> None:
    a_vectors, a_labels = _gallery(30, 4, 0.6, 1)
    b_vectors, b_labels = _gallery(40, 3, 0.8, 2)
    vectors = np.concatenate([a_vectors, b_vectors])
    labels, sources = a_labels + b_labels, ["a"] * len(a_labels) + ["b"] * len(b_labels)
    threshold = 1.0
    rule = calibrate_clustering(sources, labels, vectors, threshold)

    assert len(rule["candidates"]) == 2 * len(CUT_FRACTIONS)
    best = max(rule["candidates"], key=lambda c: (c["mean_f1"], c["mean_precision"]))
    assert (rule["linkage"], rule["cut"]) == (best["linkage"], best["cut"])
    assert rule["galleries"] == {"a": {"faces": 120, "people": 30}, "b": {"faces": 120, "people": 40}}
    for linkage, cut in rule["cuts"].items():
        mine = [c for c in rule["candidates"] if c["linkage"] == linkage]
        assert cut == max(mine, key=lambda c: (c["mean_f1"], c["mean_precision"]))["cut"]
    # The stored scores are what that rule really gives on each gallery, each face its own photo.
    for source, rows in (("a", slice(0, 120)), ("b", slice(120, 240))):
        predicted = cluster_faces(vectors[rows], np.arange(120), rule["cut"], linkage=rule["linkage"])
        assert rule["at_chosen"][source]["f1"] == round(bcubed(np.array(labels[rows]), predicted).f1, 4)
    assert {c["cut"] for c in rule["candidates"]} == {round(threshold * f, 4) for f in CUT_FRACTIONS}


def test_clusters_read_the_cards_rule_and_a_named_linkage_gets_its_own_cut(tmp_path: Path) -> None:
    card = tmp_path / "card.json"
    card.write_text(
        json.dumps({"threshold": 1.1, "clustering": {"linkage": "average", "cuts": {"complete": 1.2, "average": 0.9}}})
    )
    assert clustering_rule(None, card) == ("average", 0.9)
    assert clustering_rule("complete", card) == ("complete", 1.2)
    with pytest.raises(FacesimError, match="unknown linkage"):
        clustering_rule("single", card)
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps({"threshold": 1.1}))
    with pytest.raises(FacesimError, match="no calibrated clustering rule"):
        clustering_rule(None, bare)

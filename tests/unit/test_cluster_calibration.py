"""The clustering rule is chosen by BCubed F on validation galleries, stored in the card, and is
what `clusters` runs with."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facesim.config import (
    CLUSTER_CUT_FRACTIONS,
    CLUSTER_RULES,
    DBSCAN_MIN_SAMPLES,
    HDBSCAN_MIN_SAMPLES,
    TWO_STAGE_CORE_FRACTIONS,
)
from facesim.errors import FacesimError
from facesim.model_card import ClusterRule, clustering_rule
from index.clustering.calibration import calibrate_clustering, rule_grid
from index.clustering.cluster import cluster_faces
from index.clustering.metrics import bcubed


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
    threshold = 1.2  # the loosest cuts merge strangers, so precision varies between candidates
    rule = calibrate_clustering(sources, labels, vectors, threshold)

    assert len(rule["candidates"]) == len(rule_grid(threshold))
    best = max(rule["candidates"], key=lambda c: (c["mean_f1"], c["mean_precision"]))
    assert (rule["linkage"], rule["cut"]) == (best["linkage"], best["cut"])
    assert rule["params"].get(rule["linkage"], {}) == best["params"]
    assert rule["galleries"] == {"a": {"faces": 120, "people": 30}, "b": {"faces": 120, "people": 40}}
    assert set(rule["cuts"]) == set(CLUSTER_RULES) and set(rule["params"]) == {"dbscan", "hdbscan", "two-stage"}
    for linkage, cut in rule["cuts"].items():
        mine = max(
            (c for c in rule["candidates"] if c["linkage"] == linkage),
            key=lambda c: (c["mean_f1"], c["mean_precision"]),
        )
        assert cut == mine["cut"] and rule["params"].get(linkage, {}) == mine["params"]
    # The stored scores are what that rule really gives on each gallery, each face its own photo.
    for source, rows in (("a", slice(0, 120)), ("b", slice(120, 240))):
        predicted = cluster_faces(
            vectors[rows], np.arange(120), rule["cut"], linkage=rule["linkage"], params=best["params"]
        )
        assert rule["at_chosen"][source]["f1"] == round(bcubed(np.array(labels[rows]), predicted).f1, 4)
    assert {c["cut"] for c in rule["candidates"]} == {round(threshold * f, 4) for f in CLUSTER_CUT_FRACTIONS}
    # Each candidate's means are of its own galleries' scores, to the card's four places: F equal
    # to four places is a tie, which goes to the higher precision.
    for candidate in rule["candidates"]:
        assert set(candidate) == {"linkage", "cut_fraction", "cut", "params", "mean_f1", "mean_precision", "galleries"}
        assert all(
            value == round(value, 4) for gallery in candidate["galleries"].values() for value in gallery.values()
        )
        for key, score in (("mean_f1", "f1"), ("mean_precision", "precision")):
            mean = np.mean([gallery[score] for gallery in candidate["galleries"].values()])
            assert candidate[key] == round(float(mean), 4)
        assert candidate["cut"] == round(threshold * candidate["cut_fraction"], 4)
    assert set(rule) == {"method", "linkage", "cut", "cuts", "params", "galleries", "at_chosen", "candidates"}


def test_the_grids_cuts_are_kept_to_four_places() -> None:
    """The card's threshold has four places (1.0707), and so does every cut derived from it."""
    grid = rule_grid(1.0707)
    assert {cut for name, fraction, cut, _ in grid if fraction == 0.55} == {0.5889}
    assert {params["core_cut"] for name, _, _, params in grid if name == "two-stage"} == {
        round(1.0707 * fraction, 4) for fraction in TWO_STAGE_CORE_FRACTIONS
    }


def test_the_grid_holds_every_rule_at_every_cut_and_two_stage_cores_under_their_cut() -> None:
    grid = rule_grid(1.0)
    for rule in CLUSTER_RULES:
        assert {fraction for name, fraction, _, _ in grid if name == rule} == set(CLUSTER_CUT_FRACTIONS)
    dbscan = [params["min_samples"] for name, _, _, params in grid if name == "dbscan"]
    assert sorted(set(dbscan)) == sorted(DBSCAN_MIN_SAMPLES) and len(dbscan) == len(DBSCAN_MIN_SAMPLES) * len(
        CLUSTER_CUT_FRACTIONS
    )
    hdbscan = [params["min_samples"] for name, _, _, params in grid if name == "hdbscan"]
    assert sorted(set(hdbscan)) == sorted(HDBSCAN_MIN_SAMPLES) and len(hdbscan) == len(HDBSCAN_MIN_SAMPLES) * len(
        CLUSTER_CUT_FRACTIONS
    )
    two_stage = [(cut, params["core_cut"]) for name, _, cut, params in grid if name == "two-stage"]
    assert all(core < cut for cut, core in two_stage)
    assert {core for _, core in two_stage} == set(TWO_STAGE_CORE_FRACTIONS)
    # The lowest core fraction pairs with every cut above it, the highest only with the cuts above it.
    lowest, highest = min(TWO_STAGE_CORE_FRACTIONS), max(TWO_STAGE_CORE_FRACTIONS)
    assert len([1 for _, core in two_stage if core == lowest]) == sum(f > lowest for f in CLUSTER_CUT_FRACTIONS)
    assert len([1 for _, core in two_stage if core == highest]) == sum(f > highest for f in CLUSTER_CUT_FRACTIONS)


def test_clusters_read_the_cards_rule_and_a_named_linkage_gets_its_own_cut(tmp_path: Path) -> None:
    card = tmp_path / "card.json"
    card.write_text(
        json.dumps({"threshold": 1.1, "clustering": {"linkage": "average", "cuts": {"complete": 1.2, "average": 0.9}}})
    )
    assert clustering_rule(None, card) == ClusterRule("average", 0.9, {})
    assert clustering_rule("complete", card) == ClusterRule("complete", 1.2, {})
    with pytest.raises(FacesimError, match="unknown linkage 'ward'; choose complete, average"):
        clustering_rule("ward", card)
    with pytest.raises(FacesimError, match="single was not calibrated; run `facesim calibrate`"):
        clustering_rule("single", card)
    with_params = tmp_path / "params.json"
    cuts = {"complete": 1.2, "dbscan": 1.0, "two-stage": 1.1}
    params = {"dbscan": {"min_samples": 3}, "two-stage": {"core_cut": 0.8}}
    with_params.write_text(
        json.dumps({"threshold": 1.1, "clustering": {"linkage": "two-stage", "cuts": cuts, "params": params}})
    )
    assert clustering_rule(None, with_params) == ClusterRule("two-stage", 1.1, {"core_cut": 0.8})
    assert clustering_rule("dbscan", with_params) == ClusterRule("dbscan", 1.0, {"min_samples": 3})
    assert clustering_rule("complete", with_params) == ClusterRule("complete", 1.2, {})
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps({"threshold": 1.1}))
    with pytest.raises(FacesimError, match="no calibrated clustering rule"):
        clustering_rule(None, bare)

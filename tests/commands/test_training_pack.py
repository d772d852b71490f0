"""The portable training pack: what a GPU machine trains on must be the same pool, people and
teacher targets that `facesim train` would use here, and its card must say so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from facesim.errors import FacesimError
from facesim.training.pack import PACK_QUALITY, read_pack, write_pack
from facesim.training.workflow import DataRoots, split_pool

from support.sample_gallery import REPO
from support.training_data import tiny_lfw_tree


@pytest.fixture(scope="module")
def tiny_pool(tmp_path_factory: pytest.TempPathFactory, cli_runner: CliRunner) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("pack")
    lfw, cache, pack = tiny_lfw_tree(root / "lfw"), root / "cache", root / "pool.npz"
    result = cli_runner.invoke(app, ["train", "--lfw", str(lfw), "--cache", str(cache), "--pack-to", str(pack)])
    assert result.exit_code == 0, result.output
    return lfw, cache, pack


def test_pack_holds_the_training_split_and_its_teacher(tiny_pool: tuple[Path, Path, Path]) -> None:
    lfw, cache, pack = tiny_pool
    train, val, summary = split_pool(DataRoots(lfw), cache)
    data, packed_summary = read_pack(pack)
    assert data.labels == train.labels and data.paths == train.paths and data.sources == train.sources
    assert not set(data.labels) & set(val.labels)  # validation people never travel
    packing = packed_summary.pop("pack")
    assert packed_summary == json.loads(json.dumps(summary))
    assert packing["command"].startswith("facesim ") and packing["webp_quality"] == PACK_QUALITY
    assert data.chips.shape[1:] == (112, 112, 3)
    assert np.abs(data.teacher - train.teacher).max() < 0.005
    np.testing.assert_array_equal(data.flippable, train.flippable)
    mirrors = data.teacher_of_mirrors()
    assert np.abs(mirrors - train.teacher_of_mirrors()).max() < 0.005


def test_an_unflippable_chip_stays_unflippable_and_pixels_survive(
    tmp_path: Path, tiny_pool: tuple[Path, Path, Path]
) -> None:
    data, summary = read_pack(tiny_pool[2])
    data.teacher_flipped[0] = np.nan
    write_pack(data, summary, tmp_path / "again.npz")
    again, _ = read_pack(tmp_path / "again.npz")
    assert not again.flippable[0] and again.flippable[1:].all()
    error = np.abs(again.chips.astype(int) - data.chips.astype(int)).mean()
    assert error < 6  # WebP at the pack's quality, on 0-255 pixels


def test_a_foreign_file_is_refused_in_one_line(tmp_path: Path) -> None:
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(FacesimError, match="not a facesim-pack-1"):
        read_pack(other)
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(FacesimError, match="not a training pack"):
        read_pack(tmp_path / "text.npz")


def test_training_from_a_pack_writes_weights_and_their_card(tiny_pool: tuple[Path, Path, Path], tmp_path: Path) -> None:
    weights = tmp_path / "wide.pt"
    shape = '{"stem_width": 16, "widths": [16, 24, 32]}'
    command = [sys.executable, "-m", "facesim.training.train_packed", str(tiny_pool[2]), "--weights", str(weights)]
    command += ["--max-steps", "2", "--encoder", shape, "--contrastive-weight", "0"]
    subprocess.run(command, cwd=REPO, check=True, capture_output=True)
    card = json.loads(weights.with_suffix(".json").read_text())
    assert card["architecture"]["widths"] == [16, 24, 32] and card["architecture"]["stem_width"] == 16
    assert card["training"]["history"][-1]["step"] == 2
    assert card["training"]["command"].startswith("python -m facesim.training.train_packed")
    assert "--encoder" in card["training"]["command"]
    assert card["training"]["sources"]["lfw"]["train_faces"] == len(read_pack(tiny_pool[2])[0].labels)
    assert card["training"]["objective"].endswith("alone")


def test_a_missing_pack_is_one_line_and_a_failed_exit(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "facesim.training.train_packed", str(tmp_path / "none.npz")]
    done = subprocess.run([*command, "--weights", str(tmp_path / "w.pt")], cwd=REPO, capture_output=True, text=True)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr == f"error: {tmp_path / 'none.npz'}: no such file\n"
    assert not (tmp_path / "w.pt").exists()


def test_a_packed_run_with_a_checkpoint_resumes_it_and_fine_tunes_given_weights(
    tiny_pool: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CPU run outlives a session only through its checkpoint: a second call with the same
    --checkpoint goes on from the steps the first one took, and --init-from starts from the
    given weights, not from random ones."""
    from facesim.training import train_packed
    from facesim.training.torch_embedder import load_encoder

    shape = '{"stem_width": 16, "widths": [16, 24, 32]}'
    start = tmp_path / "start.pt"
    train_packed.main([str(tiny_pool[2]), "--weights", str(start), "--max-steps", "1", "--encoder", shape])
    checkpoint, weights = tmp_path / "run" / "checkpoint.pt", tmp_path / "tuned.pt"
    argv = [str(tiny_pool[2]), "--weights", str(weights), "--init-from", str(start), "--checkpoint", str(checkpoint)]
    epochs = tmp_path / "epochs"
    first = train_packed.main([*argv, "--max-steps", "2", "--epoch-weights", str(epochs)])
    assert checkpoint.is_file() and first["training"]["history"][-1]["step"] == 2
    # Each epoch's end kept as loadable weights (one step an epoch on this tiny pool).
    assert sorted(path.name for path in epochs.iterdir()) == ["epoch01.pt", "epoch02.pt"]
    assert load_encoder(epochs / "epoch02.pt").config["stem_width"] == 16
    capsys.readouterr()
    again = train_packed.main([*argv, "--max-steps", "3"])
    assert f"resumed from {checkpoint} at epoch 2, step 2" in capsys.readouterr().out
    # Went on from step 2 (one step an epoch on this tiny pool), not over from the start.
    assert [record["step"] for record in again["training"]["history"]] == [1, 2, 3]
    assert again["architecture"]["widths"] == [16, 24, 32]  # the shape of the weights it started from

    fresh = train_packed.main([str(tiny_pool[2]), "--weights", str(tmp_path / "fresh.pt"), "--max-steps", "1"])
    assert fresh["architecture"]["widths"] != [16, 24, 32]  # no --init-from: the default shape, from random
    assert load_encoder(weights).config["stem_width"] == 16

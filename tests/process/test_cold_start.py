"""What each command imports, and the shipped HOG detector file.

The encoder runs under ONNX Runtime, and torch (1.7 s and 0.5 GB to import) is only for training;
commands that never embed a face must not load even the encoder. These tests run the real CLI in a
fresh interpreter and fail when a module-level import anywhere on a light path pulls in torch,
dlib or pandas. (How long commands take is measured in benchmarks/cold_start.py, not here.)
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import dlib
import numpy as np
import pytest

from facesim import detection
from facesim.config import EMBEDDING_DIM, HOG_DETECTOR_PATH
from facesim.errors import ImageError
from facesim.images import load_rgb
from facesim.pipeline import Face
from index.ingest import examine
from index.store.gallery import Gallery

from support.sample_gallery import REPO, SAMPLE_PHOTOS

TORCH = {"torch", "torchvision"}
# Modules only face detection and embedding need; pandas is imported by sqlite_utils if not kept out.
EMBEDDING_ONLY = TORCH | {"dlib", "pandas"}
# A help text needs not even the gallery's libraries.
GALLERY_LIBRARIES = {"faiss", "numpy", "sqlite_utils", "PIL"}

# Runs the CLI in-process and writes its exit code and the top-level modules it loaded to argv[1].
_PROBE = """
import json, sys
target, args = sys.argv[1], sys.argv[2:]
from cli import app
try:
    app(args, prog_name="facesim")
    code = 0
except SystemExit as exc:
    code = exc.code or 0
with open(target, "w") as handle:
    json.dump({"code": code, "modules": sorted({name.split(".")[0] for name in sys.modules})}, handle)
"""


def loaded_modules(tmp_path: Path, *args: str | Path) -> set[str]:
    report = tmp_path / "modules.json"
    subprocess.run([sys.executable, "-c", _PROBE, report, *map(str, args)], cwd=REPO, check=True, capture_output=True)
    result = json.loads(report.read_text())
    assert result["code"] == 0, f"facesim {' '.join(map(str, args))} exited {result['code']}"
    return set(result["modules"])


@pytest.fixture
def empty_gallery(tmp_path: Path) -> Path:
    directory = tmp_path / "gallery"
    Gallery.open(directory).close()
    return directory


@pytest.mark.parametrize("args", [["--help"], ["index", "--help"], ["verify", "--help"], ["match", "--help"]])
def test_help_imports_no_model_or_gallery_library(tmp_path: Path, args: list[str]) -> None:
    loaded = loaded_modules(tmp_path, *args)
    assert not loaded & (EMBEDDING_ONLY | GALLERY_LIBRARIES)


@pytest.mark.parametrize("command", [["info"], ["clusters"], ["doctor", "--repair"]])
def test_gallery_commands_that_embed_nothing_skip_torch_and_dlib(
    tmp_path: Path, empty_gallery: Path, command: list[str]
) -> None:
    loaded = loaded_modules(tmp_path, *command, "--index", empty_gallery, "--json")
    assert not loaded & EMBEDDING_ONLY


def test_commands_that_embed_run_the_encoder_without_torch(tmp_path: Path) -> None:
    """The encoder runs under ONNX Runtime: index, verify, match and clusters, every command a
    gallery user runs, must work with torch absent (it is the train extra)."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("Abdullah_Gul_0001.jpg", "Abdullah_Gul_0002.jpg"):
        (photos / name).write_bytes((SAMPLE_PHOTOS / name).read_bytes())
    gallery = tmp_path / "gallery"
    for command in (
        ["index", photos, "--index", gallery, "--workers", "1"],
        ["verify", photos / "Abdullah_Gul_0001.jpg", photos / "Abdullah_Gul_0002.jpg"],
        ["match", photos / "Abdullah_Gul_0001.jpg", "--index", gallery],
        ["clusters", "--index", gallery],
    ):
        loaded = loaded_modules(tmp_path, *command)
        assert "onnxruntime" in loaded or command[0] == "clusters"
        assert not loaded & TORCH, command[0]


def test_indexer_parent_receiving_faces_from_workers_does_not_import_torch(fake_face: Callable[..., Face]) -> None:
    """With --workers the parent imports the indexer and unpickles the workers' faces, nothing
    more; torch there would cost 0.5 GB for a process that never embeds."""
    face = fake_face(np.zeros(EMBEDDING_DIM, dtype=np.float32), (0, 0, 9, 9))
    outcome = pickle.dumps(examine.Outcome("hash", faces=(face,)))
    code = (
        "import json, pickle, sys, index.ingest.indexer; pickle.loads(sys.stdin.buffer.read()); "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    process = subprocess.run([sys.executable, "-c", code], cwd=REPO, input=outcome, check=True, capture_output=True)
    loaded = set(json.loads(process.stdout))
    assert "facesim" in loaded and not loaded & TORCH


def test_shipped_hog_detector_finds_exactly_what_dlibs_builtin_one_finds() -> None:
    """The file must be the built-in detector, not merely a similar one: same boxes, same scores,
    same sub-detector, at the upsampling facesim uses and without it. If this fails after a dlib
    upgrade, rewrite the file with dlib.get_frontal_face_detector().save(HOG_DETECTOR_PATH)."""
    assert HOG_DETECTOR_PATH.is_file(), "without the file facesim silently falls back to the slow constructor"
    detection._hog.cache_clear()
    shipped, builtin = detection._hog(), dlib.get_frontal_face_detector()
    compared = 0
    for photo in sorted(SAMPLE_PHOTOS.iterdir()):
        try:
            rgb = load_rgb(photo)
        except ImageError:
            continue
        for upsample in (0, 1):
            ours, theirs = shipped.run(rgb, upsample, 0.0), builtin.run(rgb, upsample, 0.0)
            assert [str(rect) for rect in ours[0]] == [str(rect) for rect in theirs[0]], photo.name
            assert list(ours[1]) == list(theirs[1]) and list(ours[2]) == list(theirs[2]), photo.name
            compared += bool(ours[0])
    assert compared >= 40  # the 40 single-face photos at least, so the comparison saw faces


@pytest.mark.parametrize(("second", "message"), [("missing.jpg", "no such file"), ("no_face.jpg", "no face found")])
def test_verify_reports_a_bad_second_photo_before_the_encoder_loads(
    monkeypatch: pytest.MonkeyPatch, second: str, message: str
) -> None:
    """Loading the encoder (torch) is most of a cold `verify`; a photo that cannot be used is known
    from decoding and detection alone, so it must be reported without asking for the encoder."""
    from facesim import pipeline

    from support.cli_runs import run

    def no_encoder(embedder: object) -> None:
        raise AssertionError("the encoder was asked for before both photos were checked")

    monkeypatch.setattr(pipeline, "_or_default", no_encoder)
    for extra in ([], ["--all-faces"]):
        code, _, stderr = run("verify", SAMPLE_PHOTOS / "Abdullah_Gul_0001.jpg", SAMPLE_PHOTOS / second, *extra)
        assert code != 0 and message in stderr and "Traceback" not in stderr


def test_train_without_torch_is_one_line_naming_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """torch is the train extra: a default install's `facesim train` says how to get it, no traceback."""
    import importlib.util

    from support.cli_runs import run

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    code, _, stderr = run("train", "--lfw", tmp_path)
    assert code != 0 and "Traceback" not in stderr
    assert stderr.strip().splitlines() == [stderr.strip()] and "pip install -e '.[train]'" in stderr

"""The shipped ONNX graph is the .pt weights, exported: same vectors on the sample faces (max
absolute difference 1e-5) and so the same verdicts; and it is refused when it is not the file
the model card describes. Needs torch (the train extra) to load the .pt side."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from facesim import embedder as runtime
from facesim.alignment import align_face
from facesim.config import ONNX_PATH, WEIGHTS_PATH
from facesim.detection import detect_faces
from facesim.errors import FacesimError, ImageError
from facesim.images import load_rgb
from facesim.model_card import is_same_person, threshold
from facesim.model_files import file_sha256

from support.sample_gallery import SAMPLE_PHOTOS

torch_embedder = pytest.importorskip("facesim.training.torch_embedder")


@pytest.fixture(scope="module")
def sample_chips() -> np.ndarray:
    chips = []
    for photo in sorted(SAMPLE_PHOTOS.iterdir()):
        try:
            rgb = load_rgb(photo)
        except ImageError:
            continue
        chips.extend(align_face(rgb, face) for face in detect_faces(rgb))
    assert len(chips) >= 40
    return np.stack(chips)


def test_onnx_graph_gives_the_pt_weights_vectors_and_verdicts(sample_chips: np.ndarray) -> None:
    onnx_vectors = runtime.Embedder().embed(sample_chips)
    torch_vectors = torch_embedder.TorchEmbedder(WEIGHTS_PATH).embed(sample_chips)
    assert np.abs(onnx_vectors - torch_vectors).max() <= 1e-5
    cut = threshold()

    def verdicts(vectors: np.ndarray) -> np.ndarray:
        return is_same_person(np.linalg.norm(vectors[:, None] - vectors[None], axis=2), cut)

    assert (verdicts(onnx_vectors) == verdicts(torch_vectors)).all()


def test_card_records_the_shipped_files_hashes() -> None:
    assert runtime.recorded_onnx_sha256() == file_sha256(ONNX_PATH)


def test_a_graph_that_is_not_the_cards_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    swapped = tmp_path / "encoder.onnx"
    shutil.copy(ONNX_PATH, swapped)
    with swapped.open("r+b") as handle:  # one byte of one weight changed
        handle.seek(-100, 2)
        byte = handle.read(1)
        handle.seek(-100, 2)
        handle.write(bytes([byte[0] ^ 1]))
    monkeypatch.setattr(runtime, "ONNX_PATH", swapped)
    with pytest.raises(FacesimError, match="does not match its recorded sha256"):
        runtime.Embedder(swapped)
    runtime.Embedder(ONNX_PATH)  # the real one still loads

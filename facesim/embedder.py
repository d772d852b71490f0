"""Runs the shipped encoder on aligned chips with ONNX Runtime: the gallery commands' only inference.

torch trains the encoder (facesim/training); its exported graph (facesim.training.export_onnx)
holds the whole embedding, from uint8 chips to unit vectors of chip plus mirror, so this module
only feeds it. ONNX Runtime imports in a tenth of torch's time and memory, which is most of a
cold `facesim verify`. The graph is checked against the sha256 in the model card before use, so
a threshold is never applied to vectors of other weights.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import onnxruntime as ort

from facesim.config import EMBEDDING_DIM, MODEL_CARD_PATH, ONNX_INPUT_NAME, ONNX_PATH
from facesim.errors import FacesimError
from facesim.model_card import card_or_empty
from facesim.model_files import verified_bytes

# Chips per session run: larger batches gained nothing on one core and hold more memory.
EMBED_BATCH = 32


def recorded_onnx_sha256(card_path: Path = MODEL_CARD_PATH) -> str | None:
    runtime = card_or_empty(card_path).get("runtime", {})
    return runtime.get("onnx_sha256") if isinstance(runtime, dict) else None


def onnx_bytes(path: Path = ONNX_PATH) -> bytes:
    """The packaged graph, verified against its card; another graph (a candidate being measured)
    is read as it is, since its card is the caller's to check."""
    expected = recorded_onnx_sha256() if Path(path) == ONNX_PATH else None
    if expected is not None:
        return verified_bytes(path, expected)
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise FacesimError(f"encoder unreadable: {path} ({exc.strerror or type(exc).__name__})") from None


class Embedder:
    """Embeds chips in batches. `threads` bounds ONNX Runtime's own threads: one where processes
    (index workers, Ray actors) are the parallelism, the default otherwise."""

    def __init__(self, model: Path | bytes = ONNX_PATH, threads: int | None = None) -> None:
        options = ort.SessionOptions()
        # Without ONNX Runtime's arena a session holds only what a run needs: 70 MB less at a batch
        # of 32 chips, at no cost in speed (benchmarks/light_runtime.py).
        options.enable_cpu_mem_arena = False
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        data = model if isinstance(model, bytes) else onnx_bytes(model)
        try:
            self.session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # a damaged or foreign file: one line, not ONNX Runtime's dump
            raise FacesimError(
                f"encoder unreadable: {model if isinstance(model, Path) else 'bytes'} ({type(exc).__name__})"
            ) from None

    def embed(self, chips: list[np.ndarray] | np.ndarray) -> np.ndarray:
        if len(chips) == 0:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        out = []
        for start in range(0, len(chips), EMBED_BATCH):
            batch = np.ascontiguousarray(np.stack(chips[start : start + EMBED_BATCH]))
            out.append(self.session.run(None, {ONNX_INPUT_NAME: batch})[0])
        return np.concatenate(out).astype(np.float32)


@lru_cache(maxsize=1)
def default_embedder() -> Embedder:
    return Embedder()

"""The encoder under torch: loading and saving weights, the training batch, and embedding with a
model in memory (a checkpoint under training). The gallery commands never come here; they run the
exported ONNX graph (facesim/embedder.py), which holds exactly this preparation and mirror pass."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from facesim.config import INPUT_SIZE, WEIGHTS_PATH
from facesim.encoder import FaceEncoder
from facesim.errors import FacesimError

# Chips are scaled to [-1, 1]; the same function prepares training and inference batches.
_MEAN = 127.5
_STD = 128.0


@lru_cache(maxsize=4)
def resize_matrix(source: int, target: int) -> torch.Tensor:
    """The target x source matrix of torch's antialiased bilinear resize along one axis. The
    resize is separable, so `R @ image @ R.T` is that resize done as two matrix products, which
    ONNX expresses exactly (its own Resize has no antialiased form torch can export)."""
    eye = torch.eye(source).reshape(source, 1, 1, source)
    rows = F.interpolate(eye, size=(1, target), mode="bilinear", antialias=True, align_corners=False)
    return rows.reshape(source, target).T.contiguous()


def prepare_batch(chips: np.ndarray | torch.Tensor, input_size: int = INPUT_SIZE) -> torch.Tensor:
    """N x H x W x 3 uint8 chips to the encoder's normalised N x 3 x S x S float input."""
    pixels = chips if isinstance(chips, torch.Tensor) else torch.as_tensor(np.asarray(chips))
    tensor = pixels.permute(0, 3, 1, 2).float()
    tensor = (tensor - _MEAN) / _STD
    if tensor.shape[-1] != input_size:
        resize = resize_matrix(int(tensor.shape[-1]), input_size)
        tensor = resize @ tensor @ resize.T
    return tensor


def mirror_vectors(model: FaceEncoder, batch: torch.Tensor) -> torch.Tensor:
    """Each chip's vector averaged with its mirror image's, renormalised: one more pass, but the
    vector no longer depends on which way the face turns. Chips and mirrors go in one batch, which
    runs faster than two small ones."""
    chip, mirror = model(torch.cat([batch, batch.flip(3)])).chunk(2)
    return F.normalize(chip + mirror, dim=1)


def load_encoder(path: Path = WEIGHTS_PATH) -> FaceEncoder:
    """weights_only=True: a weights file can never run code on the user's machine."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FacesimError(f"encoder weights missing: {path}") from None
    except Exception as exc:  # a corrupt or foreign file: say so in one line
        raise FacesimError(f"encoder weights unreadable: {path} ({type(exc).__name__})") from None
    config = payload["config"]
    model = FaceEncoder(
        stem_width=config["stem_width"],
        widths=tuple(config["widths"]),
        blocks=tuple(config["blocks"]),
        embedding_dim=config["embedding_dim"],
        input_size=config["input_size"],
        dropout=config["dropout"],
    )
    model.load_state_dict({name: value.float() for name, value in payload["state_dict"].items()})
    return model.eval()


def save_encoder(model: FaceEncoder, path: Path) -> None:
    """Half precision halves the committed file; inference upcasts, so accuracy is unchanged."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {name: value.half() if value.is_floating_point() else value for name, value in model.state_dict().items()}
    tmp = path.with_suffix(".tmp")
    torch.save({"config": model.config, "state_dict": state}, tmp)
    tmp.replace(path)


class TorchEmbedder:
    """Embeds chips with a torch model: a checkpoint in memory, or a .pt file before it is exported."""

    def __init__(self, weights: Path = WEIGHTS_PATH, batch_size: int = 64, model: FaceEncoder | None = None) -> None:
        self.model = model if model is not None else load_encoder(weights)
        self.input_size = self.model.config["input_size"]
        self.batch_size = batch_size

    @torch.inference_mode()
    def embed(self, chips: list[np.ndarray] | np.ndarray) -> np.ndarray:
        if len(chips) == 0:
            return np.zeros((0, self.model.config["embedding_dim"]), dtype=np.float32)
        out = []
        for start in range(0, len(chips), self.batch_size):
            batch = prepare_batch(np.stack(chips[start : start + self.batch_size]), self.input_size)
            out.append(mirror_vectors(self.model, batch).numpy())
        return np.concatenate(out).astype(np.float32)

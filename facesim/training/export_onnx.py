"""Exports trained weights (.pt) to the ONNX file the gallery commands run under ONNX Runtime.

The graph takes what the pipeline makes, aligned uint8 chips (N x CHIP_SIZE x CHIP_SIZE x 3),
and returns finished unit vectors: the scaling to the encoder's input, the mirror pass and the
renormalisation are inside it, so inference outside torch is one `session.run` with nothing to
reimplement (and nothing to drift). The card records both files' hashes and this command.

    python -m facesim.training.export_onnx facesim/weights/encoder.pt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from facesim.config import CHIP_SIZE, MODEL_CARD_PATH, ONNX_INPUT_NAME, ONNX_OPSET, ONNX_OUTPUT_NAME
from facesim.encoder import FaceEncoder
from facesim.errors import FacesimError
from facesim.model_card import card_or_empty, typed_command, write_card
from facesim.model_files import file_sha256
from facesim.training.torch_embedder import load_encoder, mirror_vectors, prepare_batch, resize_matrix


class ChipsToVectors(nn.Module):
    """uint8 chips in, unit vectors of chip-plus-mirror out: torch_embedder.TorchEmbedder.embed as one graph."""

    def __init__(self, encoder: FaceEncoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.input_size = encoder.config["input_size"]
        # Built now, so the export traces two constant matrices, not the resize that makes them.
        resize_matrix(CHIP_SIZE, self.input_size)

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        batch = prepare_batch(chips, self.input_size)
        return mirror_vectors(self.encoder, batch)


def export_onnx(weights: Path, out: Path) -> None:
    """Writes `out` atomically; the ONNX file is only ever replaced whole."""
    graph = ChipsToVectors(load_encoder(weights)).eval()
    example = torch.zeros((2, CHIP_SIZE, CHIP_SIZE, 3), dtype=torch.uint8)
    tmp = out.with_suffix(".tmp.onnx")
    torch.onnx.export(
        graph,
        (example,),
        str(tmp),
        input_names=[ONNX_INPUT_NAME],
        output_names=[ONNX_OUTPUT_NAME],
        dynamic_axes={ONNX_INPUT_NAME: {0: "faces"}, ONNX_OUTPUT_NAME: {0: "faces"}},
        opset_version=ONNX_OPSET,
        # Unfolded, every weight is still the half-precision value of the .pt file, so the graph
        # stores it in half precision losslessly (half the file); ONNX Runtime folds at load.
        do_constant_folding=False,
        dynamo=False,
    )
    model = onnx.load(str(tmp))
    _store_half(model)
    onnx.save(model, str(tmp))
    tmp.replace(out)


def _store_half(model: onnx.ModelProto) -> None:
    """Each float weight that half precision holds exactly is stored as half and cast back to
    float by the graph itself, which ONNX Runtime does once when it loads the file."""
    casts = []
    for initializer in model.graph.initializer:
        values = numpy_helper.to_array(initializer)
        if values.dtype != np.float32 or not np.array_equal(values.astype(np.float16).astype(np.float32), values):
            continue
        name = initializer.name
        initializer.CopyFrom(numpy_helper.from_array(values.astype(np.float16), f"{name}.half"))
        casts.append(helper.make_node("Cast", [f"{name}.half"], [name], to=TensorProto.FLOAT))
    nodes = casts + list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)


def record_export(weights: Path, onnx_path: Path, command: str, card_path: Path = MODEL_CARD_PATH) -> None:
    card = card_or_empty(card_path)
    card["runtime"] = {
        "engine": "ONNX Runtime (CPU); torch only trains",
        "onnx_file": onnx_path.name,
        "onnx_sha256": file_sha256(onnx_path),
        "weights_file": weights.name,
        "weights_sha256": file_sha256(weights),
        "opset": ONNX_OPSET,
        "graph": f"uint8 chips N x {CHIP_SIZE} x {CHIP_SIZE} x 3 -> unit vectors of chip plus mirror",
        "command": command,
    }
    write_card(card, card_path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path, help="the trained .pt file")
    parser.add_argument("--out", type=Path, help="the ONNX file (default: beside the weights, .onnx)")
    parser.add_argument("--card", type=Path, help="the model card to record it in (default: beside the weights)")
    args = parser.parse_args(argv)
    out = args.out or args.weights.with_suffix(".onnx")
    card = args.card or args.weights.with_name(MODEL_CARD_PATH.name)
    try:
        export_onnx(args.weights, out)
    except FacesimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    command = typed_command(["python", "-m", "facesim.training.export_onnx", *(sys.argv[1:] if argv is None else argv)])
    record_export(args.weights, out, command, card)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

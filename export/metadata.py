"""The self-description stored in every exported graph's metadata_props (keys contract.META_*)."""

from __future__ import annotations

import json

from posenet_onnx import __version__
from posenet_onnx.export.checkpoint import Checkpoint
from posenet_onnx.keypoints import PART_NAMES
from posenet_onnx.contract import (
    INPUT_NAME,
    META_CHECKPOINT,
    META_EXPORTER,
    META_INPUT,
    META_MULTIPLIER,
    META_OUTPUT_STRIDE,
    META_OUTPUTS,
    META_PART_NAMES,
    META_PRECISION,
    OUTPUT_CHANNELS,
    OUTPUT_NAMES,
)

_OUTPUT_CONTENT: dict[str, str] = {
    "heatmap_scores": "keypoint confidence per cell, sigmoid applied, channel = part id",
    "offsets": "input pixels; channel k = dy, channel k + 17 = dx of part k from the cell's position",
    "displacement_fwd": "input pixels; channel e = dy, e + 16 = dx along pose-chain edge e, parent -> child",
    "displacement_bwd": "input pixels; channel e = dy, e + 16 = dx along pose-chain edge e, child -> parent",
}


def model_metadata(
    multiplier: float,
    output_stride: int,
    precision: str,
    checkpoint: Checkpoint,
    url: str | None,
    versions: dict[str, str],
) -> dict[str, str]:
    """The metadata_props of a graph: strings, JSON where structured."""
    image_input = {
        "name": INPUT_NAME,
        "dtype": "float32",
        "layout": "NHWC",
        "shape": ["batch", "height", "width", 3],
        "colour_order": "RGB",
        "value_range": [0, 255],
        "normalisation": "x / 127.5 - 1, inside the graph",
        "valid_sizes": f"(size - 1) % {output_stride} == 0 for height and width, e.g. 257, 353, 513",
    }
    outputs = [
        {
            "name": name,
            "dtype": "float32",
            "layout": "NHWC",
            "channels": OUTPUT_CHANNELS[name],
            "grid": f"(size - 1) / {output_stride} + 1",
            "content": _OUTPUT_CONTENT[name],
        }
        for name in OUTPUT_NAMES
    ]
    return {
        META_MULTIPLIER: f"{multiplier:.2f}",
        META_OUTPUT_STRIDE: str(output_stride),
        META_PRECISION: precision,
        META_INPUT: json.dumps(image_input),
        META_OUTPUTS: json.dumps(outputs),
        META_PART_NAMES: json.dumps(list(PART_NAMES)),
        META_CHECKPOINT: json.dumps({"name": checkpoint.name, "url": url, "sha256": checkpoint.sha256()}),
        META_EXPORTER: json.dumps({"posenet-onnx": __version__, **versions}),
    }

"""The self-description stored in every exported graph's metadata_props (keys contract.META_*)."""

from __future__ import annotations

import json

from posenet_onnx import __version__
from posenet_onnx.export.checkpoint import Checkpoint
from posenet_onnx.keypoints import PART_NAMES
from posenet_onnx.contract import (
    DEFAULT_RESIZE,
    INPUT_NAME,
    MAX_POSES_NAME,
    META_BATCH,
    META_CHECKPOINT,
    META_DECODER,
    META_EXPORTER,
    META_INPUT,
    META_INPUT_SIZE,
    META_MULTIPLIER,
    META_OUTPUT_STRIDE,
    META_OUTPUTS,
    META_PARAMETERS,
    META_PART_NAMES,
    META_PRECISION,
    META_RESIZE,
    MULTI_GRAPH_OUTPUTS,
    MULTI_POSE_DEFAULTS,
    NMS_RADIUS_NAME,
    OUTPUT_CHANNELS,
    OUTPUT_NAMES,
    SCALE_FACTOR_NAME,
    SCORE_THRESHOLD_NAME,
    SINGLE_GRAPH_OUTPUTS,
)

_OUTPUT_CONTENT: dict[str, str] = {
    "heatmap_scores": "keypoint confidence per cell, sigmoid applied, channel = part id",
    "offsets": "input pixels; channel k = dy, channel k + 17 = dx of part k from the cell's position",
    "displacement_fwd": "input pixels; channel e = dy, e + 16 = dx along pose-chain edge e, parent -> child",
    "displacement_bwd": "input pixels; channel e = dy, e + 16 = dx along pose-chain edge e, child -> parent",
}


_SINGLE_OUTPUTS: list[dict[str, object]] = [
    {"name": SINGLE_GRAPH_OUTPUTS[0], "dtype": "float32", "shape": ["batch", 17, 2],
     "content": "x, y of each part in the input image's pixels, channel order = part id"},
    {"name": SINGLE_GRAPH_OUTPUTS[1], "dtype": "float32", "shape": ["batch", 17],
     "content": "each part's heatmap score at its position"},
    {"name": SINGLE_GRAPH_OUTPUTS[2], "dtype": "float32", "shape": ["batch"],
     "content": "pose score: the mean of the 17 part scores"},
]

_MULTI_OUTPUTS: list[dict[str, object]] = [
    {"name": MULTI_GRAPH_OUTPUTS[0], "dtype": "float32", "shape": ["batch", "poses", 17, 2],
     "content": "x, y of each part of each pose in the input image's pixels, channel order = part id"},
    {"name": MULTI_GRAPH_OUTPUTS[1], "dtype": "float32", "shape": ["batch", "poses", 17],
     "content": "each part's heatmap score at its position"},
    {"name": MULTI_GRAPH_OUTPUTS[2], "dtype": "float32", "shape": ["batch", "poses"],
     "content": "pose score: the scores of the parts not within nms_radius of the same part of an earlier pose, / 17"},
    {"name": MULTI_GRAPH_OUTPUTS[3], "dtype": "int64", "shape": ["batch"],
     "content": "the number of poses found per image; poses = max(max_pose_detections, 1) rows, "
                "the first num_poses in upstream's order (strongest root first), the rest zero"},
]

# The multi-pose graph's scalar inputs after `image` (image_scale_factor only where the graph resizes).
_MULTI_PARAMETERS: list[dict[str, object]] = [
    {"name": SCALE_FACTOR_NAME, "dtype": "float32", "valid": "0.2 to 1.0"},
    {"name": MAX_POSES_NAME, "dtype": "int64", "valid": ">= 1 (a smaller value acts as 1)"},
    {"name": SCORE_THRESHOLD_NAME, "dtype": "float32", "valid": "0 to 1; a root part's score must be >= it"},
    {"name": NMS_RADIUS_NAME, "dtype": "float32", "valid": "> 0, in model-input pixels"},
]


def model_metadata(
    multiplier: float,
    output_stride: int,
    precision: str,
    checkpoint: Checkpoint,
    url: str | None,
    versions: dict[str, str],
    *,
    decoder: str | None = None,
    input_size: tuple[int, int] | None = None,
    batch: int | None = None,
    resize: str = DEFAULT_RESIZE,
) -> dict[str, str]:
    """The metadata_props of a graph: strings, JSON where structured; the fixed-shape and decoder keys
    only where the graph has them."""
    shape = [batch or "batch", *(input_size or ("height", "width")), 3]
    if decoder is None:
        image_input = _network_input(output_stride, shape)
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
    else:
        image_input = _image_input(output_stride, shape, input_size is None)
        outputs = _MULTI_OUTPUTS if decoder == "multi" else _SINGLE_OUTPUTS
    fixed = {}
    if decoder == "multi":
        parameters = [
            {**parameter, "shape": [], "default": MULTI_POSE_DEFAULTS[str(parameter["name"])]}
            for parameter in _MULTI_PARAMETERS
            if input_size is None or parameter["name"] != SCALE_FACTOR_NAME
        ]
        fixed[META_PARAMETERS] = json.dumps(parameters)
    if input_size is not None:
        fixed[META_INPUT_SIZE] = "{}x{}".format(*input_size)
    if batch is not None:
        fixed[META_BATCH] = str(batch)
    if decoder is not None:
        fixed[META_DECODER] = decoder
        if input_size is None:
            fixed[META_RESIZE] = resize
    return {
        **fixed,
        META_MULTIPLIER: f"{multiplier:.2f}",
        META_OUTPUT_STRIDE: str(output_stride),
        META_PRECISION: precision,
        META_INPUT: json.dumps(image_input),
        META_OUTPUTS: json.dumps(outputs),
        META_PART_NAMES: json.dumps(list(PART_NAMES)),
        META_CHECKPOINT: json.dumps({"name": checkpoint.name, "url": url, "sha256": checkpoint.sha256()}),
        META_EXPORTER: json.dumps({"posenet-onnx": __version__, **versions}),
    }


def _network_input(output_stride: int, shape: list[object]) -> dict[str, object]:
    """The network graph's input: float32 pixels at a valid resolution."""
    return {
        "name": INPUT_NAME,
        "dtype": "float32",
        "layout": "NHWC",
        "shape": shape,
        "colour_order": "RGB",
        "value_range": [0, 255],
        "normalisation": "x / 127.5 - 1, inside the graph",
        "valid_sizes": f"(size - 1) % {output_stride} == 0 for height and width, e.g. 257, 353, 513",
    }


def _image_input(output_stride: int, shape: list[object], resizes: bool) -> dict[str, object]:
    """The single-pose graph's input: uint8 pixels, resized inside the graph when it has a scale factor."""
    described: dict[str, object] = {
        "name": INPUT_NAME,
        "dtype": "uint8",
        "layout": "NHWC",
        "shape": shape,
        "colour_order": "RGB",
        "value_range": [0, 255],
    }
    if resizes:
        described["scale_factor"] = {
            "name": SCALE_FACTOR_NAME, "dtype": "float32", "shape": [], "valid_range": [0.2, 1.0],
        }
        described["resize"] = (
            f"inside the graph: to e - fmod(e, {output_stride}) + 1 with e = size * scale - 1 per side, "
            "tfjs 1.x bilinear (no half-pixel centres)"
        )
    else:
        described["resize"] = "none: the image is the network's input (a valid size)"
    return described

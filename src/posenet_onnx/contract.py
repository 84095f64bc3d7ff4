"""The graph contract: the model family, the graph's input and outputs, its metadata keys and file names.

The one place that says what an exported PoseNet graph is: the exporter writes it, the runtime and the
decoder read it, and none of them spells any of it out itself.
"""

from __future__ import annotations

import os
from pathlib import Path

from posenet_onnx.keypoints import NUM_EDGES, NUM_KEYPOINTS

# multiplier -> checkpoint folder name on the official server.
CHECKPOINTS: dict[float, str] = {
    0.50: "mobilenet_v1_050",
    0.75: "mobilenet_v1_075",
    1.00: "mobilenet_v1_100",
    1.01: "mobilenet_v1_101",
}
MULTIPLIERS: tuple[float, ...] = tuple(CHECKPOINTS)
OUTPUT_STRIDES: tuple[int, ...] = (8, 16, 32)
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8")

# The 0.50 and 0.75 backbones have no fifth stride-2 layer, so they cannot reach output stride 32.
UNSUPPORTED: frozenset[tuple[float, int]] = frozenset({(0.50, 32), (0.75, 32)})
VALID_MODELS: tuple[tuple[float, int], ...] = tuple(
    (m, s) for m in MULTIPLIERS for s in OUTPUT_STRIDES if (m, s) not in UNSUPPORTED
)

ENV_CACHE_DIR = "POSENET_ONNX_CACHE_DIR"
ENV_CHECKPOINT_DIR = "POSENET_ONNX_CHECKPOINT_DIR"
ENV_MODEL_DIR = "POSENET_ONNX_MODEL_DIR"

# Keys of the ONNX model's metadata_props; values are strings (JSON where structured).
META_MULTIPLIER = "posenet.multiplier"  # "0.50"
META_OUTPUT_STRIDE = "posenet.output_stride"  # "16"
META_PRECISION = "posenet.precision"  # "fp32" | "fp16" | "int8"
META_INPUT = "posenet.input"  # JSON: name, dtype, layout, value range, colour order, valid sizes
META_OUTPUTS = "posenet.outputs"  # JSON: output names in order, layouts, units
META_PART_NAMES = "posenet.part_names"  # JSON list of the 17 part names
META_CHECKPOINT = "posenet.checkpoint"  # JSON: name, url, sha256 of the weights
META_EXPORTER = "posenet.exporter"  # JSON: posenet-onnx, tensorflow and tf2onnx versions
META_INPUT_SIZE = "posenet.input_size"  # "HxW" of a fixed-shape graph (e.g. "257x257"); absent: any valid size
META_BATCH = "posenet.batch"  # "N" of a fixed-batch graph; absent: any batch
META_DECODER = "posenet.decoder"  # "single" for a self-contained single-pose graph; absent: the four outputs

INPUT_NAME = "image"  # float32 NHWC RGB in [0, 255]; the graph normalises to [-1, 1] itself

# The four outputs in graph order, each N x H' x W' x channels (float32, NHWC): heatmap scores (sigmoid
# applied, channel = part id), offsets (channel k = dy, k + 17 = dx of part k), displacements along the pose
# chain's edges (channel e = dy, e + 16 = dx; forward parent -> child, backward child -> parent).
OUTPUT_CHANNELS: dict[str, int] = {
    "heatmap_scores": NUM_KEYPOINTS,
    "offsets": 2 * NUM_KEYPOINTS,
    "displacement_fwd": 2 * NUM_EDGES,
    "displacement_bwd": 2 * NUM_EDGES,
}
OUTPUT_NAMES: tuple[str, ...] = tuple(OUTPUT_CHANNELS)
SINGLE_POSE_OUTPUTS: tuple[str, ...] = OUTPUT_NAMES[:2]  # what single-pose decoding reads


def validate_multiplier(multiplier: float) -> float:
    """Return the canonical multiplier, or raise ValueError listing the valid ones."""
    for valid in MULTIPLIERS:
        if isinstance(multiplier, (int, float)) and abs(float(multiplier) - valid) < 1e-9:
            return valid
    valid_list = ", ".join(f"{m:.2f}" for m in MULTIPLIERS)
    raise ValueError(f"No checkpoint for multiplier {multiplier!r}; valid multipliers are {valid_list}.")


def validate_output_stride(output_stride: int) -> int:
    """Return the output stride, or raise ValueError listing the valid ones."""
    if isinstance(output_stride, bool) or output_stride not in OUTPUT_STRIDES:
        raise ValueError(f"Invalid output stride {output_stride!r}; expected one of 8, 16 or 32.")
    return int(output_stride)


def validate_model(multiplier: float, output_stride: int) -> tuple[float, int]:
    """Validate a (multiplier, output stride) pair; refuse the pairs the network cannot reach."""
    multiplier = validate_multiplier(multiplier)
    return multiplier, validate_output_stride_for(multiplier, output_stride)


def validate_output_stride_for(multiplier: float, output_stride: int) -> int:
    """The output stride, checked for a multiplier that is already valid (0.50 and 0.75 stop at 16)."""
    output_stride = validate_output_stride(output_stride)
    if (multiplier, output_stride) in UNSUPPORTED:
        raise ValueError(
            f"Multiplier {multiplier:.2f} cannot run at output stride 32 (its backbone stops at 16); "
            "use output stride 8 or 16, or multiplier 1.00 or 1.01 for stride 32."
        )
    return output_stride


def checkpoint_name(multiplier: float) -> str:
    """Checkpoint folder name for a valid multiplier, e.g. 0.5 -> 'mobilenet_v1_050'."""
    return CHECKPOINTS[multiplier]


def validate_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"Invalid precision {precision!r}; expected one of {', '.join(PRECISIONS)}.")
    return precision


def model_filename(multiplier: float, output_stride: int, precision: str = "fp32") -> str:
    """File name of the graph of a valid model, e.g. 'mobilenet_v1_050_stride16.onnx' (fp16/int8 get a suffix)."""
    suffix = "" if precision == "fp32" else f"_{precision}"
    return f"{CHECKPOINTS[multiplier]}_stride{output_stride}{suffix}.onnx"


def cache_dir() -> Path:
    """Per-user cache root: $POSENET_ONNX_CACHE_DIR, else $XDG_CACHE_HOME/posenet-onnx, else ~/.cache/posenet-onnx."""
    if os.environ.get(ENV_CACHE_DIR):
        return Path(os.environ[ENV_CACHE_DIR]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "posenet-onnx"




def default_model_dir() -> Path:
    """Where exported graphs live: $POSENET_ONNX_MODEL_DIR, else the per-user cache."""
    if os.environ.get(ENV_MODEL_DIR):
        return Path(os.environ[ENV_MODEL_DIR]).expanduser()
    return cache_dir() / "models"

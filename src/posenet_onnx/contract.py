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
DECODERS: tuple[str, ...] = ("single", "multi")  # in-graph decoders; None: the network's four outputs
# A self-contained graph's input resize: "fast", onnxruntime's Resize op (float32 coordinates and weights:
# resized pixels within about 0.005 of tfjs's), or "exact", tfjs 1.1.2's resizeBilinear bit for bit (float64
# lerps in Gather and elementwise nodes; several times the Resize op's time).
RESIZES: tuple[str, ...] = ("fast", "exact")
DEFAULT_RESIZE = "fast"
FORMATS: tuple[str, ...] = ("onnx", "ort")  # ort: onnxruntime's own format, for onnxruntime Mobile
OPSETS: tuple[int, ...] = tuple(range(13, 19))  # ONNX opsets the exporter writes (tf2onnx 1.16+ reaches 18)
DEFAULT_OPSET = 17
DEFAULT_MULTIPLIER = 1.01  # upstream's load()
DEFAULT_OUTPUT_STRIDE = 16  # upstream's; a graph loaded from its file runs at its own
DEFAULT_PRECISION = "fp32"
MAX_INPUT_SIDE = (1 << 31) - 1  # a fixed input side: TensorFlow's and onnxruntime's int32 shapes
MAX_BATCH = (1 << 31) - 1  # a fixed batch, likewise

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
META_DECODER = "posenet.decoder"  # "single" / "multi" for a self-contained graph; absent: the four outputs
META_RESIZE = "posenet.resize"  # a self-contained graph of any image size: its RESIZES value
META_PARAMETERS = "posenet.parameters"  # JSON: the multi-pose graph's scalar inputs, their dtypes and defaults

INPUT_NAME = "image"  # float32 NHWC RGB in [0, 255]; the graph normalises to [-1, 1] itself

# The self-contained single-pose graph (decoder "single"): inputs `image`, uint8 N x H x W x 3 RGB of any
# size, and `image_scale_factor`, a float32 scalar in [0.2, 1.0] (a fixed-shape variant takes `image` only, at
# its fixed size, and runs the network on it unresized). Outputs: `keypoints` float32 N x 17 x 2 (x, y in the
# input image's pixels), `keypoint_scores` N x 17, `scores` N (the mean keypoint score), as estimate_single_pose.
SCALE_FACTOR_NAME = "image_scale_factor"
SINGLE_GRAPH_OUTPUTS: tuple[str, ...] = ("keypoints", "keypoint_scores", "scores")

# The self-contained multi-pose graph (decoder "multi"): inputs `image` (uint8 N x H x W x 3 RGB), and
# `image_scale_factor` (float32 scalar) unless the graph has a fixed shape, then the scalars MULTI_GRAPH_PARAMETERS:
# `max_pose_detections` int64, `score_threshold` float32, `nms_radius` float32 (model-input pixels). Outputs, for
# P = max(max_pose_detections, 1): `keypoints` float32 N x P x 17 x 2 (x, y in the input image's pixels),
# `keypoint_scores` float32 N x P x 17, `scores` float32 N x P, `num_poses` int64 N; rows from num_poses on are
# zero. The poses are estimate_multiple_poses' poses, in its order.
MAX_POSES_NAME = "max_pose_detections"
SCORE_THRESHOLD_NAME = "score_threshold"
NMS_RADIUS_NAME = "nms_radius"
MULTI_GRAPH_PARAMETERS: tuple[str, ...] = (MAX_POSES_NAME, SCORE_THRESHOLD_NAME, NMS_RADIUS_NAME)
MULTI_GRAPH_OUTPUTS: tuple[str, ...] = ("keypoints", "keypoint_scores", "scores", "num_poses")
# Upstream's defaults for the scalar inputs (the graph has no defaults of its own: every input is given).
MULTI_POSE_DEFAULTS: dict[str, float] = {
    SCALE_FACTOR_NAME: 0.5,
    MAX_POSES_NAME: 5,
    SCORE_THRESHOLD_NAME: 0.5,
    NMS_RADIUS_NAME: 20.0,
}

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


def validate_input_size(input_size: tuple[int, int], output_stride: int) -> tuple[int, int]:
    """Return a fixed (height, width), or raise ValueError unless both are valid sizes for the stride."""
    if len(input_size) != 2 or not all(isinstance(size, int) and not isinstance(size, bool) for size in input_size):
        raise ValueError(f"Invalid input size {input_size!r}; expected (height, width) as two integers.")
    for size in input_size:
        check_input_side(size)
        if size <= output_stride or (size - 1) % output_stride:
            raise ValueError(
                f"Input size {size} is not a valid resolution for output stride {output_stride}; valid sizes are "
                f"k * {output_stride} + 1 with k >= 1, e.g. {8 * output_stride + 1}, {16 * output_stride + 1}."
            )
    return input_size[0], input_size[1]


def check_input_side(size: int) -> int:
    """A fixed input side within what the graph's int32 shapes hold; ValueError with the range otherwise."""
    if size > MAX_INPUT_SIDE:
        raise ValueError(f"Input size {size} is out of range; each side of a fixed input is at most {MAX_INPUT_SIDE}.")
    return size


def parse_input_size(text: str) -> tuple[int, int]:
    """'257x353' -> (257, 353): the HxW spelling of a fixed input size (the CLI's and META_INPUT_SIZE's), each
    side within range."""
    height, sep, width = text.lower().partition("x")
    if not sep or not height.isascii() or not height.isdigit() or not width.isascii() or not width.isdigit():
        raise ValueError(f"Invalid input size {text!r}; expected HxW, e.g. 257x257.")
    if len(height) > 20 or len(width) > 20:  # no need to turn a thousand digits into a number to refuse them
        raise ValueError(f"Input size {text!r} is out of range; each side of a fixed input is at most {MAX_INPUT_SIDE}.")
    return check_input_side(int(height)), check_input_side(int(width))


def validate_batch(batch: int) -> int:
    """Return a fixed batch size, or raise ValueError unless it is an integer from 1 to MAX_BATCH."""
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_BATCH:
        raise ValueError(f"Invalid batch size {batch!r}; expected an integer from 1 to {MAX_BATCH}.")
    return batch


def validate_graph_options(
    output_stride: int,
    precision: str,
    decoder: str | None,
    input_size: tuple[int, int] | None,
    batch: int | None,
    file_format: str,
    opset: int,
    resize: str = DEFAULT_RESIZE,
) -> None:
    """Check the export options of a graph at a valid output stride; ValueError names the first bad one."""
    validate_precision(precision)
    if decoder is not None and decoder not in DECODERS:
        raise ValueError(f"Invalid decoder {decoder!r}; expected one of {', '.join(DECODERS)}.")
    if resize not in RESIZES:
        raise ValueError(f"Invalid resize {resize!r}; expected one of {', '.join(RESIZES)}.")
    if resize != DEFAULT_RESIZE and (decoder is None or input_size is not None):
        raise ValueError(
            f"Resize {resize!r} is for self-contained graphs of any image size (a decoder and no fixed input size): "
            "only they resize the image."
        )
    if input_size is not None:
        validate_input_size(input_size, output_stride)
    if batch is not None:
        validate_batch(batch)
    if file_format not in FORMATS:
        raise ValueError(f"Invalid format {file_format!r}; expected one of {', '.join(FORMATS)}.")
    if isinstance(opset, bool) or opset not in OPSETS:
        raise ValueError(f"Invalid opset {opset!r}; the exporter writes opsets {OPSETS[0]} to {OPSETS[-1]}.")


def model_filename(
    multiplier: float,
    output_stride: int,
    precision: str = "fp32",
    *,
    decoder: str | None = None,
    input_size: tuple[int, int] | None = None,
    batch: int | None = None,
    file_format: str = "onnx",
    resize: str = DEFAULT_RESIZE,
) -> str:
    """File name of the graph of a valid model and options, e.g. 'mobilenet_v1_050_stride16.onnx'; each
    non-default option adds a part: 'mobilenet_v1_050_stride16_single_257x257_batch1_int8.ort'."""
    parts = [f"{CHECKPOINTS[multiplier]}_stride{output_stride}"]
    if decoder is not None:
        parts.append(decoder)
    if resize != DEFAULT_RESIZE:
        parts.append(f"{resize}resize")
    if input_size is not None:
        parts.append("{}x{}".format(*input_size))
    if batch is not None:
        parts.append(f"batch{batch}")
    if precision != "fp32":
        parts.append(precision)
    return "_".join(parts) + f".{file_format}"


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

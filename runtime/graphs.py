"""The exported graphs a PoseNet runs: found in the model folder (exported there when missing) and checked.

A graph carries its own configuration in its ONNX metadata (keys contract.META_*); the runtime reads the
multiplier, output stride and part names from there and refuses a file that is not what it was asked for.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from posenet_onnx.keypoints import PART_NAMES
from posenet_onnx.contract import (
    INPUT_NAME,
    META_MULTIPLIER,
    META_OUTPUT_STRIDE,
    META_PART_NAMES,
    OUTPUT_NAMES,
    model_filename,
    validate_model,
)


@dataclass(frozen=True)
class GraphConfig:
    """What a graph says about itself."""

    multiplier: float
    output_stride: int
    part_names: tuple[str, ...]


def ensure_graph(multiplier: float, output_stride: int, model_dir: Path, checkpoint_dir: Path | None) -> Path:
    """The graph file for (multiplier, output stride) in `model_dir`, exported there first if missing.

    Exporting needs the `export` extra (TensorFlow); without it the error names the command that makes the file.
    """
    multiplier, output_stride = validate_model(multiplier, output_stride)
    path = Path(model_dir) / model_filename(multiplier, output_stride)
    if path.is_file():
        return path
    if importlib.util.find_spec("tensorflow") is None:
        raise FileNotFoundError(
            f"No exported model {path}. Create it with `posenet-onnx export --multiplier {multiplier:.2f} "
            f"--output-stride {output_stride} -o {Path(model_dir)}` (needs the export extra: "
            "pip install 'posenet-onnx[export]'), or point model_dir / $POSENET_ONNX_MODEL_DIR at a folder holding it."
        )
    from posenet_onnx.export import export_model

    return export_model(multiplier, output_stride, model_dir, checkpoint_dir=checkpoint_dir)


def read_config(session: ort.InferenceSession, path: Path) -> GraphConfig:
    """The graph's metadata and input/output names, checked against the posenet-onnx contract."""
    metadata = session.get_modelmeta().custom_metadata_map
    try:
        config = GraphConfig(
            multiplier=float(metadata[META_MULTIPLIER]),
            output_stride=int(metadata[META_OUTPUT_STRIDE]),
            part_names=tuple(json.loads(metadata[META_PART_NAMES])),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"{path} is not a posenet-onnx model: its metadata lacks or garbles {exc}") from None
    inputs = [i.name for i in session.get_inputs()]
    outputs = [o.name for o in session.get_outputs()]
    if inputs != [INPUT_NAME] or sorted(outputs) != sorted(OUTPUT_NAMES):
        raise ValueError(
            f"{path} has inputs {inputs} and outputs {outputs}; expected input {INPUT_NAME!r} and outputs {list(OUTPUT_NAMES)}"
        )
    if config.part_names != PART_NAMES:
        raise ValueError(f"{path} describes parts {list(config.part_names)}; expected PoseNet's 17 parts {list(PART_NAMES)}")
    return config


def check_config(config: GraphConfig, multiplier: float, output_stride: int, path: Path) -> None:
    """Refuse a graph whose metadata names another multiplier or output stride than the file was asked for."""
    if abs(config.multiplier - multiplier) > 1e-9 or config.output_stride != output_stride:
        raise ValueError(
            f"{path} holds multiplier {config.multiplier:.2f} at output stride {config.output_stride}, "
            f"but multiplier {multiplier:.2f} at output stride {output_stride} was asked for"
        )

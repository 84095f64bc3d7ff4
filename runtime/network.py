"""One opened PoseNet graph: its onnxruntime session and what its metadata says about it.

A graph carries its own configuration in its ONNX metadata (keys `contract.META_*`): multiplier, output
stride, precision, part names and, for fixed-shape graphs, the input size and batch. The runtime needs no
side files, and refuses a file that is not a posenet-onnx graph or not the one it was asked for.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from posenet_onnx.contract import (
    INPUT_NAME,
    META_BATCH,
    META_DECODER,
    META_INPUT_SIZE,
    META_MULTIPLIER,
    META_OUTPUT_STRIDE,
    META_PART_NAMES,
    META_PRECISION,
    OUTPUT_NAMES,
    parse_input_size,
    validate_model,
)
from posenet_onnx.keypoints import PART_NAMES
from posenet_onnx.runtime.providers import create_session


_ORT = ort.capi.onnxruntime_pybind11_state
# What onnxruntime raises for a file it cannot load (truncated, empty, not ONNX, a folder).
_LOAD_ERRORS = (_ORT.Fail, _ORT.InvalidArgument, _ORT.InvalidProtobuf, _ORT.InvalidGraph, _ORT.NoSuchFile, _ORT.NoModel)


class InvalidGraphError(ValueError):
    """A file that onnxruntime cannot load as a graph (truncated, empty, not ONNX)."""


class SelfContainedGraphError(ValueError):
    """A graph with its decoder inside (metadata `posenet.decoder`), which a plain-graph Network cannot run."""

    def __init__(self, path: Path, decoder: str) -> None:
        use = (
            "open it with posenet_onnx.load" if decoder == "multi"
            else "run it with onnxruntime directly (see docs/deployment.md); posenet_onnx.load takes the plain and multi-pose graphs"
        )
        super().__init__(f"{path} is a self-contained {decoder}-pose graph with its decoder inside: {use}.")
        self.decoder = decoder


@dataclass(frozen=True)
class GraphConfig:
    """What a graph says about itself."""

    multiplier: float
    output_stride: int
    precision: str
    part_names: tuple[str, ...]
    input_size: tuple[int, int] | None  # (height, width) of a fixed-shape graph; None: any valid size
    batch: int | None  # the batch of a fixed-batch graph; None: any


@dataclass(frozen=True)
class Network:
    """An onnxruntime session over a PoseNet graph; `run` returns the outputs in the contract's order."""

    path: Path
    session: ort.InferenceSession
    config: GraphConfig
    output_order: tuple[int, ...]  # positions of contract.OUTPUT_NAMES among the session's outputs

    def run(self, network_input: np.ndarray) -> list[np.ndarray]:
        results = self.session.run(None, {INPUT_NAME: network_input})
        return [results[i] for i in self.output_order]

    @property
    def providers(self) -> list[str]:
        return self.session.get_providers()


def open_network(path: Path, providers: Sequence[str], options: ort.SessionOptions) -> Network:
    """Open `path` on `providers` (already resolved) and check it against the posenet-onnx contract."""
    try:
        session = create_session(path, providers=providers, options=options)
    except _LOAD_ERRORS as exc:
        reason = " ".join(str(exc).split())[-200:]
        raise InvalidGraphError(f"{path} is not a valid ONNX graph (onnxruntime: {reason})") from None
    config = read_config(session, path)
    names = [output.name for output in session.get_outputs()]
    return Network(path, session, config, tuple(names.index(name) for name in OUTPUT_NAMES))


def read_config(session: ort.InferenceSession, path: Path) -> GraphConfig:
    """The graph's metadata and input/output names, checked against the posenet-onnx contract."""
    metadata = session.get_modelmeta().custom_metadata_map
    if META_DECODER in metadata:
        raise SelfContainedGraphError(path, metadata[META_DECODER])
    config = graph_config(metadata, path)
    inputs = [i.name for i in session.get_inputs()]
    outputs = [o.name for o in session.get_outputs()]
    if inputs != [INPUT_NAME] or sorted(outputs) != sorted(OUTPUT_NAMES):
        raise ValueError(
            f"{path} has inputs {inputs} and outputs {outputs}; expected input {INPUT_NAME!r} and outputs {list(OUTPUT_NAMES)}"
        )
    return config


def graph_config(metadata: dict[str, str], path: Path) -> GraphConfig:
    """What a graph's metadata says about it, checked against the posenet-onnx contract."""
    try:
        multiplier, output_stride = validate_model(float(metadata[META_MULTIPLIER]), int(metadata[META_OUTPUT_STRIDE]))
        size = metadata.get(META_INPUT_SIZE)
        batch = metadata.get(META_BATCH)
        config = GraphConfig(
            multiplier=multiplier,
            output_stride=output_stride,
            precision=metadata.get(META_PRECISION, "fp32"),
            part_names=tuple(json.loads(metadata[META_PART_NAMES])),
            input_size=parse_input_size(size) if size else None,
            batch=int(batch) if batch else None,
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"{path} is not a posenet-onnx model: its metadata lacks or garbles {exc}") from None
    if config.part_names != PART_NAMES:
        raise ValueError(f"{path} describes parts {list(config.part_names)}; expected PoseNet's 17 parts {list(PART_NAMES)}")
    return config


def check_config(config: GraphConfig, multiplier: float, output_stride: int, precision: str, path: Path) -> None:
    """Refuse a graph whose metadata names another model than the file was asked for."""
    if abs(config.multiplier - multiplier) > 1e-9 or config.output_stride != output_stride or config.precision != precision:
        raise ValueError(
            f"{path} holds multiplier {config.multiplier:.2f} at output stride {config.output_stride} "
            f"({config.precision}), but multiplier {multiplier:.2f} at output stride {output_stride} ({precision}) "
            "was asked for"
        )

"""One opened PoseNet graph: its onnxruntime session and what its metadata says about it.

A graph carries its own configuration in its ONNX metadata (keys `contract.META_*`): multiplier, output
stride, precision, part names and, for fixed-shape graphs, the input size and batch. The runtime needs no
side files, and refuses a file that is not a posenet-onnx graph or not the one it was asked for.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import onnxruntime as ort

from posenet_onnx.contract import (
    INPUT_NAME,
    MAX_BATCH,
    META_BATCH,
    META_DECODER,
    META_INPUT_SIZE,
    META_MULTIPLIER,
    META_OUTPUT_STRIDE,
    META_PART_NAMES,
    META_PRECISION,
    OUTPUT_NAMES,
    parse_input_size,
    validate_batch,
    validate_input_size,
    validate_multiplier,
    validate_output_stride_for,
    validate_precision,
)
from posenet_onnx.keypoints import PART_NAMES
from posenet_onnx.runtime.images import check_pixels
from posenet_onnx.runtime.providers import create_session


_ORT = ort.capi.onnxruntime_pybind11_state
# What onnxruntime raises for a file it cannot load (truncated, empty, not ONNX, a folder).
_LOAD_ERRORS = (_ORT.Fail, _ORT.InvalidArgument, _ORT.InvalidProtobuf, _ORT.InvalidGraph, _ORT.NoSuchFile, _ORT.NoModel)


# What onnxruntime raises when a run fails (memory, a kernel's error, a device's).
_RUN_ERRORS = (_ORT.Fail, _ORT.RuntimeException, _ORT.EPFail)
_ORT_FATAL = 4  # onnxruntime's log severity that only fatal errors reach


def _quiet_run() -> ort.RunOptions:
    """Run options that keep onnxruntime's log of a failed run off stderr (the exception carries the message)."""
    options = ort.RunOptions()
    options.log_severity_level = _ORT_FATAL
    return options


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
        """The four outputs for one input batch. A failure inside onnxruntime (out of memory, say) is one
        RuntimeError: onnxruntime's own coloured log of it stays off the terminal."""
        try:
            results = self.session.run(None, {INPUT_NAME: network_input}, _quiet_run())
        except _RUN_ERRORS as exc:
            raise RuntimeError(f"onnxruntime failed to run {self.path}: {' '.join(str(exc).split())[-400:]}") from None
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
    """The graph's metadata and input/output names, checked against the posenet-onnx contract; a missing or
    garbled value is a ValueError naming its key and what is valid."""
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
    """What a graph's metadata says about it, checked against the posenet-onnx contract; a missing or garbled
    value is a ValueError naming its key and what is valid."""
    multiplier = _metadata_value(metadata, META_MULTIPLIER, path, lambda text: validate_multiplier(_number(text)))
    output_stride = _metadata_value(
        metadata, META_OUTPUT_STRIDE, path,
        lambda text: validate_output_stride_for(multiplier, _integer(text, "one of 8, 16 or 32")),
    )
    size, batch = metadata.get(META_INPUT_SIZE), metadata.get(META_BATCH)
    config = GraphConfig(
        multiplier=multiplier,
        output_stride=output_stride,
        precision=_metadata_value(metadata, META_PRECISION, path, validate_precision, default="fp32"),
        part_names=_metadata_value(metadata, META_PART_NAMES, path, _part_names),
        input_size=None if size is None else _metadata_value(
            metadata, META_INPUT_SIZE, path, lambda text: validate_input_size(parse_input_size(text), output_stride)
        ),
        batch=None if batch is None else _metadata_value(
            metadata, META_BATCH, path, lambda text: validate_batch(_integer(text, f"a batch size from 1 to {MAX_BATCH}"))
        ),
    )
    if config.input_size is not None:  # every image is resized to it: the pixel limit holds for it too
        height, width = config.input_size
        try:
            check_pixels(width, height, f"its fixed input ({META_INPUT_SIZE} {size})")
        except ValueError as exc:
            raise ValueError(f"{path} cannot run: {exc}") from None
    if config.part_names != PART_NAMES:
        raise ValueError(f"{path} describes parts {list(config.part_names)}; expected PoseNet's 17 parts {list(PART_NAMES)}")
    return config


_T = TypeVar("_T")


def _metadata_value(
    metadata: dict[str, str], key: str, path: Path, parse: Callable[[str], _T], default: str | None = None
) -> _T:
    """`parse(metadata[key])`; a missing key (without a default) or a value `parse` refuses is one ValueError
    that names the file, the key, the value and what is valid."""
    text = metadata.get(key, default)
    if text is None:
        raise ValueError(f"{path} is not a posenet-onnx model: its metadata has no {key}")
    try:
        return parse(text)
    except (ValueError, TypeError, OverflowError) as exc:
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise ValueError(f"{path} is not a valid posenet-onnx model: its metadata {key} is {shown!r}: {exc}") from None


def _number(text: str) -> float | str:
    """A metadata number as a float; the text itself where it is none (the validator then names what is valid)."""
    try:
        return float(text)
    except ValueError:
        return text


def _integer(text: str, valid: str) -> int:
    """A metadata integer: decimal digits only (no sign, spaces or exponent), at most 20 of them."""
    if not (text.isascii() and text.isdigit() and len(text) <= 20):
        raise ValueError(f"expected {valid}")
    return int(text)


def _part_names(text: str) -> tuple[str, ...]:
    """The JSON list of part names."""
    try:
        names = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError(f"expected a JSON list of PoseNet's 17 part names {list(PART_NAMES)}") from None
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise ValueError(f"expected a JSON list of PoseNet's 17 part names {list(PART_NAMES)}")
    return tuple(names)


def check_config(config: GraphConfig, multiplier: float, output_stride: int, precision: str, path: Path) -> None:
    """Refuse a graph whose metadata names another model than the file was asked for."""
    if abs(config.multiplier - multiplier) > 1e-9 or config.output_stride != output_stride or config.precision != precision:
        raise ValueError(
            f"{path} holds multiplier {config.multiplier:.2f} at output stride {config.output_stride} "
            f"({config.precision}), but multiplier {multiplier:.2f} at output stride {output_stride} ({precision}) "
            "was asked for"
        )

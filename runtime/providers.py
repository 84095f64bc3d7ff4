"""ONNX Runtime sessions on the execution provider that really works, without onnxruntime's noise.

onnxruntime-gpu lists CUDAExecutionProvider as available even without a GPU or CUDA libraries, then
fails to create it, logs a long error to file descriptor 2 from C++ and quietly falls back to CPU. So the
session is created with descriptor 2 captured, and `session.get_providers()` tells what it really got.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from pathlib import Path

import onnxruntime as ort

from posenet_onnx.stderr import captured_stderr

DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
DEFAULT_DEVICE = "auto"  # CUDA when it really works, else the CPU
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
_ORT_ERROR = 3  # onnxruntime log severity: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal
# More pool threads than this only add start-up cost and contention (onnxruntime itself takes any C int).
MAX_INTRA_OP_THREADS = 1024


def requested_providers(device: str, providers: Sequence[str] | None = None) -> list[str]:
    """The provider list to ask onnxruntime for: `providers` as given, else CUDA (when listed) then CPU."""
    if providers is not None:
        if isinstance(providers, str) or not providers:
            raise ValueError("providers must be a non-empty list of onnxruntime provider names, e.g. ['CPUExecutionProvider']")
        known = ort.get_all_providers()
        for provider in providers:  # a name, or onnxruntime's (name, options) pair
            name = provider[0] if isinstance(provider, tuple) and provider else provider
            if name not in known:
                raise ValueError(
                    f"Unknown onnxruntime provider {name!r}; this onnxruntime has {', '.join(ort.get_available_providers())}."
                )
        return list(providers)
    if device not in DEVICES:
        raise ValueError(f"Invalid device {device!r}; expected one of {', '.join(DEVICES)}.")
    if device == "cpu":
        return [CPU]
    if device == "cuda":
        return [CUDA, CPU]
    return [CUDA, CPU] if CUDA in ort.get_available_providers() else [CPU]


def session_options(intra_op_threads: int | None = None, allow_spinning: bool = True) -> ort.SessionOptions:
    """Full graph optimisation, one inference at a time, errors-only logging, no per-shape memory patterns.

    `intra_op_threads` None lets onnxruntime use the physical cores; otherwise 1 to MAX_INTRA_OP_THREADS.
    `allow_spinning` False stops its idle pool threads from spinning after each call: slower single calls,
    but the CPU is left to other work (e.g. video reading and encoding running alongside). Memory patterns
    (one block per input shape, planned from earlier calls of that shape) are off: when the image size keeps
    changing they keep carving new block sizes out of the CPU arena, which then grows (docs/robustness.md).
    """
    if intra_op_threads is not None and (
        type(intra_op_threads) is not int or not 1 <= intra_op_threads <= MAX_INTRA_OP_THREADS
    ):
        raise ValueError(
            f"intra_op_threads must be None (onnxruntime's choice) or an integer from 1 to {MAX_INTRA_OP_THREADS}; "
            f"got {intra_op_threads!r}."
        )
    if type(allow_spinning) is not bool:
        raise ValueError(f"allow_spinning must be True or False; got {allow_spinning!r}.")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = intra_op_threads or 0
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if allow_spinning else "0")
    options.enable_mem_pattern = False
    options.log_severity_level = _ORT_ERROR
    return options


# A one-node ONNX graph (Identity, opset 17): creating a session on it tells which providers really work,
# without any PoseNet file (and so without exporting one).
_PROBE = base64.b64decode("CAg6OwoQCgF4EgF5IghJZGVudGl0eRIFcHJvYmVaDwoBeBIKCggIARIECgIIAWIPCgF5EgoKCAgBEgQKAggBQgQKABAR")


def resolve_providers(device: str = "auto", providers: Sequence[str] | None = None) -> list[str]:
    """The providers sessions really get for `device` (or an explicit `providers` list, taken as given).

    `device="cuda"` raises RuntimeError when CUDA is not usable; "auto" falls back to CPU quietly.
    """
    requested = requested_providers(device, providers)
    if providers is not None or requested == [CPU]:
        return requested
    with captured_stderr() as log:
        got = ort.InferenceSession(_PROBE, session_options(), providers=requested).get_providers()
    if device == "cuda" and CUDA not in got:
        raise RuntimeError(
            "device='cuda' was requested but CUDA is not usable here (onnxruntime fell back to "
            f"{', '.join(got)}); use device='auto' or 'cpu'. onnxruntime said: " + _first_error(log.text)
        )
    return got


def create_session(
    path: str | Path, device: str = "auto", providers: Sequence[str] | None = None, options: ort.SessionOptions | None = None
) -> ort.InferenceSession:
    """An inference session for `path` on the providers that really work (see `resolve_providers`), with
    onnxruntime's log kept off the terminal; `options` default: `session_options()`."""
    resolved = resolve_providers(device, providers)
    with captured_stderr():
        return ort.InferenceSession(str(path), options or session_options(), providers=resolved)


def _first_error(log: str) -> str:
    """The line of onnxruntime's log that says what failed, without colour codes."""
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", log).splitlines() if line.strip()]
    failures = [line for line in lines if "fail" in line.lower()]
    return (failures or lines or ["(nothing)"])[0][-400:]

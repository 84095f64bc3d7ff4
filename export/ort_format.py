"""The ORT format: onnxruntime's own flatbuffer model file, what onnxruntime Mobile (minimal builds) loads.

Converted by onnxruntime's converter (onnxruntime.tools.convert_onnx_models_to_ort) in its "fixed"
optimisation style: the graph optimisations baked in, except the x86-specific NCHWc layout, which the
converter leaves out so the file runs on ARM phones as on x86.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

from posenet_onnx.export.quiet import quiet


def to_ort_format(onnx_model: bytes) -> bytes:
    """The ORT-format bytes of a serialised ONNX model (metadata kept)."""
    from onnxruntime.tools.convert_onnx_models_to_ort import OptimizationStyle, convert_onnx_models_to_ort

    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "model.onnx"
        source.write_bytes(onnx_model)
        target = Path(scratch) / "ort"
        with quiet(), contextlib.redirect_stdout(io.StringIO()):  # the converter prints each step
            convert_onnx_models_to_ort(source, target, optimization_styles=[OptimizationStyle.Fixed])
        return (target / "model.ort").read_bytes()

"""onnx's ReferenceEvaluator, an independent implementation of every operator, with two operators defined
here by their specification where onnx 1.23's own do not serve: GatherElements (onnx's fails beyond 32
choices) and DequantizeLinear before opset 19 (onnx implements it from opset 19 on only). Shared by the tests
of the self-contained graphs and scripts/bench_runtimes.py."""

from __future__ import annotations

import numpy as np
import onnx
from onnx.reference import ReferenceEvaluator
from onnx.reference.op_run import OpRun


class GatherElements(OpRun):
    """numpy's take_along_axis, negative indices counted from the end."""

    def _run(self, data, indices, axis=None):
        return (np.take_along_axis(data, np.where(indices < 0, indices + data.shape[axis], indices), axis),)


class DequantizeLinear(OpRun):
    """(x - zero point) * scale, per tensor."""

    def _run(self, x, scale, zero_point=None, axis=None, block_size=None, output_dtype=None):
        shift = 0 if zero_point is None else zero_point.astype(np.float32)
        return (((x.astype(np.float32) - shift) * scale).astype(scale.dtype),)


def reference_evaluator(model: onnx.ModelProto) -> ReferenceEvaluator:
    return ReferenceEvaluator(model, new_ops=[GatherElements, DequantizeLinear])

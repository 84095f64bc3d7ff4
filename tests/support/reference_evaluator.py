"""onnx's ReferenceEvaluator, an independent implementation of every operator, with three operators defined
here by their specification where onnx 1.23's own do not serve: GatherElements (onnx's fails beyond 32
choices), DequantizeLinear before opset 19 (onnx implements it from opset 19 on only) and MaxPool (onnx's
fails on 3-D windows with padding). Shared by the tests
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


class MaxPool(OpRun):
    """The maximum over each window, the padding never chosen (any rank, floor mode, no dilation)."""

    def _run(self, x, auto_pad=None, ceil_mode=None, dilations=None, kernel_shape=None, pads=None,
             storage_order=None, strides=None):
        rank = len(kernel_shape)
        assert auto_pad in (None, "NOTSET") and not ceil_mode and all(d == 1 for d in dilations or [1])
        pads, strides = pads or [0] * 2 * rank, strides or [1] * rank
        padded = np.pad(x, [(0, 0), (0, 0), *zip(pads[:rank], pads[rank:])], constant_values=-np.inf)
        windows = np.lib.stride_tricks.sliding_window_view(padded, kernel_shape, axis=tuple(range(2, 2 + rank)))
        windows = windows[(slice(None), slice(None), *(slice(None, None, step) for step in strides))]
        return (windows.max(axis=tuple(range(-rank, 0))).astype(x.dtype),)


def reference_evaluator(model: onnx.ModelProto) -> ReferenceEvaluator:
    return ReferenceEvaluator(model, new_ops=[GatherElements, DequantizeLinear, MaxPool])

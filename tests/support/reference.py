"""The network as upstream writes it, in TensorFlow: the reference the exported graphs are checked against.

SAME padding everywhere and `tf.nn.depthwise_conv2d(..., dilations=...)` (which TensorFlow runs through
SpaceToBatchND), exactly as tfjs does. It is deliberately NOT the explicit-padding code in graph.py
that is converted, so a comparison between the two catches a padding or dilation mistake.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from posenet_onnx.export.architecture import CONV2D, backbone
from posenet_onnx.export.checkpoint import HEADS, Checkpoint, block_variables, head_variables
from posenet_onnx.export.graph import input_signature


def upstream_function(tf: ModuleType, checkpoint: Checkpoint, multiplier: float, output_stride: int) -> Any:
    """A tf.function: image batch in [0, 255] -> (heatmap scores, offsets, displacement fwd, displacement bwd)."""
    weights = checkpoint.variables
    blocks = backbone(multiplier, output_stride)

    @tf.function(input_signature=input_signature(tf))
    def upstream(image: Any) -> tuple[Any, Any, Any, Any]:
        x = image / np.float32(127.5) - np.float32(1.0)
        for block in blocks:
            if block.kind == CONV2D:
                kernel, bias = block_variables(0)
                x = tf.nn.relu6(tf.nn.conv2d(x, weights[kernel], block.stride, "SAME") + weights[bias])
                continue
            dw_kernel, dw_bias, pw_kernel, pw_bias = block_variables(block.index)
            strides = [1, block.stride, block.stride, 1]
            x = tf.nn.depthwise_conv2d(x, weights[dw_kernel], strides, "SAME", dilations=[block.dilation] * 2)
            x = tf.nn.relu6(x + weights[dw_bias])
            x = tf.nn.relu6(tf.nn.conv2d(x, weights[pw_kernel], 1, "SAME") + weights[pw_bias])
        heatmaps, offsets, fwd, bwd = (
            tf.nn.conv2d(x, weights[kernel], 1, "SAME") + weights[bias] for kernel, bias in map(head_variables, HEADS)
        )
        return tf.sigmoid(heatmaps), offsets, fwd, bwd

    return upstream

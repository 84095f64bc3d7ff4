"""The PoseNet network as a TensorFlow function, written for a clean ONNX conversion.

Every convolution uses explicit symmetric padding of `dilation * (k - 1) / 2` (exact SAME padding for
the valid input sizes, `(size - 1) % output_stride == 0`) and dilated depthwise convolutions use the
native op's `dilations`, so tf2onnx emits plain Conv nodes with explicit pads and dilations: no
SpaceToBatchND rewrite and no `auto_pad=SAME_*`, which onnxruntime's CPU Conv rejects with dilation > 1.
This function is a conversion vehicle: TensorFlow itself runs a dilated DepthwiseConv2dNative only with
oneDNN, and its grappler remapper aborts on these explicit paddings. tests/support/reference.py is the runnable form.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from posenet_onnx.export.architecture import CONV2D, Block
from posenet_onnx.export.checkpoint import HEADS, Checkpoint, block_variables, head_variables
from posenet_onnx.contract import INPUT_NAME


def input_signature(tf: ModuleType, shape: tuple[int | None, int | None, int | None] = (None, None, None)) -> list[Any]:
    """One float32 NHWC RGB image batch in [0, 255]; (batch, height, width) fixed where `shape` says, else dynamic."""
    return [tf.TensorSpec([*shape, 3], tf.float32, name=INPUT_NAME)]


def posenet_function(
    tf: ModuleType,
    checkpoint: Checkpoint,
    blocks: tuple[Block, ...],
    shape: tuple[int | None, int | None, int | None] = (None, None, None),
) -> Any:
    """A tf.function mapping an image batch to (heatmap scores, offsets, displacement fwd, displacement bwd)."""
    weights = checkpoint.variables  # NumPy arrays: traced into graph constants, not captured inputs

    def conv(x: Any, name: str, stride: int) -> Any:
        pad = (weights[name].shape[0] - 1) // 2
        padding = [[0, 0], [pad, pad], [pad, pad], [0, 0]]
        return tf.nn.conv2d(x, weights[name], strides=[1, stride, stride, 1], padding=padding)

    def depthwise(x: Any, name: str, stride: int, dilation: int) -> Any:
        pad = dilation * (weights[name].shape[0] - 1) // 2
        return tf.raw_ops.DepthwiseConv2dNative(
            input=x,
            filter=weights[name],
            strides=[1, stride, stride, 1],
            padding="EXPLICIT",
            explicit_paddings=[0, 0, pad, pad, pad, pad, 0, 0],
            dilations=[1, dilation, dilation, 1],
        )

    @tf.function(input_signature=input_signature(tf, shape), autograph=False)  # plain tracing: the loops are over Python data
    def posenet(image: Any) -> tuple[Any, Any, Any, Any]:
        x = image / np.float32(127.5) - np.float32(1.0)
        for block in blocks:
            if block.kind == CONV2D:
                kernel, bias = block_variables(0)
                x = tf.nn.relu6(conv(x, kernel, block.stride) + weights[bias])
            else:
                dw_kernel, dw_bias, pw_kernel, pw_bias = block_variables(block.index)
                x = tf.nn.relu6(depthwise(x, dw_kernel, block.stride, block.dilation) + weights[dw_bias])
                x = tf.nn.relu6(conv(x, pw_kernel, 1) + weights[pw_bias])
        heatmaps, offsets, fwd, bwd = (
            conv(x, kernel, 1) + weights[bias] for kernel, bias in map(head_variables, HEADS)
        )
        return tf.sigmoid(heatmaps), offsets, fwd, bwd

    return posenet

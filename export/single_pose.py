"""The self-contained single-pose graph: the exported network wrapped in ONNX nodes that do what
estimate_single_pose does around it, so a runtime without Python gets poses from one session call.

Appended around the backbone (contract.SCALE_FACTOR_NAME, SINGLE_GRAPH_OUTPUTS):
uint8 image -> upstream's valid resolution (in float64, `e = size * scale - 1; e - fmod(e, stride) + 1`)
-> tfjs 1.1.2's bilinear resize (ONNX Resize linear, "asymmetric": source = out * in / out, no half-pixel
centres, edges clamped) -> the backbone (which normalises) -> per keypoint the first maximal heatmap cell in
row-major order (ArgMax, select_last_index=0) -> that cell's offset -> scaled to the input image's pixels.
A fixed-shape graph takes its image at the network's size, so it has no resize and no scale factor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from posenet_onnx.contract import SINGLE_GRAPH_OUTPUTS, SINGLE_POSE_OUTPUTS
from posenet_onnx.export.decoder_graph import Nodes, finish, take_input
from posenet_onnx.keypoints import NUM_KEYPOINTS

if TYPE_CHECKING:
    import onnx


def add_single_pose_decoder(
    model: onnx.ModelProto, output_stride: int, input_size: tuple[int, int] | None, opset: int, resize: str
) -> onnx.ModelProto:
    """The backbone `model` (contract inputs/outputs) turned into the single-pose graph, in place.

    `input_size` None: `image` of any size plus `image_scale_factor`, resized the `resize` way; else `image` at
    exactly that size.
    """
    from onnx import TensorProto, helper

    nodes, scale_xy, batch = take_input(model, output_stride, input_size, opset, "single_pose", (), resize)
    _decode(nodes, output_stride, scale_xy)
    return finish(
        model,
        [
            helper.make_tensor_value_info(SINGLE_GRAPH_OUTPUTS[0], TensorProto.FLOAT, [batch, NUM_KEYPOINTS, 2]),
            helper.make_tensor_value_info(SINGLE_GRAPH_OUTPUTS[1], TensorProto.FLOAT, [batch, NUM_KEYPOINTS]),
            helper.make_tensor_value_info(SINGLE_GRAPH_OUTPUTS[2], TensorProto.FLOAT, [batch]),
        ],
    )


def _decode(nodes: Nodes, output_stride: int, scale_xy: str | None) -> None:
    """The single-pose decoder on the backbone's heatmap scores and offsets, writing SINGLE_GRAPH_OUTPUTS."""
    from onnx import TensorProto

    heatmaps, offsets = SINGLE_POSE_OUTPUTS
    keypoints_name, keypoint_scores_name, scores_name = SINGLE_GRAPH_OUTPUTS
    grid_width = nodes.op("Gather", nodes.op("Shape", heatmaps), nodes.const(2))
    cells = nodes.op("Reshape", heatmaps, nodes.const([0, -1, NUM_KEYPOINTS]))  # N x (h * w) x 17, row-major
    best = nodes.op("ArgMax", cells, axis=1, keepdims=1, select_last_index=0)  # N x 1 x 17: first maximum
    nodes.op("Flatten", nodes.op("GatherElements", cells, best, axis=1), output=keypoint_scores_name, axis=1)
    nodes.reduce_mean(keypoint_scores_name, 1, scores_name)

    # Grid cell (x, y) and its offset (dx, dy), both N x 2 x 17; positions are float32 sums as upstream's.
    cell_xy = nodes.op("Concat", nodes.op("Mod", best, grid_width), nodes.op("Div", best, grid_width), axis=1)
    cell_pixels = nodes.op("Cast", nodes.op("Mul", cell_xy, nodes.const(output_stride)), to=TensorProto.FLOAT)
    offset_cells = nodes.op("Reshape", offsets, nodes.const([0, -1, 2 * NUM_KEYPOINTS]))
    both = nodes.op("Concat", best, best, axis=2)  # the cell index for dy (channel k) and dx (channel k + 17)
    offset_at_best = nodes.op("GatherElements", offset_cells, both, axis=1)  # N x 1 x 34
    offset_dy_dx = nodes.op("Reshape", offset_at_best, nodes.const([0, 2, NUM_KEYPOINTS]))
    offset_xy = nodes.op("Gather", offset_dy_dx, nodes.const([1, 0]), axis=1)
    positions = nodes.op("Add", cell_pixels, offset_xy)
    if scale_xy is not None:  # network pixels -> image pixels in float64, as the runtime scales them
        factors = nodes.op("Reshape", scale_xy, nodes.const([1, 2, 1]))
        scaled = nodes.op("Mul", nodes.op("Cast", positions, to=TensorProto.DOUBLE), factors)
        positions = nodes.op("Cast", scaled, to=TensorProto.FLOAT)
    nodes.op("Transpose", positions, output=keypoints_name, perm=[0, 2, 1])

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

import numpy as np

from posenet_onnx.contract import (
    INPUT_NAME,
    SCALE_FACTOR_NAME,
    SINGLE_GRAPH_OUTPUTS,
    SINGLE_POSE_OUTPUTS,
)
from posenet_onnx.keypoints import NUM_KEYPOINTS

if TYPE_CHECKING:
    import onnx

_NETWORK_INPUT = "network_input"  # the backbone's float32 image, once the graph's input


class _Nodes:
    """Appends nodes and constants to a graph under a common name prefix."""

    def __init__(self, graph: onnx.GraphProto, opset: int) -> None:
        self.graph, self.opset, self._count = graph, opset, 0

    def _name(self, op: str) -> str:
        self._count += 1
        return f"single_pose/{op}_{self._count}"

    def const(self, value: np.ndarray | list | float, dtype: type = np.int64) -> str:
        """A new constant (an initializer); returns its name."""
        import onnx

        name = self._name("const")
        self.graph.initializer.append(onnx.numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, *inputs: str, output: str | None = None, **attributes: object) -> str:
        """A new node with one output (named `output`, else after the node); returns the output's name."""
        import onnx

        name = self._name(op_type)
        output = output or name
        self.graph.node.append(onnx.helper.make_node(op_type, list(inputs), [output], name=name, **attributes))
        return output

    def reduce_mean(self, x: str, axis: int, output: str) -> str:
        """ReduceMean over one axis, keepdims=0 (its axes became an input in opset 18)."""
        if self.opset >= 18:
            return self.op("ReduceMean", x, self.const([axis]), output=output, keepdims=0)
        return self.op("ReduceMean", x, output=output, axes=[axis], keepdims=0)


def add_single_pose_decoder(
    model: onnx.ModelProto, output_stride: int, input_size: tuple[int, int] | None, opset: int
) -> onnx.ModelProto:
    """The backbone `model` (contract inputs/outputs) turned into the single-pose graph, in place.

    `input_size` None: `image` of any size plus `image_scale_factor`; else `image` at exactly that size.
    """
    import onnx
    from onnx import TensorProto, helper

    graph = model.graph
    batch_dim = graph.input[0].type.tensor_type.shape.dim[0]
    batch: int | str = batch_dim.dim_value if batch_dim.HasField("dim_value") else "batch"
    _rename_value(graph, INPUT_NAME, _NETWORK_INPUT)
    del graph.input[:]
    del graph.output[:]
    nodes = _Nodes(graph, opset)

    if input_size is None:
        graph.input.extend(
            [
                helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, [batch, "height", "width", 3]),
                helper.make_tensor_value_info(SCALE_FACTOR_NAME, TensorProto.FLOAT, []),
            ]
        )
        scale_xy = _resize_input(nodes, output_stride)
    else:
        height, width = input_size
        graph.input.append(helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, [batch, height, width, 3]))
        nodes.op("Cast", INPUT_NAME, output=_NETWORK_INPUT, to=TensorProto.FLOAT)
        scale_xy = None
    _decode(nodes, output_stride, scale_xy)

    graph.output.extend(
        [
            helper.make_tensor_value_info(SINGLE_GRAPH_OUTPUTS[0], TensorProto.FLOAT, [batch, NUM_KEYPOINTS, 2]),
            helper.make_tensor_value_info(SINGLE_GRAPH_OUTPUTS[1], TensorProto.FLOAT, [batch, NUM_KEYPOINTS]),
            helper.make_tensor_value_info(SINGLE_GRAPH_OUTPUTS[2], TensorProto.FLOAT, [batch]),
        ]
    )
    _sort(graph)
    _prune(graph)
    del graph.value_info[:]  # the backbone's shapes no longer all hold; onnxruntime infers its own
    onnx.checker.check_model(model)
    return model


def _resize_input(nodes: _Nodes, output_stride: int) -> str:
    """Resize `image` to upstream's valid resolution into the network input; return the float64 [2] factors
    (x, y) from network pixels back to image pixels (width / resized width, height / resized height)."""
    from onnx import TensorProto

    shape = nodes.op("Shape", INPUT_NAME)
    size_xy = nodes.op("Cast", nodes.op("Gather", shape, nodes.const([2, 1])), to=TensorProto.DOUBLE)
    scale = nodes.op("Cast", SCALE_FACTOR_NAME, to=TensorProto.DOUBLE)
    even = nodes.op("Sub", nodes.op("Mul", size_xy, scale), nodes.const(1.0, np.float64))
    remainder = nodes.op("Mod", even, nodes.const(float(output_stride), np.float64), fmod=1)
    resized_xy = nodes.op("Add", nodes.op("Sub", even, remainder), nodes.const(1.0, np.float64))
    resized_hw = nodes.op("Gather", nodes.op("Cast", resized_xy, to=TensorProto.INT64), nodes.const([1, 0]))
    batch = nodes.op("Slice", shape, nodes.const([0]), nodes.const([1]))
    sizes = nodes.op("Concat", batch, resized_hw, nodes.const([3]), axis=0)
    pixels = nodes.op("Cast", INPUT_NAME, to=TensorProto.FLOAT)
    nodes.op(
        "Resize", pixels, "", "", sizes, output=_NETWORK_INPUT, mode="linear",
        coordinate_transformation_mode="asymmetric",
    )
    return nodes.op("Div", size_xy, resized_xy)


def _decode(nodes: _Nodes, output_stride: int, scale_xy: str | None) -> None:
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


def _rename_value(graph: onnx.GraphProto, old: str, new: str) -> None:
    """Make every node that reads `old` read `new`."""
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]


def _sort(graph: onnx.GraphProto) -> None:
    """Order the nodes topologically (the input's preprocessing was appended after the backbone)."""
    ready = {value.name for value in graph.input} | {init.name for init in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        node = next(node for node in pending if set(node.input) <= ready)
        pending.remove(node)
        ordered.append(node)
        ready.update(node.output)
    del graph.node[:]
    graph.node.extend(ordered)


def _prune(graph: onnx.GraphProto) -> None:
    """Drop the nodes and constants no output depends on (the displacement heads); nodes are sorted."""
    needed = {output.name for output in graph.output}
    kept = []
    for node in reversed(graph.node):
        if needed & set(node.output):
            kept.append(node)
            needed.update(name for name in node.input if name)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    initializers = [init for init in graph.initializer if init.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(initializers)

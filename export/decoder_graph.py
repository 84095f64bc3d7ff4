"""Appending an in-graph decoder to the exported backbone: the node builder, the uint8 image input that
replaces the backbone's float32 one, and the finishing passes (topological order, pruning, checking).

Shared by the self-contained graphs (single_pose.py, multi_pose.py). The input path is what the runtime does
before the network: upstream's valid resolution per side in float64 (`e = size * scale - 1`,
`e - fmod(e, stride) + 1`), then tfjs 1.1.2's bilinear resize (source = out * in / out, no half-pixel
centres, edges clamped): by default onnxruntime's Resize op (float32 coordinates and weights) on pixels
already scaled as the backbone's first node scales them, or (`resize="exact"`) bit-identical to
runtime/resize.py, float64 lerps in Gather, Transpose and elementwise nodes. A fixed-shape graph takes its
image at the network's size, so it has no resize and no scale factor.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from posenet_onnx.contract import DEFAULT_RESIZE, INPUT_NAME, SCALE_FACTOR_NAME

if TYPE_CHECKING:
    import onnx

NETWORK_INPUT = "network_input"  # the backbone's float32 image, once the graph's input


class Nodes:
    """Appends nodes to a graph under a common name prefix; constants go to `constants` (default: the same
    graph), so a Loop body can use initializers of the main graph from its outer scope."""

    def __init__(
        self, graph: onnx.GraphProto, opset: int, prefix: str, constants: onnx.GraphProto | None = None
    ) -> None:
        self.graph, self.opset, self.prefix = graph, opset, prefix
        self.constants = constants if constants is not None else graph
        self._count = 0

    def name(self, op: str) -> str:
        """A new unique value or node name."""
        self._count += 1
        return f"{self.prefix}/{op}_{self._count}"

    def const(self, value: np.ndarray | list | float, dtype: type = np.int64) -> str:
        """A new constant (an initializer); returns its name."""
        import onnx

        name = self.name("const")
        self.constants.initializer.append(onnx.numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, *inputs: str, output: str | None = None, **attributes: object) -> str:
        """A new node with one output (named `output`, else after the node); returns the output's name."""
        return self.ops(op_type, *inputs, outputs=[output] if output else None, **attributes)[0]

    def ops(self, op_type: str, *inputs: str, outputs: list[str] | int | None = None, **attributes: object) -> list[str]:
        """A new node with several outputs (`outputs` names them, or says how many); returns their names."""
        import onnx

        name = self.name(op_type)
        if outputs is None or isinstance(outputs, int):
            outputs = [name] if outputs is None else [f"{name}:{i}" for i in range(outputs)]
        self.graph.node.append(onnx.helper.make_node(op_type, list(inputs), outputs, name=name, **attributes))
        return outputs

    def reduce(self, op_type: str, x: str, axes: list[int], output: str | None = None, **attributes: object) -> str:
        """A reduction other than ReduceSum over `axes` (which became an input at opset 18)."""
        if self.opset >= 18:
            return self.op(op_type, x, self.const(axes), output=output, **attributes)
        return self.op(op_type, x, output=output, axes=axes, **attributes)

    def reduce_mean(self, x: str, axis: int, output: str) -> str:
        """ReduceMean over one axis, keepdims=0."""
        return self.reduce("ReduceMean", x, [axis], output=output, keepdims=0)


def take_input(
    model: onnx.ModelProto, output_stride: int, input_size: tuple[int, int] | None, opset: int, prefix: str,
    parameters: Iterable[onnx.ValueInfoProto] = (), resize: str = DEFAULT_RESIZE,
) -> tuple[Nodes, str | None, int | str]:
    """Replace the backbone's float32 input by `image`, uint8 N x H x W x 3 (with `image_scale_factor` when
    `input_size` is None, resized the `resize` way, else at exactly that size), followed by the `parameters`
    inputs.

    Returns the node builder, the float64 [2] factors (x, y) from network pixels back to image pixels (None for
    a fixed-shape graph, whose image is the network input) and the batch dimension (a size or "batch").
    """
    from onnx import TensorProto, helper

    graph = model.graph
    batch_dim = graph.input[0].type.tensor_type.shape.dim[0]
    batch: int | str = batch_dim.dim_value if batch_dim.HasField("dim_value") else "batch"
    for node in graph.node:
        node.input[:] = [NETWORK_INPUT if name == INPUT_NAME else name for name in node.input]
    del graph.input[:]
    del graph.output[:]
    nodes = Nodes(graph, opset, prefix)
    if input_size is None:
        graph.input.extend(
            [
                helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, [batch, "height", "width", 3]),
                helper.make_tensor_value_info(SCALE_FACTOR_NAME, TensorProto.FLOAT, []),
            ]
        )
        scale_xy = _resize_input(nodes, output_stride, resize == "exact")
    else:
        height, width = input_size
        graph.input.append(helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, [batch, height, width, 3]))
        nodes.op("DequantizeLinear", INPUT_NAME, *_pixel_scale(nodes), output=NETWORK_INPUT)
        scale_xy = None
    graph.input.extend(parameters)
    return nodes, scale_xy, batch


def _pixel_scale(nodes: Nodes) -> tuple[str, str]:
    """DequantizeLinear's scale and zero point for the image's uint8 -> float32 conversion: the backbone's first
    node folded in where it multiplies NETWORK_INPUT by a float32 scalar (upstream's normalisation starts with
    x / 127.5, a Mul by the reciprocal once exported), else 1. That node is removed, its consumers reading
    NETWORK_INPUT: one pass over the pixels fewer. DequantizeLinear rounds x * scale once, as the Mul did, and
    onnxruntime's kernel for it is vectorised and threaded where its Cast is not."""
    import onnx

    graph = nodes.graph
    scalars = {tensor.name for tensor in graph.initializer if tensor.data_type == onnx.TensorProto.FLOAT and not tensor.dims}
    consumers = [node for node in graph.node if NETWORK_INPUT in node.input]
    mul = consumers[0] if len(consumers) == 1 and consumers[0].op_type == "Mul" else None
    factors = [name for name in mul.input if name != NETWORK_INPUT] if mul else []
    zero = nodes.const(0, np.uint8)
    if len(factors) != 1 or factors[0] not in scalars:
        return nodes.const(1.0, np.float32), zero
    for node in graph.node:
        node.input[:] = [NETWORK_INPUT if name == mul.output[0] else name for name in node.input]
    graph.node.remove(mul)
    return factors[0], zero


def _resize_input(nodes: Nodes, output_stride: int, exact: bool) -> str:
    """Resize `image` to upstream's valid resolution into the network input (tfjs's arithmetic bit for bit if
    `exact`, else onnxruntime's Resize op); return the float64 [2] factors (x, y) from network pixels back to
    image pixels (width / resized width, height / resized height)."""
    from onnx import TensorProto

    shape = nodes.op("Shape", INPUT_NAME)
    size_xy = nodes.op("Cast", nodes.op("Gather", shape, nodes.const([2, 1])), to=TensorProto.DOUBLE)
    scale = nodes.op("Cast", SCALE_FACTOR_NAME, to=TensorProto.DOUBLE)
    even = nodes.op("Sub", nodes.op("Mul", size_xy, scale), nodes.const(1.0, np.float64))
    remainder = nodes.op("Mod", even, nodes.const(float(output_stride), np.float64), fmod=1)
    resized_xy = nodes.op("Add", nodes.op("Sub", even, remainder), nodes.const(1.0, np.float64))
    if exact:
        _resize_bilinear(nodes, size_xy, resized_xy, scale)
    else:
        _resize_op(nodes, shape, resized_xy)
    return nodes.op("Div", size_xy, resized_xy)


def _resize_op(nodes: Nodes, shape: str, resized_xy: str) -> None:
    """`image` resized to `resized_xy` into NETWORK_INPUT by ONNX Resize, linear, "asymmetric" (source =
    out * in / out, no half-pixel centres, edges clamped: tfjs's mapping), which onnxruntime computes with
    float32 coordinates and weights."""
    from onnx import TensorProto

    resized_hw = nodes.op("Gather", nodes.op("Cast", resized_xy, to=TensorProto.INT64), nodes.const([1, 0]))
    batch = nodes.op("Slice", shape, nodes.const([0]), nodes.const([1]))
    sizes = nodes.op("Concat", batch, nodes.const([3]), resized_hw, axis=0)
    # Resized as N x 3 x H x W, where onnxruntime's bilinear kernel is about twice as fast as on N x H x W x 3;
    # the transpose back cancels with the backbone's own NHWC -> NCHW transpose.
    # The backbone's scaling moves before the resize (_pixel_scale): a linear resize, so the values differ only in
    # float32 rounding.
    pixels = nodes.op("DequantizeLinear", nodes.op("Transpose", INPUT_NAME, perm=[0, 3, 1, 2]), *_pixel_scale(nodes))
    resized = nodes.op("Resize", pixels, "", "", sizes, mode="linear", coordinate_transformation_mode="asymmetric")
    nodes.op("Transpose", resized, output=NETWORK_INPUT, perm=[0, 2, 3, 1])


def _taps(nodes: Nodes, size: str, resized: str, doubles: str) -> tuple[str, str, str]:
    """runtime/resize.py's taps along one side from its float64 [1] sizes, in the same double arithmetic: per
    output row (or column) the low and high source index (int64) and the weight of the high one (float64),
    source = (in / out) * i, low = floor(source), high = min(low + 1, in - 1), weight = source - low.

    source lies in [0, in - 1], so the int64 cast is the floor and never past the last index; where the weight
    is 0 the high index (runtime/resize.py's ceiling, the same index) is never read: low + (x - low) * 0 is low.

    A runtime that computes float64 in float32 (OpenVINO) would get weights off by up to ~1e-4 from the large
    float32 source; there (`doubles` false) the taps come from exact integers instead, low = in * i // out and
    weight = (in * i % out) / out, so the resize stays within float32 rounding of tfjs's.
    """
    from onnx import TensorProto

    n = nodes
    count = n.op("Cast", resized, to=TensorProto.INT64)  # [1]
    steps = n.op("Range", n.const(0), n.op("Squeeze", count, n.const([0])), n.const(1))
    source = n.op("Mul", n.op("Div", size, resized), n.op("Cast", steps, to=TensorProto.DOUBLE))
    low = n.op("Cast", source, to=TensorProto.INT64)
    weight = n.op("Sub", source, n.op("Cast", low, to=TensorProto.DOUBLE))

    whole = n.op("Cast", size, to=TensorProto.INT64)
    scaled = n.op("Mul", steps, whole)
    rational_low = n.op("Div", scaled, count)
    remainder = n.op("Sub", scaled, n.op("Mul", rational_low, count))
    rational_weight = n.op("Div", n.op("Cast", remainder, to=TensorProto.DOUBLE), resized)
    low = n.op("Where", doubles, low, rational_low)
    high = n.op("Min", n.op("Add", low, n.const([1])), n.op("Sub", whole, n.const([1])))
    return low, high, n.op("Where", doubles, weight, rational_weight)


def _resize_bilinear(nodes: Nodes, size_xy: str, resized_xy: str, scale: str) -> None:
    """`image` (uint8 N x H x W x 3) resized to `resized_xy` into NETWORK_INPUT, bit-identical to
    runtime/resize.py (tfjs 1.1.2's resizeBilinear): the four corner pixels of every output pixel are gathered
    as uint8, then tfjs's lerps run in float64 in its order (along the columns, then the rows), stored float32.
    `scale` is the image scale factor in float64.

    onnxruntime gathers whole rows fast and single values slowly, so the columns are gathered as rows of the
    transposed image: N x H x (W * 3) -> N x (W * 3) x H = N x W x 3 x H, Gather the left and right columns,
    back to one N x 1 x H x w plane per channel, then Gather the top and bottom rows. Each channel's float64
    lerps run on their own (a third of the values: they stay in the CPU's caches); the planes' concatenation,
    transposed to N x h x w x 3, cancels with the backbone's own transpose to NCHW.
    """
    from onnx import TensorProto

    n = nodes
    size_x, size_y = n.ops("Split", size_xy, n.const([1, 1]), outputs=2, axis=0)
    resized_x, resized_y = n.ops("Split", resized_xy, n.const([1, 1]), outputs=2, axis=0)
    # Whether float64 is float64 here: scale + 2^-30 differs from the scale (in [0.2, 1]) in float64 only. Read
    # from an input's value, which no graph simplifier can fold (onnxslim folds arithmetic on shapes).
    margin = n.op("Sub", n.op("Add", scale, n.const(2.0**-30, np.float64)), scale)
    doubles = n.op("Greater", margin, n.const(0.0, np.float64))
    top, bottom, row_weight = _taps(n, size_y, resized_y, doubles)
    left, right, column_weight = _taps(n, size_x, resized_x, doubles)
    row_weight = n.op("Unsqueeze", row_weight, n.const([1]))
    width = n.op("Slice", n.op("Shape", INPUT_NAME), n.const([2]), n.const([3]))
    rows = n.op("Reshape", INPUT_NAME, n.const([0, 0, -1]))  # N x H x (W * 3)
    columns = n.op("Transpose", rows, perm=[0, 2, 1])  # N x (W * 3) x H
    columns = n.op("Reshape", columns, n.op("Concat", n.const([0]), width, n.const([3, -1]), axis=0))  # N x W x 3 x H

    def channel_planes(index: str) -> list[str]:  # per channel N x 1 x H x w
        planes = n.op("Transpose", n.op("Gather", columns, index, axis=1), perm=[0, 2, 3, 1])
        return n.ops("Split", planes, n.const([1, 1, 1]), outputs=3, axis=1)

    def corners(plane: str, index: str) -> str:  # N x 1 x h x w, float64
        return n.op("Cast", n.op("Gather", plane, index, axis=2), to=TensorProto.DOUBLE)

    def lerp(low: str, high: str, weight: str) -> str:  # tfjs: low + (high - low) * weight
        return n.op("Add", low, n.op("Mul", n.op("Sub", high, low), weight))

    resized = []
    for left_plane, right_plane in zip(channel_planes(left), channel_planes(right)):
        upper = lerp(corners(left_plane, top), corners(right_plane, top), column_weight)
        lower = lerp(corners(left_plane, bottom), corners(right_plane, bottom), column_weight)
        resized.append(n.op("Cast", lerp(upper, lower, row_weight), to=TensorProto.FLOAT))
    n.op("Transpose", n.op("Concat", *resized, axis=1), output=NETWORK_INPUT, perm=[0, 2, 3, 1])


def finish(model: onnx.ModelProto, outputs: Iterable[onnx.ValueInfoProto]) -> onnx.ModelProto:
    """Set the graph's outputs, order the nodes, drop what no output needs (and the unused operator domains),
    and check the model."""
    import onnx

    graph = model.graph
    graph.output.extend(outputs)
    _sort(graph)
    prune(graph)
    del graph.value_info[:]  # the backbone's shapes no longer all hold; onnxruntime infers its own
    default_domain = [opset for opset in model.opset_import if opset.domain in ("", "ai.onnx")]
    del model.opset_import[:]  # tf2onnx also imports ai.onnx.ml, which no node uses
    model.opset_import.extend(default_domain)
    onnx.checker.check_model(model)
    return model


def _reads(node: onnx.NodeProto) -> set[str]:
    """The values a node reads: its inputs and the outer-scope values its subgraphs (a Loop's body) use."""
    names = {name for name in node.input if name}
    for attribute in node.attribute:
        if attribute.g.node:
            names |= _outer_reads(attribute.g)
    return names


def _outer_reads(graph: onnx.GraphProto) -> set[str]:
    """Values a subgraph reads from its enclosing scopes."""
    local = {value.name for value in graph.input} | {init.name for init in graph.initializer}
    reads: set[str] = set()
    for node in graph.node:
        reads |= _reads(node) - local
        local.update(node.output)
    return reads - local


def _sort(graph: onnx.GraphProto) -> None:
    """Order the nodes topologically (the input's preprocessing was appended after the backbone)."""
    ready = {value.name for value in graph.input} | {init.name for init in graph.initializer} | {""}
    pending, ordered = [(node, _reads(node)) for node in graph.node], []
    while pending:
        index = next(i for i, (_, reads) in enumerate(pending) if reads <= ready)
        node, _ = pending.pop(index)
        ordered.append(node)
        ready.update(node.output)
    del graph.node[:]
    graph.node.extend(ordered)


def prune(graph: onnx.GraphProto) -> None:
    """Drop the nodes and constants no output depends on (e.g. unused heads, or what feeds a value that became
    an input); nodes are sorted."""
    needed = {output.name for output in graph.output}
    kept = []
    for node in reversed(graph.node):
        if needed & set(node.output):
            kept.append(node)
            needed.update(_reads(node))
    del graph.node[:]
    graph.node.extend(reversed(kept))
    initializers = [init for init in graph.initializer if init.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(initializers)

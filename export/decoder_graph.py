"""Appending an in-graph decoder to the exported backbone: the node builder, the uint8 image input that
replaces the backbone's float32 one, and the finishing passes (topological order, pruning, checking).

Shared by the self-contained graphs (single_pose.py, multi_pose.py). The input path is what the runtime does
before the network: upstream's valid resolution per side in float64 (`e = size * scale - 1`,
`e - fmod(e, stride) + 1`), then tfjs 1.1.2's bilinear resize as ONNX Resize linear "asymmetric" (source =
out * in / out, no half-pixel centres, edges clamped). A fixed-shape graph takes its image at the network's
size, so it has no resize and no scale factor.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from posenet_onnx.contract import INPUT_NAME, SCALE_FACTOR_NAME

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
    parameters: Iterable[onnx.ValueInfoProto] = (),
) -> tuple[Nodes, str | None, int | str]:
    """Replace the backbone's float32 input by `image`, uint8 N x H x W x 3 (with `image_scale_factor` when
    `input_size` is None, else at exactly that size), followed by the `parameters` inputs.

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
        scale_xy = _resize_input(nodes, output_stride)
    else:
        height, width = input_size
        graph.input.append(helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, [batch, height, width, 3]))
        nodes.op("Cast", INPUT_NAME, output=NETWORK_INPUT, to=TensorProto.FLOAT)
        scale_xy = None
    graph.input.extend(parameters)
    return nodes, scale_xy, batch


def _resize_input(nodes: Nodes, output_stride: int) -> str:
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
    sizes = nodes.op("Concat", batch, nodes.const([3]), resized_hw, axis=0)
    # Resized as N x 3 x H x W, where onnxruntime's bilinear kernel is about twice as fast as on N x H x W x 3;
    # the transpose back cancels with the backbone's own NHWC -> NCHW transpose.
    pixels = nodes.op("Cast", nodes.op("Transpose", INPUT_NAME, perm=[0, 3, 1, 2]), to=TensorProto.FLOAT)
    resized = nodes.op("Resize", pixels, "", "", sizes, mode="linear", coordinate_transformation_mode="asymmetric")
    nodes.op("Transpose", resized, output=NETWORK_INPUT, perm=[0, 2, 3, 1])
    return nodes.op("Div", size_xy, resized_xy)


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

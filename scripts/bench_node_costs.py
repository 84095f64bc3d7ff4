#!/usr/bin/env python
"""What bounds the multi-pose graph's speed on onnxruntime's CPU provider (docs/deployment.md): what one node
costs, by operator, at the decoder's sizes; how many nodes the decoder runs per frame; and the input path's
operators beside the Python path's Numba resize. All at upstream's defaults on couple.jpg (640x480, scale 0.5).

- A node's cost: a graph of 1 and a graph of 61 independent copies of the node (their outputs concatenated),
  graph optimisations off so that onnxruntime keeps the copies apart, timed call by call in turn;
  (t61 - t1) / 60. The tensors have the decoder's sizes on this photo (M root candidates x 6 path slots x 3
  values, the N x H x W x 49 x 3 table); their values are a fixed random draw, which these nodes' cost does
  not depend on. A Loop's cost per iteration is timed the same way, 61 iterations against 1 of a one-node body.
- The decoder's node runs per frame: the nodes of the graph's decoder plus its selection Loop's body once per
  pose slot. Beside it, the decoder alone called back to back (its caches warm) and the Python path's rest
  (its Numba decoder, Pose objects and Python: the Python path less its resize and network call).
- The input path: the graph cut after each of its steps (uint8 transpose to N x 3 x H x W, DequantizeLinear,
  Resize with the arithmetic on sizes before it), each cut ending in a one-value Slice so that no large output
  is copied out (graph optimisations off, which would move that Slice ahead of the steps), interleaved with
  runtime/resize.py's Numba kernel, which the Python path runs.

    python scripts/bench_node_costs.py [--shared ../shared/posenet] [--model-dir DIR] [--repeats 1000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "tests"))

import posenet_onnx  # noqa: E402
from bench_multi_graph import CASES, graph_feeds, graphs, session_options  # noqa: E402
from bench_resize import interleaved_ms  # noqa: E402
from posenet_onnx.contract import DEFAULT_RESIZE, INPUT_NAME, MULTI_GRAPH_OUTPUTS, OUTPUT_NAMES  # noqa: E402
from posenet_onnx.decode.candidates import build_part_queue  # noqa: E402
from posenet_onnx.export.multi_pose import ROWS, path_tables  # noqa: E402
from posenet_onnx.runtime.images import load_image  # noqa: E402
from posenet_onnx.runtime.resize import resize_bilinear, valid_resolution  # noqa: E402
from support.runtimes import decoder_part, input_part, network_part  # noqa: E402

COPIES = 61
OPSET = 17


def model_bytes(nodes: list[onnx.NodeProto], inputs: dict[str, np.ndarray], outputs: list[str],
                initializers: list[onnx.TensorProto] = ()) -> bytes:
    """A model of `nodes` reading `inputs` (fed by name) and writing `outputs`."""
    graph = helper.make_graph(
        nodes, "cost",
        [helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(value.dtype), value.shape)
         for name, value in inputs.items()],
        [helper.make_empty_tensor_value_info(name) for name in outputs],
        list(initializers),
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8).SerializeToString()


def copies_model(make: Callable[[str], onnx.NodeProto], inputs: dict[str, np.ndarray], copies: int) -> bytes:
    """`copies` independent nodes made by `make(output)`, concatenated into one output."""
    outputs = [f"copy_{i}" for i in range(copies)]
    return model_bytes([make(name) for name in outputs] + [helper.make_node("Concat", outputs, ["all"], axis=0)],
                       inputs, ["all"])


def loop_model(iterations: int) -> bytes:
    """A Loop of `iterations` over a body of one Add (what the Loop itself costs per iteration)."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["more"], ["more_out"]), helper.make_node("Add", ["value", "one"], ["value_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []), helper.make_tensor_value_info("more", TensorProto.BOOL, []),
         helper.make_tensor_value_info("value", TensorProto.DOUBLE, None)],
        [helper.make_tensor_value_info("more_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("value_out", TensorProto.DOUBLE, None)],
    )
    constants = [numpy_helper.from_array(np.array(iterations), "trips"), numpy_helper.from_array(np.array(True), "true"),
                 numpy_helper.from_array(np.array(1.0), "one")]
    node = helper.make_node("Loop", ["trips", "true", "x"], ["y"], body=body)
    return model_bytes([node], {"x": np.zeros(3)}, ["y"], constants)


def node_costs(candidates: int, height: int, width: int, repeats: int) -> dict[str, float]:
    """Microseconds per node by operator at the decoder's sizes (see the module docstring)."""
    rng = np.random.default_rng(0)
    slots = (1, candidates, path_tables()[1])
    position = rng.uniform(0, min(height, width) - 1, (*slots, 3))
    index = np.stack([rng.integers(0, height, slots), rng.integers(0, width, slots), rng.integers(0, ROWS, slots)], -1)
    table = rng.random((1, height, width, ROWS, 3), dtype=np.float32)
    cases = {
        "Add, float64": (lambda out: helper.make_node("Add", ["a", "a"], [out]), {"a": position}),
        "Max, float64": (lambda out: helper.make_node("Max", ["a", "a"], [out]), {"a": position}),
        "Cast, float64 to int64": (lambda out: helper.make_node("Cast", ["a"], [out], to=TensorProto.INT64), {"a": position}),
        "Cast, float32 to float64": (lambda out: helper.make_node("Cast", ["f"], [out], to=TensorProto.DOUBLE),
                                     {"f": position.astype(np.float32)}),
        "GatherND, the table at (y, x, row)": (lambda out: helper.make_node("GatherND", ["t", "i"], [out], batch_dims=1),
                                               {"t": table, "i": index}),
    }
    options = unoptimised_options()
    functions = {}
    for name, (make, inputs) in cases.items():
        for copies in (1, COPIES):
            session = ort.InferenceSession(copies_model(make, inputs, copies), options, providers=["CPUExecutionProvider"])
            functions[name, copies] = (lambda s, f: lambda: s.run(None, f))(session, inputs)
    for trips in (1, COPIES):
        session = ort.InferenceSession(loop_model(trips), options, providers=["CPUExecutionProvider"])
        functions["Loop, per iteration (a one-node body)", trips] = (lambda s: lambda: s.run(None, {"x": np.zeros(3)}))(session)
    ms = interleaved_ms(functions, repeats)
    names = dict.fromkeys(name for name, _ in functions)
    return {name: 1e3 * (ms[name, COPIES][0] - ms[name, 1][0]) / (COPIES - 1) for name in names}


def unoptimised_options() -> ort.SessionOptions:
    """The benchmarks' session options with graph optimisations off, which would merge the copies of a node and
    move a cut's Slice ahead of the steps it cuts after."""
    options = session_options(None, False)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return options


def cut_after(model: onnx.ModelProto, value: str) -> bytes:
    """`model` from its inputs to `value`, ending in a Slice of one value (no large output copied out)."""
    from posenet_onnx.export.decoder_graph import prune

    cut = onnx.ModelProto()
    cut.CopyFrom(model)
    zeros, ones = (numpy_helper.from_array(np.full(4, v, np.int64), f"cut/{v}") for v in (0, 1))  # N x C x H x W
    cut.graph.initializer.extend([zeros, ones])
    cut.graph.node.append(helper.make_node("Slice", [value, zeros.name, ones.name], ["cut/one_value"]))
    del cut.graph.output[:]
    cut.graph.output.append(helper.make_empty_tensor_value_info("cut/one_value"))
    prune(cut.graph)
    return cut.SerializeToString()


def input_steps(multi: Path) -> dict[str, bytes]:
    """The multi-pose graph's input path cut after each step, in order."""
    model = onnx.load_from_string(input_part(multi))
    steps = {"Transpose": "uint8 transpose", "DequantizeLinear": "+ DequantizeLinear", "Resize": "+ Resize"}
    first = {op: next(node for node in model.graph.node if node.op_type == op) for op in steps}
    return {label: cut_after(model, first[op].output[0]) for op, label in steps.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "posenet")
    parser.add_argument("--model-dir", type=Path, default=None, help="graphs kept here (default: a temporary folder)")
    parser.add_argument("--repeats", type=int, default=1000)
    args = parser.parse_args()
    name, scale, max_poses, threshold = CASES[0]
    image = load_image(args.shared / name)
    images, feed = graph_feeds(image, scale, max_poses, threshold)

    with tempfile.TemporaryDirectory() as scratch:
        plain, multi = graphs(args.model_dir or Path(scratch), args.shared / "checkpoints", DEFAULT_RESIZE)
        options = session_options(None, False)
        graph = ort.InferenceSession(str(multi), options, providers=["CPUExecutionProvider"])
        network = ort.InferenceSession(network_part(multi), options, providers=["CPUExecutionProvider"])
        decoder_bytes = decoder_part(multi)
        decoder_model = onnx.load_from_string(decoder_bytes)
        decoder = ort.InferenceSession(decoder_bytes, options, providers=["CPUExecutionProvider"])
        outputs = dict(zip(OUTPUT_NAMES, network.run(list(OUTPUT_NAMES), images)))
        heatmaps = outputs[OUTPUT_NAMES[0]][0]
        candidates = build_part_queue(heatmaps, threshold, np.empty(heatmaps.size, np.float32), np.empty(heatmaps.size, np.int64))
        height, width = heatmaps.shape[:2]
        print(f"{os.cpu_count()} logical cores; onnxruntime {ort.__version__}, CPU provider, default threads, spinning "
              f"off; load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        print(f"{Path(name).name}, scale {scale}, {max_poses} poses, threshold {threshold}: {candidates} candidates, "
              f"a {height} x {width} grid\n")

        print("| node | us per node |\n|---|---:|")
        costs = node_costs(candidates, height, width, args.repeats)
        for label, cost in costs.items():
            print(f"| {label} | {cost:.2f} |")

        poses = int(graph.run([MULTI_GRAPH_OUTPUTS[3]], feed)[0][0])
        (loop,) = [node for node in decoder_model.graph.node if node.op_type == "Loop"]
        body = len(loop.attribute[0].g.node)
        static = len(decoder_model.graph.node) - len(OUTPUT_NAMES)  # less the cut's own transposes
        runs = static + body * max(poses, 1)
        net = posenet_onnx.load(plain, allow_spinning=False)
        size = [valid_resolution(scale, side, 16) for side in image.shape[:2]]
        network_input = {INPUT_NAME: resize_bilinear(image[np.newaxis], *size)}
        plain_session = ort.InferenceSession(str(plain), options, providers=["CPUExecutionProvider"])
        decoder_feed = {**feed, **outputs}
        ms = interleaved_ms(
            {
                "python": lambda: net.estimate_multiple_poses(image, scale, max_pose_detections=max_poses,
                                                              score_threshold=threshold),
                "numba resize": lambda: resize_bilinear(image[np.newaxis], *size),
                "network call": lambda: plain_session.run(None, network_input),
                "graph": lambda: graph.run(None, feed),
                "input + network": lambda: network.run(None, images),
            },
            args.repeats,
        )
        python, graph_ms, front = ms["python"][0], ms["graph"][0], ms["input + network"][0]
        rest = python - ms["numba resize"][0] - ms["network call"][0]
        warm = interleaved_ms({"decoder": lambda: decoder.run(None, decoder_feed)}, args.repeats)["decoder"][0]
        floor = runs * min(costs.values()) / 1e3
        print(f"\nthe decoder runs {runs} nodes a frame ({static} once, its Loop's {body} per pose slot, "
              f"{max(poses, 1)} slots): at the cheapest node's cost that is {floor:.3f} ms")
        print(f"the decoder in the graph {graph_ms - front:.3f} ms (graph {graph_ms:.3f} - input + network "
              f"{front:.3f}); alone, back to back {warm:.3f} ms; the Python path's rest (Numba decoder, Pose "
              f"objects, Python) {rest:.3f} ms of {python:.3f}")
        print(f"speed-up {python / graph_ms:.3f}; with the decoder at that floor it would be "
              f"{python / (front + floor):.3f}\n")

        steps = {label: ort.InferenceSession(model, unoptimised_options(), providers=["CPUExecutionProvider"])
                 for label, model in input_steps(multi).items()}
        functions = {label: (lambda s: lambda: s.run(None, images))(session) for label, session in steps.items()}
        functions["runtime/resize.py (Numba)"] = lambda: resize_bilinear(image[np.newaxis], *size)
        print("| input path, cut after | ms (fastest) |\n|---|---:|")
        for label, (median, fastest) in interleaved_ms(functions, args.repeats).items():
            print(f"| {label} | {median:.3f} ({fastest:.3f}) |")
        print(f"\nload average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()

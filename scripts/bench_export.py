#!/usr/bin/env python
"""Benchmark the export stage: export time per graph, and ONNX Runtime CPU vs TensorFlow inference.

For each of the 10 graphs, in one process: the time export_model takes (TensorFlow already imported),
then the median inference time of the same network and input in TensorFlow (upstream's formulation,
tests/support/reference.py: the explicit-padding function that is converted needs oneDNN to run in TensorFlow)
and in onnxruntime's CPU provider, at 257x257 and 513x513, and their ratio.
The 0.50 graphs use the real checkpoint; the others synthetic weights in the real shapes (same cost).

With --nodes, instead: the node counts of the real 0.50 stride-16 graphs (network, single-pose and
multi-pose, dynamic and fixed 257x257 batch 1) as tf2onnx writes them without its optimisers, with them, and
as exported (after the onnxslim pass); "+ n" counts the nodes of the multi-pose graph's Loop body.

    python scripts/bench_export.py [--shared ../shared/posenet] [--repeats 20] [--threads 0] [--sizes 257 513]
    python scripts/bench_export.py --nodes
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from posenet_onnx.export import export_model
from posenet_onnx.export.checkpoint import load_checkpoint
from posenet_onnx.export.exporter import convert
from posenet_onnx.export.simplify import simplify
from posenet_onnx.export.multi_pose import add_multi_pose_decoder
from posenet_onnx.export.single_pose import add_single_pose_decoder
from posenet_onnx.export.quiet import import_tensorflow
from posenet_onnx.contract import DEFAULT_RESIZE, INPUT_NAME, VALID_MODELS, checkpoint_name

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tests/support, not installed
from support.reference import upstream_function  # noqa: E402
from support.synthetic import write_synthetic_checkpoint  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SYNTHETIC_SHAPES = {0.75: "mobilenet_v1_075.json", 1.00: "mobilenet_v1_100.json", 1.01: "mobilenet_v1_100.json"}


def median_seconds(runs: dict[str, Callable[[], object]], repeats: int, block: int = 5) -> dict[str, float]:
    """Median wall time of each run, timed in alternating blocks (each after a warm-up call) so that all
    see the same machine load while one framework's idle threads rarely overlap the other's runs."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(max(1, repeats // block)):
        for name, run in runs.items():
            run()
            for _ in range(block):
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def cpu_options(threads: int) -> ort.SessionOptions:
    """Session options for timing: `threads` (0: onnxruntime's choice), no idle spinning that would slow TensorFlow."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def node_counts(shared: Path) -> None:
    """Print the node-count table of --nodes (the 0.50 stride-16 graphs, each step of the export)."""
    import tf2onnx.convert

    checkpoint = load_checkpoint(shared / "checkpoints" / "mobilenet_v1_050")
    optimize_graph = tf2onnx.convert.optimizer.optimize_graph
    print("| graph | tf2onnx, no optimisers | tf2onnx | exported (onnxslim) |")
    print("|---|---:|---:|---:|")
    decoders = {"single": add_single_pose_decoder, "multi": add_multi_pose_decoder}
    for decoder in (None, *decoders):
        for size in (None, (257, 257)):
            shape = (1, *size) if size else (None, None, None)
            counts = []
            for optimizers in ({}, None):
                tf2onnx.convert.optimizer.optimize_graph = lambda g, catch, optimizers=None, o=optimizers: (
                    optimize_graph(g, catch, optimizers=o)
                )
                model, _ = convert(checkpoint, 0.50, 16, shape)
                if decoder:
                    model = decoders[decoder](model, 16, size, 17, DEFAULT_RESIZE)
                counts.append(_count(model))
            counts.append(_count(simplify(model)))
            tf2onnx.convert.optimizer.optimize_graph = optimize_graph
            name = f"{decoder or 'network'}, {'257x257 batch 1' if size else 'dynamic'}"
            print(f"| {name} | " + " | ".join(counts) + " |", flush=True)


def _count(model: onnx.ModelProto) -> str:
    """The graph's node count, "+ n" for the nodes of its subgraphs (a Loop's body)."""
    inner = sum(len(attribute.g.node) for node in model.graph.node for attribute in node.attribute)
    return f"{len(model.graph.node)}" + (f" + {inner}" if inner else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "posenet")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0, help="threads per framework (default 0: their own choice)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[257, 513])
    parser.add_argument("--nodes", action="store_true", help="print the node counts of each export step instead")
    args = parser.parse_args()
    if args.nodes:
        node_counts(args.shared)
        return 0

    start = time.perf_counter()
    tf = import_tensorflow()
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    print(f"TensorFlow import: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    rng = np.random.default_rng(0)
    images = {size: rng.uniform(0, 255, (1, size, size, 3)).astype(np.float32) for size in args.sizes}

    with tempfile.TemporaryDirectory() as scratch:
        synthetic = Path(scratch) / "checkpoints"
        for seed, (multiplier, manifest) in enumerate(SYNTHETIC_SHAPES.items()):
            write_synthetic_checkpoint(
                synthetic / checkpoint_name(multiplier), args.shared / "manifests" / manifest, seed
            )
        roots = {0.50: args.shared / "checkpoints", **{m: synthetic for m in SYNTHETIC_SHAPES}}

        header = "| model | export s |" + "".join(f" TF {s} ms | ORT {s} ms | ratio {s} |" for s in args.sizes)
        print(header)
        print("|---" * (2 + 3 * len(args.sizes)) + "|")
        for multiplier, output_stride in VALID_MODELS:
            start = time.perf_counter()
            path = export_model(multiplier, output_stride, scratch, checkpoint_dir=roots[multiplier], progress=False)
            export_s = time.perf_counter() - start

            checkpoint = load_checkpoint(roots[multiplier] / checkpoint_name(multiplier))
            function = upstream_function(tf, checkpoint, multiplier, output_stride)
            session = ort.InferenceSession(str(path), cpu_options(args.threads), providers=["CPUExecutionProvider"])
            row = f"| {multiplier:.2f} s{output_stride} | {export_s:.1f} |"
            for size in args.sizes:
                image = images[size]
                tensor = tf.constant(image)
                seconds = median_seconds(
                    {
                        "tf": lambda: [t.numpy() for t in function(tensor)],
                        "ort": lambda: session.run(None, {INPUT_NAME: image}),
                    },
                    args.repeats,
                )
                tf_s, ort_s = seconds["tf"], seconds["ort"]
                row += f" {tf_s * 1e3:.1f} | {ort_s * 1e3:.1f} | {tf_s / ort_s:.2f}x |"
            print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

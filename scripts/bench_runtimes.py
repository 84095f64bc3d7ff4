#!/usr/bin/env python
"""Parity and speed of the exported 0.50 stride-16 graphs on each runtime: the table of docs/deployment.md.

Runtimes: onnxruntime (Python, CPU), OpenVINO (CPU plugin, f32; bf16 once, to show what it costs), onnxruntime
for JavaScript (onnxruntime-node under Node), onnx's ReferenceEvaluator; graph kinds: the plain graph (float32
network input -> four outputs, the Python pipeline's resize and decoder around it), the self-contained
single-pose graph (uint8 image + scale -> keypoints) and multi-pose graph (uint8 image + parameters -> every
pose); precisions fp32 and int8; formats .onnx and .ort.

Parity, on the real photos of tests/support/runtimes.PHOTOS at image scale 0.5: the raw outputs' max abs
difference from onnxruntime (Python, CPU) running the same graph on the same input, and single-pose keypoint
shifts in image pixels over the confident keypoints (fp32 score >= 0.5): against the Python pipeline on the
same graph, and against the fp32 Python pipeline (what the precision costs). Multi-pose rows (upstream's
defaults): every keypoint of every pose, against onnxruntime (Python) on the same graph and against
`estimate_multiple_poses` (fp32, Python path). Speed, on couple.jpg (640x480;
network input 225x305): median (fastest) ms of one graph call, the Python runtimes interleaved call by call
in this process; Node runs its calls in its own process right after. Then end to end, the Python API
(`posenet_onnx.load(0.50, precision=...)`) fp32 vs int8, interleaved.

    python scripts/bench_runtimes.py [--shared ../shared/posenet] [--model-dir DIR] [--repeats 200]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "scripts"))

import posenet_onnx  # noqa: E402
from posenet_onnx.contract import (  # noqa: E402
    INPUT_NAME,
    MULTI_GRAPH_OUTPUTS,
    SCALE_FACTOR_NAME,
    SINGLE_GRAPH_OUTPUTS,
    model_filename,
)
from posenet_onnx.export import export_model  # noqa: E402
from posenet_onnx.runtime.images import load_image  # noqa: E402
from posenet_onnx.runtime.resize import resize_bilinear, valid_resolution  # noqa: E402
from bench_resize import interleaved_ms  # noqa: E402
from support.runtimes import (  # noqa: E402
    GRAPH_KINDS,
    MULTI_SETTINGS,
    PHOTOS,
    SINGLE_POSE,
    ForeignNetwork,
    max_abs_differences,
    multi_feed,
    multi_pose_differences,
    onnxruntime_multi,
    onnxruntime_single,
    openvino_multi,
    openvino_network,
    openvino_single,
    ortjs_missing,
    poses_through,
    run_node,
)

SCALE = 0.5
SPEED_PHOTO = "images/couple.jpg"
BF16 = {"INFERENCE_PRECISION_HINT": "bf16"}


def export_all(model_dir: Path, checkpoint_dir: Path, calibration_dir: Path) -> dict[str, Path]:
    """The plain fp32 graph and every kind of GRAPH_KINDS in `model_dir` (kept when already there)."""
    kinds = {"plain_fp32": {}, **GRAPH_KINDS}
    paths = {}
    for kind, options in kinds.items():
        options = dict(options)
        path = model_dir / model_filename(0.50, 16, options.get("precision", "fp32"), decoder=options.get("decoder"),
                                          file_format=options.get("file_format", "onnx"))
        if not path.is_file():
            if options.get("precision") == "int8":
                options["calibration_dir"] = calibration_dir
            export_model(0.50, 16, model_dir, checkpoint_dir=checkpoint_dir, progress=False, **options)
        paths[kind] = path
    return paths


def network_input(image: np.ndarray) -> np.ndarray:
    size = valid_resolution(SCALE, image.shape[0], 16), valid_resolution(SCALE, image.shape[1], 16)
    return resize_bilinear(image[np.newaxis], *size)


def multi_shifts(outputs: list[np.ndarray], reference: list[np.ndarray]) -> np.ndarray:
    """Keypoint distances (px) between two multi-pose graph runs on one image, which must find as many poses."""
    count = int(reference[3][0])
    assert int(outputs[3][0]) == count, (outputs[3], reference[3])
    return np.linalg.norm(outputs[0][0, :count] - reference[0][0, :count], axis=-1).ravel()


def shifts(positions: list[np.ndarray], reference: list[np.ndarray], confident: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.linalg.norm(p - r, axis=1)[c] for p, r, c in zip(positions, reference, confident)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "posenet")
    parser.add_argument("--model-dir", type=Path, default=None, help="where the graphs are (exported if missing)")
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    import onnx
    import onnxruntime as ort
    import openvino as ov
    from support.reference_evaluator import reference_evaluator

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as scratch:
        model_dir = args.model_dir or Path(scratch)
        model_dir.mkdir(parents=True, exist_ok=True)
        graphs = export_all(model_dir, args.shared / "checkpoints", args.shared / "images")
        photos = [load_image(args.shared / name) for name in PHOTOS]
        fp32 = posenet_onnx.load(0.50, model_dir=model_dir, device="cpu")
        int8 = posenet_onnx.load(0.50, precision="int8", model_dir=model_dir, device="cpu")
        fp32_poses = [fp32.estimate_single_pose(image, SCALE) for image in photos]
        confident = [pose.scores >= 0.5 for pose in fp32_poses]
        fp32_positions = [pose.positions for pose in fp32_poses]
        inputs = [network_input(image) for image in photos]

        # Plain graphs: (runtime, graph, precision) -> ForeignNetwork-like object with run(x), and its reference.
        plain = {
            ("onnxruntime (Python)", ".onnx", "fp32"): (fp32.network(16), fp32.network(16)),
            ("onnxruntime (Python)", ".onnx", "int8"): (int8.network(16), int8.network(16)),
            ("onnxruntime (Python)", ".ort", "fp32"): (
                posenet_onnx.load(graphs["plain_ort"], device="cpu").network(16), fp32.network(16)
            ),
            ("OpenVINO f32", ".onnx", "fp32"): (openvino_network(fp32.network(16)), fp32.network(16)),
            ("OpenVINO f32", ".onnx", "int8"): (openvino_network(int8.network(16)), int8.network(16)),
            ("OpenVINO bf16 (opt-in)", ".onnx", "fp32"): (openvino_network(fp32.network(16), BF16), fp32.network(16)),
        }
        single_paths = {"fp32": graphs["single_fp32"], "int8": graphs["single_int8"]}
        single = {
            ("onnxruntime (Python)", ".onnx", "fp32"): (onnxruntime_single(single_paths["fp32"]), single_paths["fp32"]),
            ("onnxruntime (Python)", ".onnx", "int8"): (onnxruntime_single(single_paths["int8"]), single_paths["int8"]),
            ("onnxruntime (Python)", ".ort", "fp32"): (onnxruntime_single(graphs["single_ort"]), single_paths["fp32"]),
            ("OpenVINO f32", ".onnx", "fp32"): (openvino_single(single_paths["fp32"]), single_paths["fp32"]),
            ("OpenVINO f32", ".onnx", "int8"): (openvino_single(single_paths["int8"]), single_paths["int8"]),
        }
        python_single = {path: onnxruntime_single(path) for path in single_paths.values()}
        multi = {
            ("onnxruntime (Python)", ".onnx"): onnxruntime_multi(graphs["multi_fp32"]),
            ("onnxruntime (Python)", ".ort"): onnxruntime_multi(graphs["multi_ort"]),
            ("OpenVINO f32", ".onnx"): openvino_multi(graphs["multi_fp32"]),
        }
        multi_feeds = [multi_feed(image[np.newaxis], SCALE, MULTI_SETTINGS[0]) for image in photos]
        multi_reference = [multi[("onnxruntime (Python)", ".onnx")](feed) for feed in multi_feeds]
        multi_expected = [fp32.estimate_multiple_poses(image, SCALE) for image in photos]

        def multi_row(runtime: str, fmt: str, outputs: list[list[np.ndarray]], key: tuple) -> tuple:
            raw = max(max(max_abs_differences(o, r)) for o, r in zip(outputs, multi_reference))
            same = np.concatenate([multi_shifts(o, r) for o, r in zip(outputs, multi_reference)])
            versus = np.concatenate([multi_pose_differences(o, 0, e)[0] for o, e in zip(outputs, multi_expected)])
            return (runtime, "multi-pose", fmt, "fp32", raw, same, versus, key)

        rows = []  # runtime, kind, format, precision, raw, same-graph px (median/max), vs-fp32 px (median/max), speed key
        for (runtime, fmt, precision), (network, reference) in plain.items():
            raw = max(max(max_abs_differences(network.run(x), reference.run(x))) for x in inputs)
            got = [poses_through(network, image, SINGLE_POSE)[0].positions for image in photos]
            same = [poses_through(reference, image, SINGLE_POSE)[0].positions for image in photos]
            rows.append((runtime, "plain", fmt, precision, raw, shifts(got, same, confident),
                         shifts(got, fp32_positions, confident), ("plain", runtime, fmt, precision)))
        for (runtime, fmt, precision), (run, reference_path) in single.items():
            outputs = [run(image[np.newaxis], SCALE) for image in photos]
            reference = [python_single[reference_path](image[np.newaxis], SCALE) for image in photos]
            raw = max(max(max_abs_differences(o, r)) for o, r in zip(outputs, reference))
            got = [o[0][0] for o in outputs]
            rows.append((runtime, "single-pose", fmt, precision, raw, shifts(got, [r[0][0] for r in reference], confident),
                         shifts(got, fp32_positions, confident), ("single", runtime, fmt, precision)))

        for (runtime, fmt), run in multi.items():
            rows.append(multi_row(runtime, fmt, [run(feed) for feed in multi_feeds], ("multi", runtime, fmt)))

        # Node: the same comparisons, its outputs written back by scripts/ortjs/run.js.
        speed_image = load_image(args.shared / SPEED_PHOTO)
        speed_input = network_input(speed_image)
        node_ms = {}
        if ortjs_missing() is None:
            node_plain = run_node(graphs["plain_fp32"], [{INPUT_NAME: x} for x in inputs])
            reference = fp32.network(16)
            raw = max(max(max_abs_differences([o[n] for n in ("heatmap_scores", "offsets", "displacement_fwd", "displacement_bwd")], reference.run(x)))
                      for o, x in zip(node_plain["outputs"], inputs))
            got = [poses_through(ForeignNetwork(reference.config, lambda _, o=o: [o[n] for n in ("heatmap_scores", "offsets", "displacement_fwd", "displacement_bwd")]), image, SINGLE_POSE)[0].positions
                   for o, image in zip(node_plain["outputs"], photos)]
            runtime = f"onnxruntime-node {node_plain['onnxruntime']}"
            rows.append((runtime, "plain", ".onnx", "fp32", raw, shifts(got, fp32_positions, confident),
                         shifts(got, fp32_positions, confident), ("node", "plain_fp32")))
            for kind, fmt, precision, reference_path in (
                ("single_fp32", ".onnx", "fp32", single_paths["fp32"]),
                ("single_ort", ".ort", "fp32", single_paths["fp32"]),
                ("single_int8", ".onnx", "int8", single_paths["int8"]),
            ):
                feeds = [{INPUT_NAME: image[np.newaxis], SCALE_FACTOR_NAME: np.array(SCALE, np.float32)} for image in photos]
                answer = run_node(graphs[kind], feeds)
                outputs = [[o[n] for n in SINGLE_GRAPH_OUTPUTS] for o in answer["outputs"]]
                reference = [python_single[reference_path](image[np.newaxis], SCALE) for image in photos]
                raw = max(max(max_abs_differences(o, r)) for o, r in zip(outputs, reference))
                got = [o[0][0] for o in outputs]
                rows.append((runtime, "single-pose", fmt, precision, raw,
                             shifts(got, [r[0][0] for r in reference], confident), shifts(got, fp32_positions, confident),
                             ("node", kind)))
            for kind, fmt in (("multi_fp32", ".onnx"), ("multi_ort", ".ort")):
                answer = run_node(graphs[kind], multi_feeds)
                outputs = [[o[n] for n in MULTI_GRAPH_OUTPUTS] for o in answer["outputs"]]
                rows.append(multi_row(runtime, fmt, outputs, ("node", kind)))

        # onnx's reference evaluator: every op in plain Python/NumPy; too slow for photos, so a real crop.
        crop = np.ascontiguousarray(photos[0][100:190, 200:330])[np.newaxis]
        feed = {INPUT_NAME: crop, SCALE_FACTOR_NAME: np.array(0.9, np.float32)}
        start = time.perf_counter()
        evaluated = reference_evaluator(onnx.load(single_paths["fp32"])).run(list(SINGLE_GRAPH_OUTPUTS), feed)
        evaluator_ms = 1e3 * (time.perf_counter() - start)
        evaluator_raw = max(max_abs_differences(evaluated, python_single[single_paths["fp32"]](crop, 0.9)))

        # Speed, Python side interleaved.
        speed_feed = (speed_image[np.newaxis], SCALE)
        functions: dict[tuple, Callable[[], object]] = {}
        for (runtime, fmt, precision), (network, _) in plain.items():
            functions[("plain", runtime, fmt, precision)] = lambda n=network: n.run(speed_input)
        for (runtime, fmt, precision), (run, _) in single.items():
            functions[("single", runtime, fmt, precision)] = lambda r=run: r(*speed_feed)
        speed_multi = multi_feed(speed_image[np.newaxis], SCALE, MULTI_SETTINGS[0])
        for (runtime, fmt), run in multi.items():
            functions[("multi", runtime, fmt)] = lambda r=run: r(speed_multi)
        speeds = interleaved_ms(functions, args.repeats)
        if ortjs_missing() is None:
            node_ms[("node", "plain_fp32")] = run_node(graphs["plain_fp32"], [{INPUT_NAME: speed_input}], args.repeats)["ms"][0]
            feed = {INPUT_NAME: speed_image[np.newaxis], SCALE_FACTOR_NAME: np.array(SCALE, np.float32)}
            for kind in ("single_fp32", "single_ort", "single_int8"):
                node_ms[("node", kind)] = run_node(graphs[kind], [feed], args.repeats)["ms"][0]
            for kind in ("multi_fp32", "multi_ort"):
                node_ms[("node", kind)] = run_node(graphs[kind], [speed_multi], args.repeats)["ms"][0]

        # End to end through the Python API, fp32 vs int8.
        end_to_end = interleaved_ms(
            {
                ("fp32", "multi"): lambda: fp32.estimate_multiple_poses(speed_image, SCALE),
                ("int8", "multi"): lambda: int8.estimate_multiple_poses(speed_image, SCALE),
                ("fp32", "single"): lambda: fp32.estimate_single_pose(speed_image, SCALE),
                ("int8", "single"): lambda: int8.estimate_single_pose(speed_image, SCALE),
            },
            args.repeats,
        )
        load_after = os.getloadavg()

    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores; load average "
          f"{load_before[0]:.2f} before, {load_after[0]:.2f} after; onnxruntime {ort.__version__}, openvino "
          f"{ov.__version__.split('-')[0]}, onnx {onnx.__version__}")
    print()
    print("| runtime | graph | file | precision | raw max abs diff vs onnxruntime, same graph | keypoints px vs Python, "
          "same graph: median / max | vs fp32 Python: median / max | ms per call: median (fastest) |")
    print("|---|---|---|---|---:|---:|---:|---:|")
    for runtime, kind, fmt, precision, raw, same, versus, key in rows:
        if key in speeds:
            speed = "{:.2f} ({:.2f})".format(*speeds[key])
        else:
            speed = "{:.2f} ({:.2f}), own process".format(*node_ms[key]) if key in node_ms else "n/a"
        print(f"| {runtime} | {kind} | {fmt} | {precision} | {raw:.2g} | {np.median(same):.2g} / {same.max():.2g} | "
              f"{np.median(versus):.2g} / {versus.max():.2g} | {speed} |")
    print(f"| onnx ReferenceEvaluator | single-pose | .onnx | fp32 | {evaluator_raw:.2g} (a real 90x130 crop at scale 0.9) "
          f"| | | {evaluator_ms:.0f} (one call, the crop) |")
    print()
    print("End to end (`posenet_onnx.load(0.50, precision=...)`, couple.jpg 640x480, scale 0.5): fps median (fastest call)")
    print()
    print("| precision | estimate_single_pose | estimate_multiple_poses |")
    print("|---|---:|---:|")
    for precision in ("fp32", "int8"):
        single_ms, multi_ms = end_to_end[(precision, "single")], end_to_end[(precision, "multi")]
        print(f"| {precision} | {1e3 / single_ms[0]:.0f} ({1e3 / single_ms[1]:.0f}) | {1e3 / multi_ms[0]:.0f} ({1e3 / multi_ms[1]:.0f}) |")
    ratio = end_to_end[("fp32", "multi")][0] / end_to_end[("int8", "multi")][0]
    print(f"\nint8 / fp32 end-to-end speed-up (multi-pose, medians): {ratio:.2f}x")


if __name__ == "__main__":
    main()

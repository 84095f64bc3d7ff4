#!/usr/bin/env python
"""PoseNet in its home, the browser: our posenet.js (the site `posenet-onnx web` builds, onnxruntime-web's
WebAssembly backend) against the original @tensorflow-models/posenet 1.0.3 on @tensorflow/tfjs 1.1.2 (their
browser bundles, from scripts/jsref's npm install), in the same headless Chromium page, call after call.

On couple.jpg (640x480) at upstream's defaults (image scale 0.5, output stride 16; multi-pose: 5 poses, score
threshold 0.5, NMS radius 20): frames per second of each (median call) and their ratio, the backend each got
(the original gets WebGL when the browser gives it, else tfjs's CPU backend). The original's checkpoint is
answered from the offline mirror by request interception; the site is served by `posenet-onnx web --serve`.

Then where our WebAssembly time goes: onnxruntime-web's profiler, per operator type, at 1 and 2 threads,
next to native onnxruntime (Python, CPU) running the same graph on the same input with the same threads.

    python scripts/bench_web.py [--multiplier 0.50] [--rounds 30] [--algorithm multi] [--model-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from posenet_onnx.contract import MULTI_GRAPH_PARAMETERS, default_model_dir  # noqa: E402
from posenet_onnx.runtime.images import load_image  # noqa: E402
from posenet_onnx.runtime.web.onnxruntime_web import runtime_files  # noqa: E402
from posenet_onnx.runtime.web.site import MODELS_FOLDER, build_site, site_graphs  # noqa: E402
from support.browser import ONNXRUNTIME_WEB, browser_missing, run_script, served  # noqa: E402

ORIGINAL = REPO / "scripts" / "jsref" / "node_modules"
BUNDLES = {
    "tf.min.js": ORIGINAL / "@tensorflow" / "tfjs" / "dist" / "tf.min.js",
    "posenet.min.js": ORIGINAL / "@tensorflow-models" / "posenet" / "dist" / "posenet.min.js",
}
PAGE = """<!doctype html><link rel="icon" href="data:,"><title>bench</title>
<script src="tf.min.js"></script><script src="posenet.min.js"></script>
"""


def bench_page(site: Path, photo: Path) -> None:
    """The race's page in the site: the original package's browser bundles and the photo."""
    folder = site / "bench"
    folder.mkdir()
    for name, source in BUNDLES.items():
        shutil.copyfile(source, folder / name)
    shutil.copyfile(photo, folder / photo.name)
    (folder / "index.html").write_text(PAGE)


def native_profile(graph: Path, photo: Path, algorithm: str, threads: int, warmup: int, rounds: int) -> dict:
    """onnxruntime (Python, CPU) on the same graph and input: median ms per run and microseconds by op type."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    feed = {"image": load_image(photo)[np.newaxis], "image_scale_factor": np.array(0.5, np.float32)}
    if algorithm == "multi":
        feed.update(zip(MULTI_GRAPH_PARAMETERS, (np.array(5, np.int64), np.array(0.5, np.float32), np.array(20.0, np.float32))))
    plain = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
    ms = []
    for i in range(warmup + rounds):
        started = time.perf_counter()
        plain.run(None, feed)
        if i >= warmup:
            ms.append((time.perf_counter() - started) * 1000)
    options.enable_profiling = True
    with tempfile.TemporaryDirectory() as scratch:
        options.profile_file_prefix = os.path.join(scratch, "native")
        profiled = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        for _ in range(warmup + rounds):
            profiled.run(None, feed)
        events = json.loads(Path(profiled.end_profiling()).read_text())
    runs = [e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"][warmup:]
    start = runs[0]["ts"]
    by_op: dict[str, float] = defaultdict(float)
    for event in events:
        if event.get("cat") == "Node" and event["ts"] >= start and event["name"].endswith("_kernel_time"):
            by_op[op_kind(event["args"])] += event["dur"]
    return {"ms": ms, "byOpUs": dict(by_op), "runUs": [e["dur"] for e in runs]}


def op_kind(args: dict) -> str:
    """The op type; convolutions (Conv, and FusedConv with its activation) by their weights' shape, as bench.js's opKind."""
    op, inputs = args["op_name"], args.get("input_type_shape") or []
    weights = next(iter(inputs[1].values())) if op.endswith("Conv") and len(inputs) > 1 else None
    if weights is None or len(weights) != 4:
        return op
    _, per_group, height, width = weights
    kind = "depthwise" if per_group == 1 and height > 1 else "pointwise" if height == 1 else "full"
    return f"conv {kind} {height}x{width}"


def op_table(profiles: list[tuple[str, dict]], rounds: int, top: int = 8) -> list[str]:
    """Milliseconds per run by op type, one column per profile: the `top` heaviest ops of the first profile, the
    rest summed, the session run, and the convolutions' share of it. (A Loop's time includes its body's nodes,
    which are listed too: the rows do not add up to the run.)"""
    first = profiles[0][1]["byOpUs"]
    ops = sorted({op for _, p in profiles for op in p["byOpUs"]}, key=lambda op: -first.get(op, 0))
    per_run = lambda us: f"{us / rounds / 1000:.2f}"  # noqa: E731
    lines = ["| op | " + " | ".join(name for name, _ in profiles) + " |", "|---" * (len(profiles) + 1) + "|"]
    for op in ops[:top]:
        lines.append(f"| {op} | " + " | ".join(per_run(p["byOpUs"].get(op, 0)) for _, p in profiles) + " |")
    rest = [sum(p["byOpUs"].get(op, 0) for op in ops[top:]) for _, p in profiles]
    lines.append(f"| {len(ops) - top} other op types | " + " | ".join(per_run(us) for us in rest) + " |")
    runs = [sum(p["runUs"]) for _, p in profiles]
    lines.append("| **session run** | " + " | ".join(f"**{per_run(us)}**" for us in runs) + " |")
    shares = [sum(us for op, us in p["byOpUs"].items() if op.startswith("conv ")) / run for (_, p), run in zip(profiles, runs)]
    lines.append("| convolutions' share of the run | " + " | ".join(f"{share:.0%}" for share in shares) + " |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "posenet")
    parser.add_argument("--multiplier", type=float, default=0.50)
    parser.add_argument("--output-stride", type=int, default=16)
    parser.add_argument("--algorithm", choices=("multi", "single"), default="multi")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--model-dir", type=Path, default=None, help="exported graphs (default: the cache; missing ones are exported)")
    parser.add_argument("--no-profile", action="store_true", help="only the race")
    args = parser.parse_args()
    missing = browser_missing()
    if missing is not None or not all(path.is_file() for path in BUNDLES.values()):
        print(f"cannot run: {missing or 'the original package is not installed: run `make jsref`'}", file=sys.stderr)
        return 2
    photo = args.shared / "images" / "couple.jpg"
    checkpoints = args.shared / "checkpoints"
    model_dir = args.model_dir or default_model_dir()
    graphs = site_graphs([(args.multiplier, args.output_stride)], model_dir, checkpoints)
    graph = next(g.source for g in graphs if g.decoder == args.algorithm)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        site = build_site(Path(scratch) / "site", graphs, runtime_files(ONNXRUNTIME_WEB))
        bench_page(site, photo)
        with served(site) as base:
            request = {
                "site": base, "page": f"{base}bench/index.html", "image": f"{base}bench/{photo.name}",
                "multiplier": args.multiplier, "outputStride": args.output_stride, "algorithm": args.algorithm,
                "warmup": args.warmup, "rounds": args.rounds, "checkpointDir": str(checkpoints),
                "profiles": [] if args.no_profile else [{"numThreads": 1}, {"numThreads": 2}],
            }
            result = run_script("bench.js", request, timeout=3600)
    load_after = os.getloadavg()[0]

    ours, theirs = (statistics.median(result["ms"][who]) for who in ("ours", "theirs"))
    print(f"Machine: {platform.machine()}, {os.cpu_count()} logical cores; load average {load_before:.2f} before, "
          f"{load_after:.2f} after; {result['chromium']} headless (--disable-gpu), WebGL renderer: {result['webglRenderer']}")
    print(f"estimate{'Multiple' if args.algorithm == 'multi' else 'Single'}Pose(s) on {photo.name}, multiplier "
          f"{args.multiplier:.2f}, output stride {args.output_stride}, upstream's defaults; {args.rounds} calls each, "
          f"interleaved, after {args.warmup} warm-up calls\n")
    print("| package | backend | ms per call: median (fastest) | fps (median) | poses |")
    print("|---|---|---:|---:|---:|")
    for who, name, median in (("ours", "posenet-onnx posenet.js", ours), ("theirs", "@tensorflow-models/posenet 1.0.3", theirs)):
        print(f"| {name} | {result['backends'][who]} | {median:.1f} ({min(result['ms'][who]):.1f}) | {1000 / median:.1f} "
              f"| {len(result['poses'][who])} |")
    print(f"\nours / original, fps of the median calls: **{theirs / ours:.1f}x**")
    if result["record"]["offOrigin"]:
        print(f"(requests off the origin, answered locally: {len(result['record']['offOrigin'])} checkpoint files)")

    if result["profiles"]:
        print("\nWhere the WebAssembly time goes (ms per run by operator type; onnxruntime's profiler, "
              f"{args.rounds} runs after {args.warmup} warm-up runs):\n")
        columns = []
        for profile in result["profiles"]:
            threads = profile["numThreads"]
            columns.append((f"wasm, {threads} thread(s)", profile))
            columns.append((f"native, {threads} thread(s)", native_profile(graph, photo, args.algorithm, threads, args.warmup, args.rounds)))
        print("\n".join(op_table(columns, args.rounds)))
        print("\nSession run, unprofiled, median ms: " + ", ".join(
            f"{name} {statistics.median(p['ms']):.2f}" for name, p in columns))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""The self-contained multi-pose graph (`export --decoder multi`) against the Python path, on onnxruntime's CPU
provider, in one process, calls interleaved: the speed figures of docs/deployment.md and docs/export.md.

For each photo and parameter set: end-to-end ms per frame of
- python: `PoseNet.estimate_multiple_poses` on the plain graph (Numba resize, onnxruntime network, Numba decoder,
  Pose objects), from an RGB array;
- graph: one session call of the multi-pose graph on the uint8 photo (resize, network, decoder inside);
- input + network: the multi-pose graph cut after the network's four outputs (its own resize and network), so
  graph minus this is the decoder's own time inside the graph (slightly less: the decoder reads three of the
  outputs as N x C x H x W, and the cut adds their transposes to N x H x W x C);
- decoder alone: the graph's decoder nodes on their own (the network's outputs fed in, and transposed to
  N x C x H x W by the cut, which the whole graph does not do);
- resize: the graph cut after its resize (the network input: onnxruntime's Resize op, or with `--resize exact`
  tfjs's arithmetic bit for bit, as runtime/resize.py), beside runtime/resize.py's Numba kernel, which the
  Python path runs;
and the number of root candidates (local maxima above the threshold), which the in-graph decoder decodes all
of. Then, at upstream's defaults (the first row), where the time goes: the two paths alone, interleaved call
by call; the Python path's parts (its Numba resize, its network call, and the rest: decoder, Pose objects,
Python); the graph's decoder alone called back to back (its caches warm) and interleaved with the network
(its caches as the network leaves them, as in the whole graph). Every session runs with onnxruntime's default
threads and idle spinning off (several thread pools share the CPU; `--spinning` turns it on, onnxruntime's default). Speed-up = python median / graph median (above 1: the graph is faster). `--provider cuda` or
`tensorrt` runs every session on that GPU provider instead (nodes it lacks fall back to CUDA and the CPU).

    python scripts/bench_multi_graph.py [--shared ../shared/posenet] [--model-dir DIR] [--repeats 300]
                                        [--threads N] [--provider cpu|cuda|tensorrt] [--resize fast|exact]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "tests"))

import posenet_onnx  # noqa: E402
from posenet_onnx.contract import (  # noqa: E402
    DEFAULT_RESIZE,
    INPUT_NAME,
    MAX_POSES_NAME,
    MULTI_GRAPH_OUTPUTS,
    NMS_RADIUS_NAME,
    OUTPUT_NAMES,
    RESIZES,
    SCALE_FACTOR_NAME,
    SCORE_THRESHOLD_NAME,
    model_filename,
)
from posenet_onnx.decode.candidates import build_part_queue  # noqa: E402
from posenet_onnx.export import export_model  # noqa: E402
from posenet_onnx.runtime.images import load_image  # noqa: E402
from bench_resize import interleaved_ms  # noqa: E402
from posenet_onnx.runtime.resize import resize_bilinear, valid_resolution  # noqa: E402
from support.runtimes import decoder_part, input_part, network_part  # noqa: E402

# (photo relative to the shared folder, image scale factor, max_pose_detections, score_threshold)
CASES = (
    ("images/couple.jpg", 0.5, 5, 0.5),  # upstream's defaults: the speed target
    ("images/couple.jpg", 0.5, 20, 0.1),
    ("images/couple.jpg", 1.0, 5, 0.5),
    ("images/couple.jpg", 1.0, 20, 0.1),
    ("photos/mmpose_coco/000000040083.jpg", 0.5, 20, 0.1),
    ("images/pose.jpg", 1.0, 20, 0.1),
)
NMS_RADIUS = 20.0
PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}


def graphs(model_dir: Path, checkpoint_dir: Path, resize: str) -> tuple[Path, Path]:
    """The plain and the multi-pose 0.50 stride-16 fp32 graphs in `model_dir` (exported when missing)."""
    paths = []
    for decoder in (None, "multi"):
        options = {"decoder": decoder, **({"resize": resize} if decoder else {})}
        path = model_dir / model_filename(0.50, 16, **options)
        if not path.is_file():
            export_model(0.50, 16, model_dir, checkpoint_dir=checkpoint_dir, progress=False, **options)
        paths.append(path)
    return paths[0], paths[1]


def graph_feeds(image: np.ndarray, scale: float, max_poses: int, threshold: float) -> tuple[dict, dict]:
    """The network cut's feed (the photo and the scale) and the whole graph's (with the decoding parameters)."""
    images = {INPUT_NAME: image[np.newaxis], SCALE_FACTOR_NAME: np.array(scale, np.float32)}
    return images, {
        **images,
        MAX_POSES_NAME: np.array(max_poses, np.int64),
        SCORE_THRESHOLD_NAME: np.array(threshold, np.float32),
        NMS_RADIUS_NAME: np.array(NMS_RADIUS, np.float32),
    }


def session_options(threads: int | None, spinning: bool) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    if threads:
        options.intra_op_num_threads = threads
    return options


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "posenet")
    parser.add_argument("--model-dir", type=Path, default=None, help="graphs kept here (default: a temporary folder)")
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime's intra-op threads (default: its choice)")
    parser.add_argument("--provider", choices=PROVIDERS, default="cpu")
    parser.add_argument("--spinning", action="store_true", help="let idle pool threads spin (onnxruntime's default)")
    parser.add_argument("--resize", choices=RESIZES, default=DEFAULT_RESIZE, help="the multi-pose graph's resize")
    args = parser.parse_args()
    providers = PROVIDERS[args.provider]

    with tempfile.TemporaryDirectory() as scratch:
        model_dir = args.model_dir or Path(scratch)
        plain, multi = graphs(model_dir, args.shared / "checkpoints", args.resize)
        net = posenet_onnx.load(plain, providers=providers, allow_spinning=args.spinning, intra_op_threads=args.threads)
        graph, network, decoder, resize = (
            ort.InferenceSession(model, session_options(args.threads, args.spinning), providers=providers)
            for model in (str(multi), network_part(multi), decoder_part(multi), input_part(multi))
        )
        print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical cores; onnxruntime "
              f"{ort.__version__} on {graph.get_providers()[0]} ({args.provider}), threads {args.threads or 'default'}, "
              f"spinning {'on' if args.spinning else 'off'}; load average before: "
              f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        print("| photo | scale | poses, threshold | candidates | python ms | graph ms | input + network ms "
              "| decoder ms (graph - input + network) | decoder alone ms | resize ms: graph / Python | speed-up (medians) |")
        print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name, scale, max_poses, threshold in CASES:
            image = load_image(args.shared / name)
            images, feed = graph_feeds(image, scale, max_poses, threshold)
            outputs = dict(zip(OUTPUT_NAMES, network.run(list(OUTPUT_NAMES), images)))
            heatmaps = outputs[OUTPUT_NAMES[0]][0]
            candidates = build_part_queue(
                heatmaps, threshold, np.empty(heatmaps.size, np.float32), np.empty(heatmaps.size, np.int64)
            )
            decoder_feed = {**feed, **outputs}
            size = [valid_resolution(scale, side, 16) for side in image.shape[:2]]
            expected = net.estimate_multiple_poses(image, scale, max_pose_detections=max_poses, score_threshold=threshold)
            assert graph.run([MULTI_GRAPH_OUTPUTS[3]], feed)[0][0] == len(expected), "the graph finds other poses"
            ms = interleaved_ms(
                {
                    "python": lambda: net.estimate_multiple_poses(
                        image, scale, max_pose_detections=max_poses, score_threshold=threshold, nms_radius=NMS_RADIUS
                    ),
                    "graph": lambda: graph.run(None, feed),
                    "network": lambda: network.run(None, images),
                    "decoder": lambda: decoder.run(None, decoder_feed),
                    "resize": lambda: resize.run(None, images),
                    "numba resize": lambda: resize_bilinear(image[np.newaxis], *size),
                },
                args.repeats,
            )
            (python, python_min), (whole, whole_min), (part, part_min) = ms["python"], ms["graph"], ms["network"]
            alone, alone_min = ms["decoder"]
            resized, resized_min, numba, numba_min = *ms["resize"], *ms["numba resize"]
            print(f"| {Path(name).name} {image.shape[1]}x{image.shape[0]} | {scale} | {max_poses}, {threshold} "
                  f"| {candidates} | {python:.2f} ({python_min:.2f}) | {whole:.2f} ({whole_min:.2f}) "
                  f"| {part:.2f} ({part_min:.2f}) | {whole - part:.2f} ({whole_min - part_min:.2f}) "
                  f"| {alone:.2f} ({alone_min:.2f}) | {resized:.2f} ({resized_min:.2f}) / {numba:.2f} ({numba_min:.2f}) "
                  f"| {python / whole:.2f} |", flush=True)
        plain_session = ort.InferenceSession(str(plain), session_options(args.threads, args.spinning), providers=providers)
        where_the_time_goes(net, plain_session, graph, network, decoder, args.shared, args.repeats)
        print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


def where_the_time_goes(
    net: posenet_onnx.PoseNet, plain: ort.InferenceSession, graph: ort.InferenceSession,
    network: ort.InferenceSession, decoder: ort.InferenceSession, shared: Path, repeats: int,
) -> None:
    """The first case's breakdown (see the module docstring), printed as three lines."""
    name, scale, max_poses, threshold = CASES[0]
    image = load_image(shared / name)
    images, feed = graph_feeds(image, scale, max_poses, threshold)
    decoder_feed = {**feed, **dict(zip(OUTPUT_NAMES, network.run(list(OUTPUT_NAMES), images)))}
    size = [valid_resolution(scale, side, 16) for side in image.shape[:2]]
    network_input = {INPUT_NAME: resize_bilinear(image[np.newaxis], *size)}

    def python_path() -> object:
        return net.estimate_multiple_poses(image, scale, max_pose_detections=max_poses, score_threshold=threshold)

    pair = interleaved_ms({"python": python_path, "graph": lambda: graph.run(None, feed)}, repeats)
    python, whole = pair["python"][0], pair["graph"][0]
    print(f"\n{Path(name).name}, {scale}, {max_poses}, {threshold}: the two alone, interleaved: python {python:.2f} ms, "
          f"graph {whole:.2f} ms, speed-up {python / whole:.2f}")
    parts = interleaved_ms(
        {
            "python": python_path,
            "numba resize": lambda: resize_bilinear(image[np.newaxis], *size),
            "network call": lambda: plain.run(None, network_input),
        },
        repeats,
    )
    python, resized, called = parts["python"][0], parts["numba resize"][0], parts["network call"][0]
    print(f"python path: Numba resize {resized:.2f} ms, network call {called:.2f} ms, the rest (decoder, Pose "
          f"objects, Python) {python - resized - called:.2f} ms, of {python:.2f} ms")
    warm = interleaved_ms({"decoder": lambda: decoder.run(None, decoder_feed)}, repeats)["decoder"][0]
    after = interleaved_ms(
        {"network": lambda: network.run(None, images), "decoder": lambda: decoder.run(None, decoder_feed)}, repeats
    )["decoder"][0]
    print(f"graph's decoder alone: back to back {warm:.2f} ms, interleaved with the network {after:.2f} ms")


if __name__ == "__main__":
    main()

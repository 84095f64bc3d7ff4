#!/usr/bin/env python
"""End-to-end PoseNet speed on this machine: frames per second, where the time goes, and the baselines.

In one process, on a real 640x480 photo (couple.jpg, two people) at image scale 0.5, CPU:
1. end-to-end fps of `estimate_single_pose` / `estimate_multiple_poses` for every valid multiplier x
   output stride, with the multi-pose time split into preprocessing (resize), network (onnxruntime),
   decoding (Numba) and the rest (input checks, Pose objects), measured inside the real calls;
2. batch 8 vs batch 1 throughput (`estimate_multiple_poses_batch`);
3. the Numba decoder vs its plain-Python form (the same functions' `.py_func`), on real network outputs;
4. onnxruntime vs TensorFlow running the same network (upstream's formulation) on the same input, and
   end to end against a TensorFlow port (that network + the decoder as plain Python);
5. the video pipeline on the squats clip: each stage alone vs the three overlapped (and the same with
   onnxruntime's idle spinning off).
Timings: the median and the fastest of interleaved calls (ratios compare calls made side by side).
The 0.50 graphs use the real checkpoint; the others synthetic weights in the real shapes
(tests/support/synthetic.py): the same network cost, but their decoding times are not representative.

    python scripts/bench_pipeline.py [--shared ../shared/posenet] [--seconds 2.0] [--model-dir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import onnxruntime as ort

import posenet_onnx
import posenet_onnx.decode
import posenet_onnx.runtime.posenet as runtime_posenet
from posenet_onnx.decode import decode_multiple_poses, decode_single_pose
from posenet_onnx.contract import INPUT_NAME, OUTPUT_NAMES, VALID_MODELS, checkpoint_name, model_filename
from posenet_onnx.runtime.images import load_image
from posenet_onnx.runtime.providers import create_session
from posenet_onnx.runtime.resize import resize_bilinear, valid_resolution

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tests/support: reference and synthetic nets
from bench_decode import plain_python  # noqa: E402  (the decoder's plain-Python baseline, one definition)

REPO = Path(__file__).resolve().parents[1]
SCALE = 0.5
BATCH = 8
SYNTHETIC_SHAPES = {0.75: "mobilenet_v1_075.json", 1.00: "mobilenet_v1_100.json", 1.01: "mobilenet_v1_100.json"}
TARGET_FPS = 150.0
TARGET_DECODE_SHARE = 0.02


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Timing:
    """Seconds per call: the median (what this machine gave, load included) and the fastest call (what it
    gives when the cores are free; the closest to an idle machine that a shared one can measure)."""

    median: float
    fastest: float

    def fps(self, frames: int = 1) -> str:
        return f"{frames / self.median:.0f} ({frames / self.fastest:.0f})"

    def ms(self, digits: int = 2) -> str:
        return f"{self.median * 1e3:.{digits}f} ({self.fastest * 1e3:.{digits}f})"

    def speedup(self, other: Timing) -> str:
        """How many times faster `other` is, from the medians (and from the fastest calls)."""
        ratios = (self.median / other.median, self.fastest / other.fastest)
        return "{}x ({}x)".format(*(f"{r:.2f}" if r < 10 else f"{r:.0f}" for r in ratios))


def interleaved(calls: dict[str, Callable[[], object]], seconds: float, min_rounds: int = 5) -> dict[str, Timing]:
    """Time each function, called in turn (round robin) for about `seconds` in all after a warm-up round,
    so that load drifting on a shared machine hits all of them alike."""
    for call in calls.values():
        call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times[next(iter(calls))]) < min_rounds:
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: Timing(statistics.median(values), min(values)) for name, values in times.items()}


@contextlib.contextmanager
def stage_clocks() -> Iterator[dict[str, float]]:
    """Accumulate the seconds spent in the runtime's preprocessing, network and decoding calls, by wrapping
    the functions `posenet_onnx.runtime.posenet` calls (and onnxruntime's `InferenceSession.run`)."""
    totals = {"preprocess": 0.0, "network": 0.0, "decode": 0.0}
    targets = [(runtime_posenet, "resize_bilinear", "preprocess"), (ort.InferenceSession, "run", "network")]
    targets += [(runtime_posenet, name, "decode") for name in dir(runtime_posenet) if name.startswith("decode_")]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in targets]

    def clocked(function: Callable, stage: str) -> Callable:
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                totals[stage] += time.perf_counter() - start

        return wrapper

    for (owner, name, stage), (_, _, original) in zip(targets, originals):
        setattr(owner, name, clocked(original, stage))
    try:
        yield totals
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


def prepare_models(shared: Path, model_dir: Path, scratch: Path) -> dict[float, Path]:
    """Export every valid graph into `model_dir` (kept if already there); return each multiplier's checkpoint folder."""
    from posenet_onnx.export import export_model
    from support.synthetic import write_synthetic_checkpoint

    synthetic = scratch / "checkpoints"
    for seed, (multiplier, manifest) in enumerate(SYNTHETIC_SHAPES.items()):
        write_synthetic_checkpoint(synthetic / checkpoint_name(multiplier), shared / "manifests" / manifest, seed)
    roots = {0.50: shared / "checkpoints", **{m: synthetic for m in SYNTHETIC_SHAPES}}
    for multiplier, output_stride in VALID_MODELS:
        if not (model_dir / model_filename(multiplier, output_stride)).is_file():
            log(f"exporting {model_filename(multiplier, output_stride)}")
            export_model(multiplier, output_stride, model_dir, checkpoint_dir=roots[multiplier], progress=False)
    return {m: roots[m] / checkpoint_name(m) for m in roots}


def label(multiplier: float, output_stride: int) -> str:
    return f"{multiplier:.2f} s{output_stride}" + ("" if multiplier == 0.50 else " (synthetic)")


def network_input(image: np.ndarray, output_stride: int) -> np.ndarray:
    height = valid_resolution(SCALE, image.shape[0], output_stride)
    width = valid_resolution(SCALE, image.shape[1], output_stride)
    return resize_bilinear(image[np.newaxis], height, width)


def end_to_end(image: np.ndarray, model_dir: Path, seconds: float) -> dict[tuple[float, int], dict[str, float]]:
    """Section 1: fps single and multi per model, and the multi-pose time split by stage."""
    print("\n### End to end: one 640x480 frame at scale 0.5, fps median (fastest call)\n")
    print(
        "| model | network input | single pose | multi-pose "
        "| multi: preprocess ms | network ms | decode ms | rest ms | decode share |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    results = {}
    for multiplier, output_stride in VALID_MODELS:
        net = posenet_onnx.load(multiplier, device="cpu", model_dir=model_dir)
        timings = interleaved(
            {
                "single": lambda: net.estimate_single_pose(image, SCALE, False, output_stride),
                "multi": lambda: net.estimate_multiple_poses(image, SCALE, False, output_stride),
            },
            seconds,
        )
        split = stage_split(lambda: net.estimate_multiple_poses(image, SCALE, False, output_stride), seconds / 2)
        shape = network_input(image, output_stride).shape
        print(
            f"| {label(multiplier, output_stride)} | {shape[1]}x{shape[2]} "
            f"| {timings['single'].fps()} | {timings['multi'].fps()} | "
            + " | ".join(f"{split[stage] * 1e3:.2f}" for stage in ("preprocess", "network", "decode", "rest"))
            + f" | {split['decode'] / split['total']:.1%} |",
            flush=True,
        )
        results[multiplier, output_stride] = {"multi": timings["multi"], **split}
    return results


def stage_split(call: Callable[[], object], seconds: float) -> dict[str, float]:
    """Median seconds per call spent in each stage of `call` (see `stage_clocks`), the rest, and the total."""
    per_call: list[dict[str, float]] = []
    with stage_clocks() as clocks:
        deadline = time.perf_counter() + seconds
        while len(per_call) < 20 or time.perf_counter() < deadline:
            before = dict(clocks)
            start = time.perf_counter()
            call()
            total = time.perf_counter() - start
            stages = {stage: clocks[stage] - before[stage] for stage in clocks}
            per_call.append({**stages, "rest": total - sum(stages.values()), "total": total})
    return {key: statistics.median(c[key] for c in per_call) for key in per_call[0]}


def batch_throughput(image: np.ndarray, model_dir: Path, seconds: float) -> None:
    """Section 2: frames per second, batch of 8 vs one frame per call."""
    print(f"\n### Batch {BATCH} vs batch 1: multi-pose frames per second, median (fastest call)\n")
    print(f"| model | batch 1 | batch {BATCH} | batch gain |")
    print("|---|---:|---:|---:|")
    frames = [image] * BATCH
    for multiplier, output_stride in ((0.50, 16), (0.50, 8), (1.01, 16)):
        net = posenet_onnx.load(multiplier, device="cpu", model_dir=model_dir)
        timings = interleaved(
            {
                "one": lambda: net.estimate_multiple_poses(image, SCALE, False, output_stride),
                "batch": lambda: net.estimate_multiple_poses_batch(frames, SCALE, False, output_stride),
            },
            seconds,
        )
        one, batch = timings["one"], timings["batch"]
        per_frame = Timing(batch.median / BATCH, batch.fastest / BATCH)
        print(
            f"| {label(multiplier, output_stride)} | {one.fps()} | {batch.fps(BATCH)} | {one.speedup(per_frame)} |",
            flush=True,
        )


def decoder_speed(image: np.ndarray, model_dir: Path, seconds: float) -> None:
    """Section 3: the Numba decoder vs the same code as plain Python, on the real 0.50 outputs."""
    print("\n### Decoder: Numba vs plain Python (`.py_func`), real 0.50 outputs of the photo, median (fastest call)\n")
    print("| stride | grid | decoder | Numba ms | plain Python ms | speed-up |")
    print("|---|---|---|---:|---:|---:|")
    for output_stride in (16, 8):
        session = create_session(model_dir / model_filename(0.50, output_stride), "cpu")
        outputs = dict(
            zip(
                OUTPUT_NAMES,
                (o[0] for o in session.run(list(OUTPUT_NAMES), {INPUT_NAME: network_input(image, output_stride)})),
            )
        )
        grid = "x".join(map(str, outputs["heatmap_scores"].shape[:2]))
        decoders = {
            "single": lambda: decode_single_pose(outputs["heatmap_scores"], outputs["offsets"], output_stride),
            "multi": lambda: decode_multiple_poses(*(outputs[name] for name in OUTPUT_NAMES), output_stride),
        }
        for name, decode in decoders.items():
            jitted = interleaved({"numba": decode}, seconds / 4)["numba"]
            with plain_python():
                python = interleaved({"python": decode}, seconds / 4, min_rounds=3)["python"]
            print(
                f"| {output_stride} | {grid} | {name} | {jitted.ms(3)} | {python.ms(1)} | {python.speedup(jitted)} |",
                flush=True,
            )


def onnxruntime_vs_tensorflow(
    image: np.ndarray, model_dir: Path, checkpoints: dict[float, Path], seconds: float
) -> None:
    """Section 4: the same network in onnxruntime (the package's session) and in TensorFlow as upstream writes
    it (tests/support/reference.py; the explicit-padding function that is converted needs oneDNN in TensorFlow);
    then end to end against a TensorFlow port: that network plus the decoder as plain Python."""
    from posenet_onnx.export.checkpoint import load_checkpoint
    from posenet_onnx.export.quiet import import_tensorflow
    from support.reference import upstream_function

    tf = import_tensorflow()
    print("\n### Network: onnxruntime vs TensorFlow, same network and input, median (fastest call)\n")
    print("| model | network input | TensorFlow ms | onnxruntime ms | speed-up |")
    print("|---|---|---:|---:|---:|")
    for multiplier, output_stride in VALID_MODELS:
        tensor = network_input(image, output_stride)
        session = create_session(model_dir / model_filename(multiplier, output_stride), "cpu")
        function = upstream_function(tf, load_checkpoint(checkpoints[multiplier]), multiplier, output_stride)
        constant = tf.constant(tensor)
        timings = interleaved(
            {
                "tf": lambda: [t.numpy() for t in function(constant)],
                "ort": lambda: session.run(None, {INPUT_NAME: tensor}),
            },
            seconds,
        )
        print(
            f"| {label(multiplier, output_stride)} | {tensor.shape[1]}x{tensor.shape[2]} | {timings['tf'].ms()} | "
            f"{timings['ort'].ms()} | {timings['tf'].speedup(timings['ort'])} |",
            flush=True,
        )
    print(
        "\n### posenet-onnx vs a TensorFlow port (TensorFlow network + the decoder as plain Python): "
        "multi-pose fps, median (fastest call)\n"
    )
    print("| model | TensorFlow port | posenet-onnx | speed-up |")
    print("|---|---:|---:|---:|")
    for output_stride in (16, 8):
        net = posenet_onnx.load(0.50, device="cpu", model_dir=model_dir)
        function = upstream_function(tf, load_checkpoint(checkpoints[0.50]), 0.50, output_stride)

        def tensorflow_port() -> object:
            outputs = [t.numpy()[0] for t in function(tf.constant(network_input(image, output_stride)))]
            with plain_python():
                return decode_multiple_poses(*outputs, output_stride)

        timings = interleaved(
            {"port": tensorflow_port, "ours": lambda: net.estimate_multiple_poses(image, SCALE, False, output_stride)},
            seconds,
        )
        print(
            f"| {label(0.50, output_stride)} | {timings['port'].fps()} | {timings['ours'].fps()} | "
            f"{timings['port'].speedup(timings['ours'])} |",
            flush=True,
        )


def video_pipeline(video: Path, model_dir: Path, scratch: Path, rounds: int = 3) -> None:
    """Section 5: the squats clip through each stage alone, one after another, then through the overlapped
    pipeline, also with onnxruntime's idle spinning off; medians of `rounds` interleaved rounds."""
    from posenet_onnx.runtime.draw import draw_poses
    from posenet_onnx.runtime.video.pipeline import annotate_video, open_video, open_video_writer

    nets = {
        suffix: posenet_onnx.load(0.50, device="cpu", model_dir=model_dir, allow_spinning=spinning)
        for suffix, spinning in (("", True), (", onnxruntime idle spinning off", False))
    }
    times: dict[str, list[float]] = {}

    def clock(name: str, run: Callable[[], object]) -> object:
        start = time.perf_counter()
        result = run()
        times.setdefault(name, []).append(time.perf_counter() - start)
        return result

    def read() -> list[np.ndarray]:
        with open_video(str(video)) as (_, frames):
            return [frame.image for frame in frames]

    def draw_and_encode() -> None:
        with open_video_writer(scratch / "stage.mp4", 5.0) as writer:
            for image, found in zip(images, poses):
                writer.append_data(np.asarray(draw_poses(image, found)))

    for _ in range(rounds):
        images = clock("read (decode video) alone", read)
        for suffix, each in nets.items():
            poses = clock(
                f"estimate (multi-pose) alone{suffix}",
                lambda each=each: [each.estimate_multiple_poses(i, SCALE) for i in images],
            )
        clock("draw + encode alone", draw_and_encode)
        for suffix, each in nets.items():
            clock(
                f"`annotate_video` (overlapped, + JSON lines){suffix}",
                lambda each=each: annotate_video(
                    video,
                    lambda frame: each.estimate_multiple_poses(frame, SCALE),
                    output=scratch / "pipeline.mp4",
                    jsonl=scratch / "pipeline.jsonl",
                ),
            )
    medians = {name: statistics.median(values) for name, values in times.items()}
    stages = ["read (decode video) alone", "estimate (multi-pose) alone", "draw + encode alone"]
    medians_in_order = [(name, medians.pop(name)) for name in stages]
    medians_in_order += [("the three one after another (sum)", sum(t for _, t in medians_in_order))]
    medians_in_order += list(medians.items())
    count, (height, width) = len(images), images[0].shape[:2]
    print(f"\n### Video: {video.name} ({count} frames, {width}x{height}), 0.50 s16 multi-pose, scale 0.5")
    print(f"(medians of {rounds} interleaved rounds)\n")
    print("| stage | seconds | fps |")
    print("|---|---:|---:|")
    for name, seconds in medians_in_order:
        print(f"| {name} | {seconds:.2f} | {count / seconds:.0f} |", flush=True)


def summary(results: dict[tuple[float, int], dict]) -> None:
    reference = results[0.50, 16]
    multi, share = reference["multi"], reference["decode"] / reference["total"]
    print("\n### Targets (0.50, stride 16, scale 0.5, 640x480, multi-pose)\n")
    print(
        f"- end to end: {1 / multi.median:.0f} fps median, {1 / multi.fastest:.0f} fps fastest call "
        f"(target >= {TARGET_FPS:.0f}): {'met' if 1 / multi.median >= TARGET_FPS else 'missed'} by the median, "
        f"{'met' if 1 / multi.fastest >= TARGET_FPS else 'missed'} by the fastest call"
    )
    print(
        f"- decoding: {share:.1%} of the frame time (target < {TARGET_DECODE_SHARE:.0%}): "
        f"{'met' if share < TARGET_DECODE_SHARE else 'missed'}"
    )


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{cpu}, {os.cpu_count()} logical cores, load average {load:.2f}; Python {platform.python_version()}, "
        f"onnxruntime {ort.__version__}, numba {numba.__version__}, numpy {np.__version__}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "posenet", help="the real data folder")
    parser.add_argument("--seconds", type=float, default=2.0, help="time budget per measurement (default 2.0)")
    parser.add_argument(
        "--model-dir", type=Path, help="keep the exported graphs here between runs (default: a temporary folder)"
    )
    args = parser.parse_args()
    image = load_image(args.shared / "images" / "couple.jpg")
    print(f"`{' '.join(['python scripts/bench_pipeline.py', *sys.argv[1:]])}`")
    print(f"\nMachine: {machine()}")
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        model_dir = args.model_dir or scratch / "models"
        model_dir.mkdir(parents=True, exist_ok=True)
        checkpoints = prepare_models(args.shared, model_dir, scratch)
        results = end_to_end(image, model_dir, args.seconds)
        batch_throughput(image, model_dir, args.seconds)
        decoder_speed(image, model_dir, args.seconds)
        video_pipeline(args.shared / "images" / "pose_squats.mp4", model_dir, scratch)
        onnxruntime_vs_tensorflow(image, model_dir, checkpoints, args.seconds)
        summary(results)
    print(f"\nLoad average at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

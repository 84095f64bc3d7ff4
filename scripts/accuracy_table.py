#!/usr/bin/env python
"""Accuracy against speed: OKS AP on the annotated photos and end-to-end fps, in one run, per setting.

For each real checkpoint (0.50 and 0.75, exported here from ../shared/posenet/checkpoints) and each setting
(the presets, and every combination of image scale 0.5/1.0, output stride 8/16, refinement v1/v2, flip test
off/on; multi-pose, upstream's other defaults):
- COCO keypoint OKS AP, AP50 and AR on the 28 annotated photos (photos/coco17_all.json), as `posenet-onnx
  evaluate` computes them;
- end-to-end frames per second of `PoseNet.estimate` on one decoded 640x480 photo (couple.jpg: resize,
  network, decoding, Pose objects), fp32 on the CPU, the median of interleaved slices (every setting of a
  model takes its turn in each round, so a busy machine slows all settings alike): wall-clock fps with
  onnxruntime's default threads, and fps on one core (one onnxruntime thread; the calling thread's CPU
  time, which the load of other processes on a shared machine barely changes).
Prints one Markdown table (the rows docs/accuracy.md and the README show).

    python scripts/accuracy_table.py [--shared ../shared/posenet] [--rounds 7] [--slice 0.3] [--model-dir DIR]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import posenet_onnx
from posenet_onnx.runtime.evaluation import coco
from posenet_onnx.runtime.images import load_image
from posenet_onnx.runtime.settings import PRESETS, EstimateSettings

REPO = Path(__file__).resolve().parents[1]
MULTIPLIERS = (0.50, 0.75)
GRID = {"image_scale_factor": (0.5, 1.0), "output_stride": (8, 16), "refinement": ("v1", "v2"), "flip_test": (False, True)}


def settings_to_measure() -> dict[EstimateSettings, str]:
    """Every grid setting and the presets, each once: setting -> the presets it is ("" for none)."""
    base = EstimateSettings(multi_pose=True)
    measured: dict[EstimateSettings, str] = {}
    for name, values in PRESETS.items():
        preset = replace(base, **{**values, "output_stride": values["output_stride"] or 16})
        measured[preset] = f"{measured[preset]}, {name}" if preset in measured else name
    for values in itertools.product(*GRID.values()):
        measured.setdefault(replace(base, **dict(zip(GRID, values))), "")
    return measured


def frames_per_second(
    nets: tuple[posenet_onnx.PoseNet, posenet_onnx.PoseNet], image, settings: list[EstimateSettings], rounds: int, seconds: float
) -> list[tuple[float, float]]:
    """Per setting: the median wall-clock fps (onnxruntime's default threads) and the median fps on one core
    (one onnxruntime thread, the calling thread's CPU time, which other processes' load barely changes), over
    `rounds` interleaved slices of about `seconds` each."""
    wall_net, one_thread = nets
    for s in settings:
        wall_net.estimate([image], s), one_thread.estimate([image], s)  # open the graphs, compile the decoder
    wall: list[list[float]] = [[] for _ in settings]
    cpu: list[list[float]] = [[] for _ in settings]
    for _ in range(rounds):
        for i, s in enumerate(settings):
            for net, clock, rates in ((wall_net, time.perf_counter, wall), (one_thread, time.thread_time, cpu)):
                calls, start, started = 0, time.perf_counter(), clock()
                while calls < 2 or time.perf_counter() - start < seconds:
                    net.estimate([image], s)
                    calls += 1
                rates[i].append(calls / (clock() - started))
    return [(statistics.median(w), statistics.median(c)) for w, c in zip(wall, cpu)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "posenet")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--slice", type=float, default=0.3, help="seconds per setting per round")
    parser.add_argument("--model-dir", type=Path, default=None, help="exported graphs (default: exported into a temporary folder)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        model_dir = args.model_dir or Path(scratch)
        photos = args.shared / "photos"
        ground_truth = coco.load_annotations(photos / "coco17_all.json")
        image = load_image(args.shared / "images" / "couple.jpg")
        measured = settings_to_measure()
        rows = []
        for multiplier in MULTIPLIERS:
            load = lambda **options: posenet_onnx.load(  # noqa: E731
                multiplier, model_dir=model_dir, checkpoint_dir=args.shared / "checkpoints", device="cpu", **options
            )
            net = load()
            configurations = [coco.Configuration("fp32", s) for s in measured]
            evaluations = coco.evaluate(ground_truth, photos, lambda precision: net, configurations)
            print(f"{multiplier:.2f}: accuracy done, timing", file=sys.stderr, flush=True)
            fps = frames_per_second((net, load(intra_op_threads=1)), image, list(measured), args.rounds, args.slice)
            for (s, preset), evaluation, rates in zip(measured.items(), evaluations, fps):
                rows.append((multiplier, preset, s, evaluation.metrics, rates))

    print("| multiplier | preset | scale | stride | refinement | flip test | AP | AP50 | AR | fps | fps, one core |")
    print("|---|---|---:|---:|---|---|---:|---:|---:|---:|---:|")
    for multiplier, preset, s, metrics, (wall, cpu) in rows:
        print(
            f"| {multiplier:.2f} | {preset} | {s.image_scale_factor:g} | {s.output_stride} | {s.refinement} | "
            f"{'on' if s.flip_test else 'off'} | {100 * metrics['AP']:.1f} | {100 * metrics['AP50']:.1f} | "
            f"{100 * metrics['AR']:.1f} | {wall:.0f} | {cpu:.0f} |"
        )


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Benchmark the fp16 and int8 graphs against fp32: CPU speed and the accuracy cost, at 513x513.

In one process: the real 0.50 checkpoint exported at fp32, fp16 and int8 (int8 calibrated on the
photos in <shared>/images), then
- speed: median onnxruntime CPU time per 513x513 image, the three graphs interleaved, ratio to fp32;
- accuracy on the held-out annotated photos in <shared>/photos (not used for calibration):
  single-pose keypoint shift against fp32 (median / p95 pixels, all keypoints and those fp32 scores
  >= 0.5), and multi-pose changes (upstream defaults: 5 poses, threshold 0.5, NMS radius 20; poses
  scoring >= 0.15, the upstream demo's minimum): a pose changes if no pose of the other graph has its
  keypoints within the NMS radius (20 px) on average.

    python scripts/bench_precision.py [--shared ../shared/posenet] [--output-stride 16] [--repeats 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from posenet_onnx.decode import DecodedPoses, decode_multiple_poses, decode_single_pose
from posenet_onnx.export import export_model
from posenet_onnx.contract import INPUT_NAME

REPO = Path(__file__).resolve().parents[1]
PRECISIONS = ("fp32", "fp16", "int8")
SIZE = 513
MIN_POSE_SCORE = 0.15
NMS_RADIUS = 20.0  # upstream's default, model-input pixels


def load(path: Path) -> np.ndarray:
    image = Image.open(path).convert("RGB").resize((SIZE, SIZE), Image.BILINEAR)
    return np.asarray(image, dtype=np.float32)[None]


def speed(sessions: dict[str, ort.InferenceSession], image: np.ndarray, repeats: int) -> dict[str, float]:
    """Median seconds per run, the sessions interleaved so that all see the same machine load."""
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for repeat in range(repeats + 3):
        for name, session in sessions.items():
            start = time.perf_counter()
            session.run(None, {INPUT_NAME: image})
            if repeat >= 3:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def shown_poses(poses: DecodedPoses) -> np.ndarray:
    """Keypoints [P, 17, 2] of the poses upstream's demo would draw (pose score >= MIN_POSE_SCORE)."""
    return poses.keypoints[poses.scores >= MIN_POSE_SCORE]


def unmatched(poses: np.ndarray, others: np.ndarray, radius: float) -> int:
    """How many of `poses` [P, 17, 2] have no pose in `others` within `radius` mean keypoint distance."""
    return sum(not any(np.linalg.norm(pose - other, axis=1).mean() <= radius for other in others) for pose in poses)


def cpu_options() -> ort.SessionOptions:
    """Session options for timing: no idle spinning, so that one session's threads never slow the next."""
    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "posenet")
    parser.add_argument("--output-stride", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    stride = args.output_stride

    photos = args.shared / "photos"
    evaluation = [
        photos / entry["file_name"] for entry in json.loads((photos / "coco17_all.json").read_text())["images"]
    ]
    with tempfile.TemporaryDirectory() as scratch:
        sessions = {}
        for precision in PRECISIONS:
            start = time.perf_counter()
            path = export_model(
                0.50,
                stride,
                scratch,
                checkpoint_dir=args.shared / "checkpoints",
                precision=precision,
                calibration_dir=args.shared / "images",
                progress=False,
            )
            print(f"exported {path.name} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
            sessions[precision] = ort.InferenceSession(str(path), cpu_options(), providers=["CPUExecutionProvider"])

        seconds = speed(sessions, load(args.shared / "images" / "couple.jpg"), args.repeats)
        shifts = {p: [] for p in PRECISIONS[1:]}
        confident_shifts = {p: [] for p in PRECISIONS[1:]}
        changed = {p: 0 for p in PRECISIONS[1:]}
        total_poses = 0
        for photo in evaluation:
            outputs = {p: [o[0] for o in s.run(None, {INPUT_NAME: load(photo)})] for p, s in sessions.items()}
            single = {p: decode_single_pose(o[0], o[1], stride) for p, o in outputs.items()}
            multi = {
                p: shown_poses(decode_multiple_poses(*o, stride, nms_radius=NMS_RADIUS)) for p, o in outputs.items()
            }
            total_poses += len(multi["fp32"])
            confident = single["fp32"].keypoint_scores[0] >= 0.5
            for p in PRECISIONS[1:]:
                shift = np.linalg.norm(single[p].keypoints[0] - single["fp32"].keypoints[0], axis=1)
                shifts[p].extend(shift)
                confident_shifts[p].extend(shift[confident])
                changed[p] += unmatched(multi["fp32"], multi[p], NMS_RADIUS) + unmatched(
                    multi[p], multi["fp32"], NMS_RADIUS
                )

    print(
        f"0.50 stride {stride}, {SIZE}x{SIZE}, onnxruntime {ort.__version__} CPU; "
        f"accuracy on {len(evaluation)} held-out photos"
    )
    print(
        "| precision | ms / image | speed vs fp32 | keypoint shift median / p95 px "
        "| confident (>= 0.5) median / p95 px | poses changed |"
    )
    print("|---|---|---|---|---|---|")
    print(f"| fp32 | {seconds['fp32'] * 1e3:.1f} | 1.00x | - | - | - ({total_poses} poses) |")
    for p in PRECISIONS[1:]:
        print(
            f"| {p} | {seconds[p] * 1e3:.1f} | {seconds['fp32'] / seconds[p]:.2f}x "
            f"| {np.median(shifts[p]):.2f} / {np.percentile(shifts[p], 95):.1f} "
            f"| {np.median(confident_shifts[p]):.2f} / {np.percentile(confident_shifts[p], 95):.1f} "
            f"| {changed[p]} of {total_poses} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

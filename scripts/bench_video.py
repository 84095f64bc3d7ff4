#!/usr/bin/env python
"""The `video` pipeline's throughput against estimation alone, and the person tracker's identity figures.

1. Throughput, in one process on the real squats clip (65 frames, 720x1280), 0.50 stride 16 multi-pose at
   scale 0.5 on the CPU with onnxruntime's idle spinning off (the `video` command's settings), in
   interleaved rounds: (a) estimate-only over the frames decoded into memory beforehand; (b) the full
   `annotate_video` pipeline from the file, with the output video (drawn, H.264), JSON lines and
   tracking. The ratio (b)/(a) of each round's fps, and its median, says how much of the estimator's
   speed the overlapped reading, tracking, drawing and encoding leave (target >= 80%).
2. Tracking, with the tests' own definitions (tests/test_tracking.py): identity switches and fragments
   per 100 matched person-frames on the virtual-camera clips of the shared multi-person photos, and the
   squatting woman's IDs.

    python scripts/bench_video.py [--shared ../shared/posenet] [--rounds 5] [--model-dir DIR]
                                  [--skip-tracking | --skip-throughput] [--clip-frames N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import posenet_onnx
from posenet_onnx.runtime.video.tracking import PoseTracker
from posenet_onnx.runtime.video.pipeline import annotate_video, open_video

REPO = Path(__file__).resolve().parents[1]
SCALE = 0.5
TARGET_RATIO = 0.80


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def throughput(net: posenet_onnx.PoseNet, clip: Path, scratch: Path, rounds: int) -> None:
    """Section 1: estimate-only vs the full pipeline, interleaved rounds; one table of medians."""
    load = os.getloadavg()
    with open_video(str(clip)) as (_, frames):
        images = [frame.image for frame in frames]
    estimate = lambda image: net.estimate_multiple_poses(image, SCALE)  # noqa: E731
    estimate(images[0])  # warm: the graph is opened and the decoder compiled before timing
    alone, piped = [], []
    for r in range(rounds):
        start = time.perf_counter()
        for image in images:
            estimate(image)
        alone.append(len(images) / (time.perf_counter() - start))
        start = time.perf_counter()
        count = annotate_video(
            clip,
            estimate,
            output=scratch / "tracked.mp4",
            jsonl=scratch / "tracked.jsonl",
            tracker=PoseTracker(),
        )
        piped.append(count / (time.perf_counter() - start))
        assert count == len(images)
        log(f"round {r + 1}/{rounds}: estimate-only {alone[-1]:.1f} fps, video pipeline {piped[-1]:.1f} fps")
    ratios = [p / a for p, a in zip(piped, alone)]
    height, width = images[0].shape[:2]
    print(f"\n### Video throughput: {clip.name} ({len(images)} frames, {width}x{height}), 0.50 s16 multi-pose, scale {SCALE}")
    print(f"(medians of {rounds} interleaved rounds; load average before / after: {load[0]:.2f} / {os.getloadavg()[0]:.2f})\n")
    print("| run | fps |")
    print("|---|---:|")
    print(f"| estimate-only (frames in memory) | {statistics.median(alone):.1f} |")
    print(f"| `annotate_video`: read + estimate + track + draw + encode + JSON lines | {statistics.median(piped):.1f} |")
    ratio = statistics.median(ratios)
    verdict = "meets" if ratio >= TARGET_RATIO else "misses"
    print(f"\nvideo / estimate-only: {ratio:.0%} (rounds: {', '.join(f'{x:.0%}' for x in ratios)}); "
          f"{verdict} the {TARGET_RATIO:.0%} target")


def tracking(net: posenet_onnx.PoseNet, shared: Path, frames: int | None) -> None:
    """Section 2: the tests' virtual-camera clips and identity scores, one row per clip."""
    sys.path.insert(0, str(REPO / "tests"))
    import test_tracking as t  # the clips and the measure, defined once (the tests')

    frames = frames or t.CLIP_FRAMES

    print(f"\n### Tracking: virtual-camera clips ({frames} frames, {t.CLIP_WIDTH} px wide, zoom 1-{t.MAX_ZOOM}x),"
          " default PoseTracker\n")
    print("| photo | people | matched person-frames | switches | fragments | switches / 100 | fragments / 100 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    total = t.Score()
    for name, people, clip in t.photo_clips(shared, net, frames):
        score = t.score_tracks(clip, PoseTracker())
        for field in ("matched", "switches", "fragments"):
            setattr(total, field, getattr(total, field) + getattr(score, field))
        rates = " | ".join(f"{x:.2f}" for x in score.per_100()) if score.matched else "- | -"
        print(f"| {name} | {people} | {score.matched} | {score.switches} | {score.fragments} | {rates} |",
              flush=True)
    rates = " | ".join(f"{x:.2f}" for x in total.per_100())
    print(f"| all | | {total.matched} | {total.switches} | {total.fragments} | {rates} |")
    tracker = PoseTracker()
    with open_video(str(shared / "images" / "pose_squats.mp4")) as (_, clip):
        woman = []
        for frame in clip:
            poses = net.estimate_multiple_poses(frame.image, SCALE)
            ids = tracker(poses)
            best = int(np.argmax([p.score for p in poses]))
            woman.append(ids[best] if poses[best].score >= 0.5 else None)
    found = [i for i in woman if i is not None]
    switches = sum(a != b for a, b in zip(found, found[1:]))
    print(f"\nSquats clip (multi-pose, scale {SCALE}): the woman found in {len(found)}/{len(woman)} frames, "
          f"IDs {sorted(set(found))}, {switches} switches")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "posenet")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--model-dir", type=Path, help="folder with the exported 0.50 graph (default: export one)")
    parser.add_argument("--skip-tracking", action="store_true", help="only the throughput section")
    parser.add_argument("--skip-throughput", action="store_true", help="only the tracking section")
    parser.add_argument("--clip-frames", type=int, help="frames of each virtual-camera clip (default: the tests')")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-video-") as scratch:
        scratch = Path(scratch)
        model_dir = args.model_dir
        if model_dir is None:
            from posenet_onnx.export import export_model

            model_dir = scratch / "models"
            model_dir.mkdir()
            export_model(0.50, 16, model_dir, checkpoint_dir=args.shared / "checkpoints")
        net = posenet_onnx.load(0.50, device="cpu", model_dir=model_dir, allow_spinning=False)
        if not args.skip_throughput:
            throughput(net, args.shared / "images" / "pose_squats.mp4", scratch, args.rounds)
        if not args.skip_tracking:
            tracking(net, args.shared, args.clip_frames)


if __name__ == "__main__":
    main()

"""`posenet-onnx video`: poses in every frame of a video file or camera, drawn and/or as JSON lines."""

from __future__ import annotations

import argparse
import sys

from posenet_onnx.runtime.video.smoothing import PoseSmoother
from posenet_onnx.runtime.video.tracking import PoseTracker
from posenet_onnx.runtime.video.pipeline import annotate_video, check_video_outputs


def run(args: argparse.Namespace, kept: list[str]) -> int:
    """Check the outputs, load the model, run the pipeline; a one-line summary on stderr."""
    from posenet_onnx.commands.model import estimator_from_args, load_from_args

    job = check_video_outputs(args.input, args.output, args.jsonl, [args.model] if args.model else [])
    smoother = PoseSmoother(args.smooth_min_cutoff, args.smooth_beta) if args.smooth else None
    tracker = PoseTracker(max_age=args.track_max_age) if args.track else None
    # The reader and writer threads share the cores with onnxruntime: its idle spinning would slow them down.
    net = load_from_args(args, allow_spinning=False)
    # --flip mirrors the frames themselves (annotate_video's `mirror`), so the estimate must not flip again.
    estimate = estimator_from_args(net, args, multi=not args.single, flip=False)
    try:
        count = annotate_video(job, estimate, mirror=args.flip, smoother=smoother, tracker=tracker)
    finally:
        kept.extend(job.plan.kept)
    written = " and ".join("standard output" if path == "-" else str(path) for path in (args.output, args.jsonl) if path)
    print(f"{count} frames -> {written}", file=sys.stderr)  # stdout may be the JSON lines themselves
    return 0

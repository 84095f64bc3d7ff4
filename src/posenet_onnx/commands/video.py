"""`posenet-onnx video`: poses in every frame of a video file or camera, drawn and/or as JSON lines."""

from __future__ import annotations

import argparse
import sys

from posenet_onnx.commands.terminal import interrupts_as_requests
from posenet_onnx.runtime.video.pipeline import annotate_video, check_video_outputs
from posenet_onnx.runtime.video.smoothing import PoseSmoother
from posenet_onnx.runtime.video.tracking import PoseTracker


def run(args: argparse.Namespace, kept: list[str]) -> int:
    """Check the outputs, load the model, run the pipeline with a progress bar; Ctrl-C stops between frames
    and keeps what was done. A one-line summary on stderr."""
    from tqdm import tqdm

    from posenet_onnx.commands.model import load_from_args, settings_from_args

    job = check_video_outputs(args.input, args.output, args.jsonl, [args.model] if args.model else [])
    # --flip mirrors the frames themselves (annotate_video's `mirror`), so the estimate must not flip again.
    settings = settings_from_args(args, multi_pose=not args.single, flip_horizontal=False)
    smoother = PoseSmoother(args.smooth_min_cutoff, args.smooth_beta) if args.smooth else None
    tracker = PoseTracker(max_age=args.track_max_age) if args.track else None
    # The reader and writer threads share the cores with onnxruntime: its idle spinning would slow them down.
    net = load_from_args(args, allow_spinning=False)
    net.check(settings)  # a stride the model lacks fails before the video is opened
    estimate = lambda image: net.estimate([image], settings)[0]  # noqa: E731

    with tqdm(unit="frame", desc="video", disable=None, dynamic_ncols=True) as bar:

        def progress(done: int, total: int | None) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            with interrupts_as_requests() as stop:  # Ctrl-C stops between frames
                count = annotate_video(
                    job, estimate, mirror=args.flip, smoother=smoother, tracker=tracker, stop=stop, progress=progress
                )
        finally:
            kept.extend(job.plan.kept)
    written = " and ".join("standard output" if path == "-" else str(path) for path in (args.output, args.jsonl) if path)
    print(f"{count} frames -> {written}", file=sys.stderr)  # stdout may be the JSON lines themselves
    return 0

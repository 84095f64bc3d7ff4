"""`posenet-onnx video`: poses in every frame of a video file or camera, drawn and/or as JSON lines."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from posenet_onnx.commands.terminal import interrupts_as_requests
from posenet_onnx.runtime.video.pipeline import Encoding, annotate_video, check_video_outputs
from posenet_onnx.runtime.video.smoothing import PoseSmoother
from posenet_onnx.runtime.video.tracking import PoseTracker


def run(args: argparse.Namespace, kept: list[str]) -> int:
    """Check the outputs, load the model, run the pipeline with a progress bar; Ctrl-C stops between frames
    and keeps what was done. A one-line summary on stderr."""
    from tqdm import tqdm

    from posenet_onnx.commands.model import load_for_workers, settings_from_args

    job = check_video_outputs(args.input, args.output, args.jsonl, [args.model] if args.model else [])
    encoding = Encoding(args.encoder_preset, args.crf)
    if args.fast_decode and args.output is not None:
        raise ValueError("--fast-decode reads the frames at the network's size, for --jsonl alone: -o draws on whole frames")
    # --flip mirrors the frames themselves (annotate_video's `mirror`), so the estimate must not flip again.
    settings = settings_from_args(args, multi_pose=not args.single, flip_horizontal=False)
    smoother = PoseSmoother(args.smooth_min_cutoff, args.smooth_beta) if args.smooth else None
    tracker = PoseTracker(max_age=args.track_max_age, min_pose_score=args.track_min_score) if args.track else None
    net, workers = load_for_workers(args)
    net.check(settings)  # a stride the model lacks fails before the video is opened
    def estimate(image: Any, size: tuple[int, int] | None = None) -> list:
        return net.estimate([image], settings, None if size is None else [size])[0]

    # --fast-decode: ffmpeg reads the frames at the network's input size (JSON lines only).
    scaled = (lambda height, width: net.input_size(height, width, settings)) if args.fast_decode else None

    with tqdm(unit="frame", desc="video", disable=None, dynamic_ncols=True) as bar:

        def progress(done: int, total: int | None) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            with interrupts_as_requests() as stop:  # Ctrl-C stops between frames
                count = annotate_video(
                    job, estimate, mirror=args.flip, smoother=smoother, tracker=tracker, stop=stop, progress=progress,
                    encoding=encoding, scaled=scaled, workers=workers,
                )
        finally:
            kept.extend(job.plan.kept)
    written = " and ".join("standard output" if path == "-" else str(path) for path in (args.output, args.jsonl) if path)
    print(f"{count} frames -> {written}", file=sys.stderr)  # stdout may be the JSON lines themselves
    return 0

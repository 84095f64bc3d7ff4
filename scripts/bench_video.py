#!/usr/bin/env python
"""The `video` pipeline's throughput against estimation alone and against its ceiling, and the encoder presets'
costs (person IDs and smoothing: bench_tracking.py).

1. Throughput, in one process (keeping freed memory as the command line's does; `--default-malloc`: glibc's
   malloc as it comes) on the real squats clip (65 frames, 720x1280), 0.50 stride 16 multi-pose at
   scale 0.5 on the CPU, in interleaved rounds: (a) estimate-only over the frames decoded into memory
   beforehand, on the network as `video` loads it without a drawn output (every core, onnxruntime's
   spinning off): the baseline; (b) `video CLIP -o OUT.mp4` as the command runs it (`annotate_video`, one
   worker per core, each on a network of one thread); (c) `video CLIP --jsonl OUT` likewise, and (d) with
   `--fast-decode`.
   Then each stage alone, in CPU time per frame (the ffmpeg processes' included): read (whole, and
   scaled), estimate (both networks), draw, encode. A run's ceiling is what the machine's cores allow at
   the sum of its stages' costs; the table gives each run's speed, its ratio to the baseline (per round,
   side by side) and to its ceiling, with the load average.
2. Encoder presets: the drawn frames encoded with each of x264's fast presets at the default crf: CPU time
   per frame and the file's size.

    python scripts/bench_video.py [--shared ../shared/posenet] [--clip CLIP] [--rounds 5] [--model-dir DIR]
                                  [--default-malloc]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import posenet_onnx
from posenet_onnx.runtime.draw import draw_poses_on
from posenet_onnx.runtime.settings import EstimateSettings
from posenet_onnx.runtime.video.pipeline import (
    ENCODER_PRESETS,
    Encoding,
    annotate_video,
    open_video,
    open_video_writer,
)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import stage_costs as costs  # noqa: E402

SCALE = 0.5
PRESETS = ENCODER_PRESETS[:6]  # ultrafast to medium (x264's default)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def throughput(model_dir: Path, clip: Path, scratch: Path, rounds: int) -> None:
    """Sections 1 and 2: the runs side by side, each stage alone, the presets; tables of medians."""
    start_load = costs.load()
    cores = costs.cores()
    load = lambda threads: posenet_onnx.load(  # noqa: E731
        0.50, device="cpu", model_dir=model_dir, allow_spinning=False, intra_op_threads=threads
    )
    # The baseline: onnxruntime's own threads (every core). The `video` command on the CPU: one worker per
    # core, each on a network of one thread.
    every_core, job_net, workers = load(None), load(1), cores
    with open_video(str(clip)) as (info, frames):
        images = [frame.image for frame in frames]
    found = [every_core.estimate_multiple_poses(image, SCALE) for image in images]
    drawn = [draw_poses_on(image.copy(), poses) for image, poses in zip(images, found)]

    def estimate_only(net: posenet_onnx.PoseNet) -> Callable[[], int]:
        def run() -> int:
            for image in images:
                net.estimate_multiple_poses(image, SCALE)
            return len(images)

        return run

    settings = EstimateSettings(multi_pose=True, image_scale_factor=SCALE)
    network_size = lambda height, width: every_core.input_size(height, width, settings)  # noqa: E731

    def video(net: posenet_onnx.PoseNet, **options: Any) -> Callable[[], int]:
        """The `video` command's run: its estimate, with the full frame size when the frames are read scaled."""
        estimate = lambda image, size=None: net.estimate([image], settings, size and [size])[0]  # noqa: E731
        return lambda: annotate_video(clip, estimate, workers=workers, **options)

    def read(scaled: Callable[[int, int], tuple[int, int]] | None = None) -> Callable[[], int]:
        def run() -> int:
            with open_video(str(clip), scaled) as (_, frames):
                return sum(1 for _ in frames)

        return run

    def draw() -> int:
        buffer = np.empty_like(images[0])
        for image, poses in zip(images, found):
            np.copyto(buffer, image)  # as the pipeline draws: on a copy of the read-only frame
            draw_poses_on(buffer, poses)
        return len(images)

    def encode(encoding: Encoding, name: str = "encoded.mp4") -> Callable[[], int]:
        def run() -> int:
            with open_video_writer(scratch / name, info.fps, encoding) as writer:
                for frame in drawn:
                    writer.append_data(frame)
            return len(drawn)

        return run

    runs = {
        "estimate-only": estimate_only(every_core),
        "video -o": video(job_net, output=scratch / "drawn.mp4"),
        "video --jsonl": video(job_net, jsonl=scratch / "poses.jsonl"),
        "video --jsonl --fast-decode": video(job_net, jsonl=scratch / "fast.jsonl", scaled=network_size),
    }
    stages = {
        "read (decode, RGB frames)": read(),
        "read (decode, scaled to the network input: --fast-decode)": read(network_size),
        "estimate, 1 thread (the `video` command's network)": estimate_only(job_net),
        "estimate, every core (the baseline's network)": estimate_only(every_core),
        "draw (copy the frame, draw on it)": draw,
        f"encode (x264 {Encoding().preset}, crf {Encoding().crf})": encode(Encoding()),
    }
    for run in [*runs.values(), *stages.values()]:
        run()  # warm: graphs open, kernels compiled, the clip in the page cache
    timings = costs.interleave(runs, rounds, log=log)
    stage_timings = costs.interleave(stages, max(2, rounds // 2), log=lambda text: None)
    presets = costs.interleave({p: encode(Encoding(p), f"{p}.mp4") for p in PRESETS}, 2, log=lambda text: None)
    end_load = costs.load()

    cost = [t.cost for t in stage_timings.values()]
    read_ms, scaled_ms, job_estimate, estimate, draw_ms, encode_ms = cost
    rows = [
        ("estimate-only, frames in memory (baseline)", timings["estimate-only"].cost, timings["estimate-only"].rate,
         costs.ceiling([estimate], cores), None),
        ("`video CLIP -o OUT.mp4`", timings["video -o"].cost, timings["video -o"].rate,
         costs.ceiling([read_ms, job_estimate, draw_ms, encode_ms], cores), costs.ratio(timings, "video -o", "estimate-only")),
        ("`video CLIP --jsonl OUT`", timings["video --jsonl"].cost, timings["video --jsonl"].rate,
         costs.ceiling([read_ms, job_estimate], cores), costs.ratio(timings, "video --jsonl", "estimate-only")),
        ("`video CLIP --jsonl OUT --fast-decode`", timings["video --jsonl --fast-decode"].cost,
         timings["video --jsonl --fast-decode"].rate, costs.ceiling([scaled_ms, job_estimate], cores),
         costs.ratio(timings, "video --jsonl --fast-decode", "estimate-only")),
    ]
    height, width = images[0].shape[:2]
    print(f"\n**Video: {clip.name} ({len(images)} frames, {width}x{height}), 0.50 s16 multi-pose, scale {SCALE}, "
          f"{cores} cores; load average {start_load} at the start, {end_load} at the end; medians of {rounds} "
          "interleaved rounds**\n")
    print("\n".join(costs.stage_table("frame", dict(zip(stages, cost)))))
    print()
    print("\n".join(costs.job_table("frame", rows)))
    print(f"\n**Encoder presets: the {len(drawn)} drawn frames, crf {Encoding().crf}**\n")
    print("| preset | CPU ms per frame | file size | size / medium's |")
    print("|---|---:|---:|---:|")
    sizes = {p: (scratch / f"{p}.mp4").stat().st_size for p in PRESETS}
    for p in PRESETS:
        print(f"| {p} | {presets[p].cost:.2f} | {sizes[p] / 1e6:.2f} MB | {sizes[p] / sizes['medium']:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "posenet")
    parser.add_argument("--clip", type=Path, help="the video to run (default: the shared pose_squats.mp4)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--model-dir", type=Path, help="folder with the exported 0.50 graph (default: export one)")
    costs.add_malloc_option(parser)
    args = parser.parse_args()
    costs.set_malloc(args)
    with tempfile.TemporaryDirectory(prefix="bench-video-") as scratch:
        scratch = Path(scratch)
        model_dir = args.model_dir
        if model_dir is None:
            from posenet_onnx.export import export_model

            model_dir = scratch / "models"
            model_dir.mkdir()
            export_model(0.50, 16, model_dir, checkpoint_dir=args.shared / "checkpoints")
        throughput(model_dir, args.clip or args.shared / "images" / "pose_squats.mp4", scratch, args.rounds)


if __name__ == "__main__":
    main()

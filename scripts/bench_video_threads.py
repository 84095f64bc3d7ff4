#!/usr/bin/env python
"""Where `video CLIP -o OUT.mp4` spends its CPU time: per thread of the pipeline (estimating workers, reader,
writer) and per ffmpeg process (decoder, encoder), in CPU ms per frame, over runs of `annotate_video` as the
command runs it (one worker per core, each on a network of one thread, freed memory kept). Set beside the
stages measured alone (`bench_video.py`), it shows which stage costs more when all run side by side.

Linux only: each thread's and child process's CPU time is read from /proc while the run goes on (every 0.1 s;
the last reading of a thread or process before it ends counts), so the figures are short of the truth by at
most 0.1 s of each thread's time per run.

    python scripts/bench_video_threads.py --model-dir DIR [--clip CLIP] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import posenet_onnx
from posenet_onnx.commands.memory import keep_freed_memory
from posenet_onnx.runtime.settings import EstimateSettings
from posenet_onnx.runtime.video.pipeline import annotate_video

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "posenet"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(stat_path: str) -> float:
    """User + system seconds from a /proc stat file."""
    with open(stat_path) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def readings(names: dict[int, str]) -> dict[str, float]:
    """CPU seconds so far per pipeline thread (by its Python name, numbered suffix dropped) and per child
    process (ffmpeg decoding: reads `-i FILE`; encoding: reads `-i -`)."""
    found = {}
    for thread in threading.enumerate():
        names[thread.native_id] = thread.name.rstrip("0123456789_")
    for task in os.listdir("/proc/self/task"):
        try:
            found[f"thread {task} {names.get(int(task), '?')}"] = cpu_seconds(f"/proc/self/task/{task}/stat")
            with open(f"/proc/self/task/{task}/children") as children:
                for pid in children.read().split():
                    with open(f"/proc/{pid}/cmdline") as cmdline:
                        command = cmdline.read().split("\0")
                    source = command[command.index("-i") + 1]
                    role = "ffmpeg encoding" if source == "-" else "ffmpeg decoding"
                    found[f"process {pid} {role}"] = cpu_seconds(f"/proc/{pid}/stat")
        except (OSError, ValueError, IndexError):  # the thread or process ended between listing and reading
            continue
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, required=True, help="folder with the exported 0.50 graph")
    parser.add_argument("--clip", type=Path, default=SHARED / "images" / "pose_squats.mp4")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    keep_freed_memory()
    net = posenet_onnx.load(0.50, device="cpu", model_dir=args.model_dir, allow_spinning=False, intra_op_threads=1)
    settings = EstimateSettings(multi_pose=True, image_scale_factor=0.5)
    estimate = lambda image, size=None: net.estimate([image], settings, size and [size])[0]  # noqa: E731
    workers = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch) / "drawn.mp4"
        frames = annotate_video(args.clip, estimate, workers=workers, output=output)  # warm
        totals: Counter[str] = Counter()
        wall = 0.0
        for _ in range(args.rounds):
            names: dict[int, str] = {}
            last: dict[str, float] = {}
            before = readings(names)
            done = threading.Event()

            def poll() -> None:
                while not done.wait(0.1):
                    last.update(readings(names))

            poller = threading.Thread(target=poll, name="poller")
            poller.start()
            start = time.perf_counter()
            annotate_video(args.clip, estimate, workers=workers, output=output)
            wall += time.perf_counter() - start
            done.set()
            poller.join()
            for key, seconds in last.items():
                if not key.endswith("poller"):
                    totals[key.split(" ", 2)[0] + " " + key.split(" ", 2)[2]] += seconds - before.get(key, 0.0)
    count = frames * args.rounds
    print(f"`video {args.clip.name} -o OUT.mp4`, {frames} frames x {args.rounds} runs, {workers} workers: "
          f"{count / wall:.1f} frames/s; load average {os.getloadavg()[0]:.2f} at the end\n")
    print("| where | CPU ms per frame |\n|---|---:|")
    for key, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        if 1000 * seconds / count >= 0.005:  # threads that only waited (onnxruntime's idle pools, ffmpeg's log)
            print(f"| {key} | {1000 * seconds / count:.2f} |")
    print(f"| all | {1000 * sum(totals.values()) / count:.2f} |")


if __name__ == "__main__":
    main()

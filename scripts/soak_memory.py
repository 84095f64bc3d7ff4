#!/usr/bin/env python
"""Resident memory (RSS) of one process over many pose estimates whose image size keeps changing.

Each call estimates multi-pose on a crop of a real photo (couple.jpg, 640 x 480) of a random size from 64 x 64
to the whole photo, at image scale 0.5 (`--scale`), on the CPU with the real 0.50 graph, so the network's
input size keeps changing (the script counts the sizes). The RSS is read from /proc after a warm-up (the
first tenth of the calls) and then every `--every` calls; the script reports the growth from the warm-up to
the end. `--options` varies onnxruntime's memory settings (VARIANTS: its CPU arena and its per-shape memory
patterns) to show what each does; `--speed A B` instead times two of them against each other: two nets
called in alternating blocks on the same crops, with the median per-call ratio. Not a test: a measurement
for docs/robustness.md.

    python scripts/soak_memory.py [--calls 10000] [--scale 0.5] [--model-dir DIR] [--options VARIANT]
    python scripts/soak_memory.py --speed shipped onnxruntime-defaults [--calls 2000] [--model-dir DIR]
    python scripts/soak_memory.py --peak 8192 [--scale 1.0] [--model-dir DIR]

`--peak SIDE` instead makes one estimate on a random SIDE x SIDE image and prints the process's peak RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import posenet_onnx.runtime.posenet as runtime_posenet
from posenet_onnx.runtime.images import load_image
from posenet_onnx.runtime.providers import session_options
from posenet_onnx.runtime.resize import valid_resolution

REPO = Path(__file__).resolve().parents[1]


def rss_mib() -> float:
    """This process's resident set size in MiB (Linux /proc)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# Session settings to compare: the shipped session_options, and onnxruntime's memory settings varied on top.
VARIANTS: dict[str, dict[str, bool]] = {
    "shipped": {},
    "onnxruntime-defaults": {"enable_cpu_mem_arena": True, "enable_mem_pattern": True},
    "no-arena": {"enable_cpu_mem_arena": False, "enable_mem_pattern": True},
    "no-pattern": {"enable_cpu_mem_arena": True, "enable_mem_pattern": False},
    "neither": {"enable_cpu_mem_arena": False, "enable_mem_pattern": False},
}


def net_with(variant: str, model_dir: Path, checkpoint_dir: Path) -> runtime_posenet.PoseNet:
    """A 0.50 net whose sessions use session_options changed by VARIANTS[variant]."""

    def options(*args: object, **kwargs: object) -> object:
        made = session_options(*args, **kwargs)
        for name, value in VARIANTS[variant].items():
            setattr(made, name, value)
        return made

    runtime_posenet.session_options = options
    try:
        return runtime_posenet.load(0.50, model_dir=model_dir, device="cpu", checkpoint_dir=checkpoint_dir)
    finally:
        runtime_posenet.session_options = session_options


def crops(photo: np.ndarray, calls: int) -> list[tuple[int, int]]:
    """Random crop sizes from 64 x 64 to the whole photo (the same sequence on every run)."""
    rng = np.random.default_rng(0)
    return [(int(rng.integers(64, photo.shape[0] + 1)), int(rng.integers(64, photo.shape[1] + 1))) for _ in range(calls)]


def speed(args: argparse.Namespace, photo: np.ndarray, model_dir: Path) -> None:
    """Median per-call time of two variants, interleaved in blocks of 20 calls on the same crops."""
    first, second = args.speed
    nets = {name: net_with(name, model_dir, args.shared / "checkpoints") for name in (first, second)}
    sizes = crops(photo, args.calls)
    times: dict[str, list[float]] = {name: [] for name in nets}
    for block in range(0, len(sizes), 20):
        for name, net in nets.items():
            for height, width in sizes[block : block + 20]:
                start = time.perf_counter()
                net.estimate_multiple_poses(photo[:height, :width], image_scale_factor=args.scale, output_stride=16)
                times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(spent) * 1e3 for name, spent in times.items()}
    print(f"{args.calls} calls each, image scale {args.scale}, load average {os.getloadavg()[0]:.1f}: median ms per call "
          + ", ".join(f"{name} {ms:.2f}" for name, ms in medians.items())
          + f"; {first} / {second} = {medians[first] / medians[second]:.3f}")


def peak_rss(args: argparse.Namespace, model_dir: Path) -> None:
    """The peak RSS of a process that makes one multi-pose estimate on a random side x side image."""
    net = net_with(args.options, model_dir, args.shared / "checkpoints")
    image = np.random.default_rng(0).integers(0, 256, (args.peak, args.peak, 3), dtype=np.uint8)
    net.estimate_multiple_poses(image, image_scale_factor=args.scale, output_stride=16)
    print(f"{args.peak} x {args.peak} at image scale {args.scale}, output stride 16, 0.50 network, {args.options}: "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "posenet", help="the real data folder")
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--every", type=int, default=1000, help="report the RSS every this many calls")
    parser.add_argument("--model-dir", type=Path, help="exported graphs (default: export the 0.50 one to a temp dir)")
    parser.add_argument("--options", choices=VARIANTS, default="shipped", help="session settings (default: shipped)")
    parser.add_argument("--scale", type=float, default=0.5, help="image scale factor (default 0.5)")
    parser.add_argument("--peak", type=int, metavar="SIDE", help="peak RSS of one call on a SIDE x SIDE image")
    parser.add_argument("--speed", nargs=2, choices=VARIANTS, metavar="VARIANT", help="time two settings, interleaved")
    args = parser.parse_args()
    photo = load_image(args.shared / "images" / "couple.jpg")
    with tempfile.TemporaryDirectory() as scratch:
        model_dir = args.model_dir or Path(scratch)
        if args.speed:
            speed(args, photo, model_dir)
            return 0
        if args.peak:
            peak_rss(args, model_dir)
            return 0
        net = net_with(args.options, model_dir, args.shared / "checkpoints")
        warm_up = args.calls // 10
        samples: list[tuple[int, float]] = []
        inputs = set()
        start = time.perf_counter()
        for call, (height, width) in enumerate(crops(photo, args.calls), start=1):
            net.estimate_multiple_poses(photo[:height, :width], image_scale_factor=args.scale, output_stride=16)
            inputs.add((valid_resolution(args.scale, height, 16), valid_resolution(args.scale, width, 16)))
            if call == warm_up or (call > warm_up and call % args.every == 0):
                samples.append((call, rss_mib()))
                print(f"call {call:6d}: RSS {samples[-1][1]:7.1f} MiB", flush=True)
        seconds = time.perf_counter() - start
    (_, first), (_, last) = samples[0], samples[-1]
    peak = max(rss for _, rss in samples)
    print(
        f"\nsession settings {args.options}, image scale {args.scale}; {args.calls} calls in {seconds:.0f} s "
        f"({seconds / args.calls * 1e3:.2f} ms per call), {len(inputs)} network input sizes; "
        f"load average {os.getloadavg()[0]:.1f}\nRSS after the {warm_up}-call warm-up {first:.1f} MiB, "
        f"at the end {last:.1f} MiB ({(last - first) / first:+.1%}), highest {peak:.1f} MiB ({(peak - first) / first:+.1%})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Resident memory (RSS) of one process over many pose estimates whose image size keeps changing.

Each call estimates multi-pose on a crop of a real photo (couple.jpg, 640 x 480) of a random size from 64 x 64
to the whole photo, at image scale 0.5, on the CPU with the real 0.50 graph, so the network's input size
keeps changing (the script counts them). The RSS is read from /proc after a warm-up (the first tenth of the
calls) and then every `--every` calls; the script reports the growth from the warm-up to the end. `--arena` turns onnxruntime's CPU memory arena back on (the setting before it was
turned off) to show what it did.

    python scripts/soak_memory.py [--calls 10000] [--model-dir DIR] [--arena]
"""

from __future__ import annotations

import argparse
import os
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


def with_arena(*args: object, **kwargs: object) -> object:
    """session_options with onnxruntime's CPU memory arena on again."""
    options = session_options(*args, **kwargs)
    options.enable_cpu_mem_arena = True
    return options


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "posenet", help="the real data folder")
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--every", type=int, default=1000, help="report the RSS every this many calls")
    parser.add_argument("--model-dir", type=Path, help="exported graphs (default: export the 0.50 one to a temp dir)")
    parser.add_argument("--arena", action="store_true", help="turn onnxruntime's CPU memory arena back on")
    parser.add_argument("--scale", type=float, default=0.5, help="image scale factor (default 0.5)")
    args = parser.parse_args()
    if args.arena:
        runtime_posenet.session_options = with_arena
    photo = load_image(args.shared / "images" / "couple.jpg")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as scratch:
        model_dir = args.model_dir or Path(scratch)
        net = runtime_posenet.load(0.50, model_dir=model_dir, device="cpu", checkpoint_dir=args.shared / "checkpoints")
        warm_up = args.calls // 10
        samples: list[tuple[int, float]] = []
        inputs = set()
        start = time.perf_counter()
        for call in range(1, args.calls + 1):
            height, width = int(rng.integers(64, photo.shape[0] + 1)), int(rng.integers(64, photo.shape[1] + 1))
            net.estimate_multiple_poses(photo[:height, :width], image_scale_factor=args.scale, output_stride=16)
            inputs.add((valid_resolution(args.scale, height, 16), valid_resolution(args.scale, width, 16)))
            if call == warm_up or (call > warm_up and call % args.every == 0):
                samples.append((call, rss_mib()))
                print(f"call {call:6d}: RSS {samples[-1][1]:7.1f} MiB", flush=True)
        seconds = time.perf_counter() - start
    (_, first), (_, last) = samples[0], samples[-1]
    peak = max(rss for _, rss in samples)
    print(
        f"\nCPU arena {'on' if args.arena else 'off'}, image scale {args.scale}; {args.calls} calls in {seconds:.0f} s "
        f"({seconds / args.calls * 1e3:.2f} ms per call), {len(inputs)} network input sizes; "
        f"load average {os.getloadavg()[0]:.1f}\nRSS after the {warm_up}-call warm-up {first:.1f} MiB, "
        f"at the end {last:.1f} MiB ({(last - first) / first:+.1%}), highest {peak:.1f} MiB ({(peak - first) / first:+.1%})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Benchmark the Numba decoder on real network outputs (tennis_in_crowd, 33 x 33 at stride 16).

In one process: the median (and fastest) time of multi-pose decoding through the public function and through the
bare kernel, against the same kernels run as plain Python (Numba's ``.py_func``, every jitted callee
swapped for its Python source too), at (5 poses, threshold 0.5), (10, 0.25), (20, 0.1) on the 33 x 33
grid and (5, 0.5) on a 65 x 65 grid (the tennis outputs upsampled 2x, decoded at stride 8); single-pose
decoding; a batch of 8 images against 8 single calls. In subprocesses: the first call's time with an
empty Numba cache (compilation) and with the cache it left (cache load).

    python scripts/bench_decode.py [--shared ../shared/posenet] [--repeats 2000]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import os
import pkgutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numba
import numpy as np
from numba.core.registry import CPUDispatcher

import posenet_onnx.decode
from posenet_onnx.decode import (
    decode_multiple_poses,
    decode_multiple_poses_batch,
    decode_single_pose,
)
from posenet_onnx.decode import multi_pose
from posenet_onnx.decode.decode_pose import REFINEMENT_V1
from posenet_onnx.keypoints import NUM_KEYPOINTS, POSE_CHAIN_IDS

REPO = Path(__file__).resolve().parents[1]
NAMES = ("heatmapScores", "offsets", "displacementsFwd", "displacementsBwd")
FIRST_CALL = """
import time, numpy as np
t0 = time.perf_counter()
from posenet_onnx.decode import decode_multiple_poses, decode_single_pose
t1 = time.perf_counter()
s, o, f, b = (np.zeros((9, 9, c), np.float32) for c in (17, 34, 32, 32))
decode_multiple_poses(s, o, f, b, 16)
decode_single_pose(s, o, 16)
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def load_tennis(shared: Path) -> list[np.ndarray]:
    folder = shared / "fixtures" / "tennis_in_crowd"
    return [np.fromfile(folder / f"{name}.bin", dtype="<f4").reshape(33, 33, -1) for name in NAMES]


def upsample(field: np.ndarray) -> np.ndarray:
    """(n x n) -> (2n - 1 x 2n - 1) by linear interpolation with aligned corners: 33 -> 65 cells."""
    for axis in (0, 1):
        moved = np.moveaxis(field, axis, 0)
        out = np.empty((2 * moved.shape[0] - 1, *moved.shape[1:]), np.float32)
        out[0::2] = moved
        out[1::2] = (moved[:-1] + moved[1:]) / 2
        field = np.moveaxis(out, 0, axis)
    return np.ascontiguousarray(field)


def timings_us(run: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(median, fastest) microseconds of one call after warm-up calls; on a shared machine the fastest
    call shows the uncontended cost, the median what a busy machine gives."""
    for _ in range(3):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        run()
        times.append(time.perf_counter_ns() - start)
    return statistics.median(times) / 1000, min(times) / 1000


def interleaved_medians_us(first: Callable[[], object], second: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median microseconds of two runs timed in alternating blocks of calls, so that both see the same
    machine load while a run of back-to-back calls keeps the parallel worker threads awake."""
    times: tuple[list[int], list[int]] = ([], [])
    block = max(repeats // 10, 1)
    for _ in range(10):
        for run, spent in zip((first, second), times):
            for call in range(block + 3):
                start = time.perf_counter_ns()
                run()
                if call >= 3:
                    spent.append(time.perf_counter_ns() - start)
    return statistics.median(times[0]) / 1000, statistics.median(times[1]) / 1000


@contextlib.contextmanager
def plain_python() -> Iterator[None]:
    """Run the decoder as plain Python (the ``.py_func`` baseline): every jitted function in every
    posenet_onnx.decode module is swapped for its Python source, so their callers reach the Python
    versions too (the typed layer included)."""
    modules = [posenet_onnx.decode] + [
        importlib.import_module(f"posenet_onnx.decode.{info.name}")
        for info in pkgutil.iter_modules(posenet_onnx.decode.__path__)
    ]
    swapped = []
    for module in modules:
        for name, value in list(vars(module).items()):
            if isinstance(value, CPUDispatcher):
                swapped.append((module, name, value))
                setattr(module, name, value.py_func)
    try:
        yield
    finally:
        for module, name, value in swapped:
            setattr(module, name, value)


def multi_kernel(outputs: list[np.ndarray], stride: int, max_poses: int, threshold: float) -> Callable[[], int]:
    """A call of the bare multi-pose kernel with preallocated outputs (plain Python inside plain_python())."""
    kernel = multi_pose.decode_multiple_poses_into
    keypoints = np.empty((max_poses, NUM_KEYPOINTS, 2))
    keypoint_scores = np.empty((max_poses, NUM_KEYPOINTS))
    scores = np.empty(max_poses)
    return lambda: kernel(*outputs, POSE_CHAIN_IDS, stride, threshold, 20.0, REFINEMENT_V1, keypoints, keypoint_scores, scores)


def first_call_seconds() -> tuple[tuple[float, float], tuple[float, float]]:
    """(import, first call) seconds in a fresh process: with an empty Numba cache, then with the cache it left."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        runs = []
        for _ in range(2):
            out = subprocess.run([sys.executable, "-c", FIRST_CALL], env=env, capture_output=True, text=True, check=True)
            runs.append(tuple(float(v) for v in out.stdout.split()))
        return runs[0], runs[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("POSENET_SHARED_DIR", REPO.parent / "shared" / "posenet")))
    parser.add_argument("--repeats", type=int, default=2000, help="timed calls per compiled measurement")
    parser.add_argument("--python-repeats", type=int, default=15, help="timed calls per plain-Python measurement")
    args = parser.parse_args()

    tennis = load_tennis(args.shared)
    large = [upsample(field) for field in tennis]
    cases = [("33x33", tennis, 16, 5, 0.5), ("33x33", tennis, 16, 10, 0.25), ("33x33", tennis, 16, 20, 0.1), ("65x65", large, 8, 5, 0.5)]

    print(f"{numba.get_num_threads()} Numba threads, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
          f"medians of {args.repeats} calls (plain Python: {args.python_repeats})\n")
    print("| grid | poses | threshold | found | public function (us) | kernel (us) | plain Python kernel (us) | speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    for grid, outputs, stride, max_poses, threshold in cases:
        found = len(decode_multiple_poses(*outputs, stride, max_poses, threshold))
        public = timings_us(functools.partial(decode_multiple_poses, *outputs, stride, max_poses, threshold), args.repeats)
        kernel = timings_us(multi_kernel(outputs, stride, max_poses, threshold), args.repeats)
        with plain_python():
            python = timings_us(multi_kernel(outputs, stride, max_poses, threshold), args.python_repeats)
        print(f"| {grid} | {max_poses} | {threshold} | {found} | {public[0]:.1f} (best {public[1]:.1f}) "
              f"| {kernel[0]:.1f} (best {kernel[1]:.1f}) | {python[0]:.0f} | {python[0] / kernel[0]:.0f}x |")

    single = timings_us(lambda: decode_single_pose(tennis[0], tennis[1], 16), args.repeats)
    print(f"\nsingle pose, 33x33, public function: {single[0]:.1f} us (best {single[1]:.1f})")

    batch = [np.stack([field] * 8) for field in tennis]
    batched, singles = interleaved_medians_us(
        lambda: decode_multiple_poses_batch(*batch, 16, 5, 0.5),
        lambda: [decode_multiple_poses(*tennis, 16, 5, 0.5) for _ in range(8)],
        args.repeats // 4,
    )
    print(f"batch of 8 (5 poses, 0.5): {batched:.1f} us ({8e6 / batched:.0f} images/s) vs 8 single calls "
          f"{singles:.1f} us ({8e6 / singles:.0f} images/s): {singles / batched:.2f}x")

    (cold_import, cold_call), (warm_import, warm_call) = first_call_seconds()
    print(f"first call in a fresh process: {cold_call:.2f} s with an empty Numba cache (compilation), "
          f"{warm_call:.3f} s from the cache; import {cold_import:.2f} s / {warm_import:.2f} s")


if __name__ == "__main__":
    main()

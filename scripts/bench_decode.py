#!/usr/bin/env python
"""Benchmark the Numba decoder on real network outputs (tennis_in_crowd, 33 x 33 at stride 16).

In one process: the median (and fastest) time of multi-pose decoding through the public function and through the
bare kernel, against the same kernels run as plain Python (Numba's ``.py_func``, every jitted callee
swapped for its Python source too), at (5 poses, threshold 0.5), (10, 0.25), (20, 0.1) on the 33 x 33
grid and (5, 0.5) on a 65 x 65 grid (the tennis outputs upsampled 2x, decoded at stride 8); single-pose
decoding; a batch of 8 images against 8 single calls. In subprocesses: the first call's time with an
empty Numba cache (compilation) and with the cache it left (cache load).

With ``--baseline DIR`` (another version of the ``decode/`` folder, e.g. ``git archive main decode | tar -x -C
/tmp/before``) it instead times that version against this one, interleaved in one process: the public
functions, the runtime's ``decode_network_outputs`` and, with ``--model-dir`` holding an exported 0.50
stride-16 graph, ``estimate_multiple_poses`` end to end on couple.jpg with either decoder behind it.

    python scripts/bench_decode.py [--shared ../shared/posenet] [--repeats 2000]
    python scripts/bench_decode.py --baseline /tmp/before/decode [--model-dir DIR] [--rounds 7]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import importlib.util
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


def load_baseline(folder: Path) -> object:
    """Import another version of the decoder package from ``folder`` under the name ``baseline_decode``."""
    spec = importlib.util.spec_from_file_location(
        "baseline_decode", folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["baseline_decode"] = module
    spec.loader.exec_module(module)
    return module


def ratio_rounds(baseline: Callable[[], object], current: Callable[[], object], repeats: int, rounds: int) -> list[float]:
    """current / baseline median time in each of ``rounds`` interleaved rounds."""
    return [
        (lambda medians: medians[1] / medians[0])(interleaved_medians_us(baseline, current, repeats))
        for _ in range(rounds)
    ]


def compare(args: argparse.Namespace, tennis: list[np.ndarray]) -> None:
    """Time the decoder in ``args.baseline`` against this one, interleaved, and print the ratios."""
    old = load_baseline(args.baseline)
    new = posenet_onnx.decode
    image = [field[np.newaxis] for field in tennis]  # one image as onnxruntime returns it
    batch = [np.stack([field] * 8) for field in tennis]
    cases = {
        "decode_multiple_poses 5, 0.5": lambda d: d.decode_multiple_poses(*tennis, 16, 5, 0.5),
        "decode_multiple_poses 20, 0.1": lambda d: d.decode_multiple_poses(*tennis, 16, 20, 0.1),
        "decode_network_outputs, one image 5, 0.5": lambda d: d.decode_network_outputs(
            image, 16, d.validate_multi_pose_parameters(5, 0.5, 20)),
        "decode_multiple_poses_batch, 8 images 5, 0.5": lambda d: d.decode_multiple_poses_batch(*batch, 16, 5, 0.5),
        "decode_single_pose": lambda d: d.decode_single_pose(tennis[0], tennis[1], 16),
    }
    for case in cases.values():  # the same poses, bit for bit
        got, want = case(new), case(old)
        for ours, theirs in zip(*(r if isinstance(r, list) else [r] for r in (got, want)), strict=True):
            np.testing.assert_array_equal(ours.keypoints, theirs.keypoints)
    print(f"load average {os.getloadavg()[0]:.1f}; {args.rounds} interleaved rounds of {args.repeats} calls each; "
          "ratio = this version's median / the baseline's (below 1: faster)\n")
    print("| call | ratio per round | median ratio |")
    print("|---|---|---|")
    for name, case in cases.items():
        ratios = ratio_rounds(functools.partial(case, old), functools.partial(case, new), args.repeats, args.rounds)
        print(f"| {name} | {' '.join(f'{r:.3f}' for r in ratios)} | {statistics.median(ratios):.3f} |")
    if args.model_dir is None:
        return
    import posenet_onnx.runtime.posenet as runtime_posenet
    from posenet_onnx.runtime.images import load_image

    net = runtime_posenet.load(0.50, model_dir=args.model_dir, device="cpu")
    photo = load_image(args.shared / "images" / "couple.jpg")

    def estimate(decoder: object) -> object:
        runtime_posenet.decode_network_outputs = decoder.decode_network_outputs
        return net.estimate_multiple_poses(photo, image_scale_factor=0.5, output_stride=16)

    ratios = ratio_rounds(functools.partial(estimate, old), functools.partial(estimate, new), args.repeats // 20, args.rounds)
    runtime_posenet.decode_network_outputs = new.decode_network_outputs
    print(f"| estimate_multiple_poses end to end (0.50, stride 16, scale 0.5, couple.jpg) "
          f"| {' '.join(f'{r:.3f}' for r in ratios)} | {statistics.median(ratios):.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("POSENET_SHARED_DIR", REPO.parent / "shared" / "posenet")))
    parser.add_argument("--repeats", type=int, default=2000, help="timed calls per compiled measurement")
    parser.add_argument("--python-repeats", type=int, default=15, help="timed calls per plain-Python measurement")
    parser.add_argument("--baseline", type=Path, help="another decode/ folder to compare this one with, interleaved")
    parser.add_argument("--model-dir", type=Path, help="with --baseline: exported graphs for the end-to-end comparison")
    parser.add_argument("--rounds", type=int, default=7, help="with --baseline: interleaved rounds per comparison")
    args = parser.parse_args()

    tennis = load_tennis(args.shared)
    if args.baseline is not None:
        compare(args, tennis)
        return
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

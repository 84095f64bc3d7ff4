#!/usr/bin/env python
"""Benchmark the network-input preprocessing: tfjs 1.x bilinear resize (+ mirror) into float32, one pass.

In one process, on real photos at image scale 0.5 and 1.0 (stride 16): the median time of the Numba
kernel (`runtime.resize.resize_bilinear`) against a vectorised NumPy implementation of the same tfjs
formula (the baseline; its output is checked to be identical) and, for context only, Pillow's bilinear
resize plus the float32 conversion (what ports usually do; it differs from tfjs by up to a pixel of content).

    python scripts/bench_resize.py [--shared ../shared/posenet] [--repeats 200]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from posenet_onnx.runtime.images import load_image
from posenet_onnx.runtime.resize import resize_bilinear, valid_resolution

REPO = Path(__file__).resolve().parents[1]
PHOTOS = ("images/couple.jpg", "images/pose.jpg", "photos/mmpose_posetrack18/images/val/009473_mpii_test/000000.jpg")


def numpy_resize(image: np.ndarray, height: int, width: int, flip: bool) -> np.ndarray:
    """tfjs 1.x resizeBilinear(alignCorners=false), vectorised: float64 gathers and blends, float32 out."""
    in_height, in_width = image.shape[:2]
    rows = np.arange(height) * (in_height / height)
    cols = np.arange(width) * (in_width / width)
    top, left = np.floor(rows).astype(np.intp), np.floor(cols).astype(np.intp)
    bottom = np.minimum(in_height - 1, np.ceil(rows).astype(np.intp))
    right = np.minimum(in_width - 1, np.ceil(cols).astype(np.intp))
    row_frac, col_frac = (rows - top)[:, None, None], (cols - left)[None, :, None]
    if flip:
        left, right = in_width - 1 - left, in_width - 1 - right
    upper_rows, lower_rows = image[top].astype(np.float64), image[bottom].astype(np.float64)
    upper_left, lower_left = upper_rows[:, left], lower_rows[:, left]
    upper = upper_left + (upper_rows[:, right] - upper_left) * col_frac
    lower = lower_left + (lower_rows[:, right] - lower_left) * col_frac
    return (upper + (lower - upper) * row_frac).astype(np.float32)


def pillow_resize(image: np.ndarray, height: int, width: int, flip: bool) -> np.ndarray:
    picture = Image.fromarray(image[:, ::-1] if flip else image)
    return np.asarray(picture.resize((width, height), Image.BILINEAR), dtype=np.float32)


def median_ms(function: Callable[[], object], repeats: int) -> float:
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "posenet")
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()

    print("| photo | network input | flip | Numba ms | NumPy (same formula) ms | speed-up | Pillow ms (not tfjs-exact) |")
    print("|---|---|---|---|---|---|---|")
    for name in PHOTOS:
        image = load_image(args.shared / name)
        for scale in (0.5, 1.0):
            size = (valid_resolution(scale, image.shape[0], 16), valid_resolution(scale, image.shape[1], 16))
            for flip in (False, True):
                assert np.array_equal(resize_bilinear(image[np.newaxis], *size, flip)[0], numpy_resize(image, *size, flip))
                numba_ms = median_ms(lambda: resize_bilinear(image[np.newaxis], *size, flip), args.repeats)
                numpy_ms = median_ms(lambda: numpy_resize(image, *size, flip), args.repeats)
                pillow_ms = median_ms(lambda: pillow_resize(image, *size, flip), args.repeats)
                print(
                    f"| {Path(name).name} {image.shape[1]}x{image.shape[0]} | {size[1]}x{size[0]} | {flip} | "
                    f"{numba_ms:.2f} | {numpy_ms:.2f} | {numpy_ms / numba_ms:.1f}x | {pillow_ms:.2f} |"
                )


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Benchmark the network-input preprocessing: tfjs 1.x bilinear resize (+ mirror) into float32, one pass.

In one process, on real photos at image scale 0.5 and 1.0 (stride 16), interleaved call by call: the median
time of the kernel (`runtime.resize.resize_bilinear`: corners gathered per row, lerps over contiguous
memory; uint8 pixels packed, one read per pixel) against the previous kernel, kept here verbatim as the
baseline (four scattered loads and the lerps per output value; the outputs are checked to be
bit-identical), as median (fastest call); and, timed on its own afterwards for context only, Pillow's
bilinear resize plus the float32 conversion (what ports usually do; it differs from tfjs by up to a pixel
of content).

    python scripts/bench_resize.py [--shared ../shared/posenet] [--repeats 300]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np
from PIL import Image

from posenet_onnx.runtime.images import load_image
from posenet_onnx.runtime.resize import resize_bilinear, valid_resolution

REPO = Path(__file__).resolve().parents[1]
PHOTOS = ("images/couple.jpg", "images/pose.jpg", "photos/mmpose_posetrack18/images/val/009473_mpii_test/000000.jpg")


@numba.njit(cache=True, nogil=True)
def _old_column_taps(in_width: int, out_width: int, flip_horizontal: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ratio = in_width / out_width
    left = np.empty(out_width, dtype=np.int64)
    right = np.empty(out_width, dtype=np.int64)
    frac = np.empty(out_width, dtype=np.float64)
    for c in range(out_width):
        source = ratio * c
        floor = math.floor(source)
        left[c] = min(in_width - 1, int(floor))
        right[c] = min(in_width - 1, int(math.ceil(source)))
        frac[c] = source - floor
        if flip_horizontal:
            left[c] = in_width - 1 - left[c]
            right[c] = in_width - 1 - right[c]
    return left, right, frac


@numba.njit(cache=True, nogil=True)
def _old_resize_bilinear_into(images: np.ndarray, flip_horizontal: bool, out: np.ndarray) -> None:
    """The previous kernel (posenet-onnx before the gather/lerp split), unchanged."""
    batch, in_height, in_width, channels = images.shape
    out_height, out_width = out.shape[1], out.shape[2]
    left, right, col_frac = _old_column_taps(in_width, out_width, flip_horizontal)
    row_ratio = in_height / out_height
    for b in range(batch):
        for r in range(out_height):
            source_row = row_ratio * r
            floor = math.floor(source_row)
            top = min(in_height - 1, int(floor))
            bottom = min(in_height - 1, int(math.ceil(source_row)))
            row_frac = source_row - floor
            for c in range(out_width):
                lc, rc, frac = left[c], right[c], col_frac[c]
                for d in range(channels):
                    top_left = float(images[b, top, lc, d])
                    top_right = float(images[b, top, rc, d])
                    bottom_left = float(images[b, bottom, lc, d])
                    bottom_right = float(images[b, bottom, rc, d])
                    upper = top_left + (top_right - top_left) * frac
                    lower = bottom_left + (bottom_right - bottom_left) * frac
                    out[b, r, c, d] = upper + (lower - upper) * row_frac


def old_resize_bilinear(images: np.ndarray, height: int, width: int, flip_horizontal: bool = False) -> np.ndarray:
    """The previous public wrapper around the previous kernel (same checks and allocation)."""
    out = np.empty((images.shape[0], height, width, images.shape[3]), dtype=np.float32)
    _old_resize_bilinear_into(np.ascontiguousarray(images), bool(flip_horizontal), out)
    return out


def pillow_resize(image: np.ndarray, height: int, width: int, flip: bool) -> np.ndarray:
    picture = Image.fromarray(image[:, ::-1] if flip else image)
    return np.asarray(picture.resize((width, height), Image.BILINEAR), dtype=np.float32)


def interleaved_ms(functions: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, float]]:
    """(median, fastest) ms per function, timed call by call in turn so that load changes hit all alike."""
    for function in functions.values():
        function()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: (1e3 * statistics.median(values), 1e3 * min(values)) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "posenet")
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()

    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print("| photo | network input | flip | kernel ms | previous kernel ms | speed-up (medians) | Pillow ms (not tfjs-exact) |")
    print("|---|---|---|---|---|---|---|")
    for name in PHOTOS:
        image = load_image(args.shared / name)
        batch = image[np.newaxis]
        for scale in (0.5, 1.0):
            size = (valid_resolution(scale, image.shape[0], 16), valid_resolution(scale, image.shape[1], 16))
            for flip in (False, True):
                assert np.array_equal(resize_bilinear(batch, *size, flip), old_resize_bilinear(batch, *size, flip))
                ms = interleaved_ms(
                    {
                        "new": lambda: resize_bilinear(batch, *size, flip),
                        "old": lambda: old_resize_bilinear(batch, *size, flip),
                    },
                    args.repeats,
                )
                pillow = interleaved_ms({"pillow": lambda: pillow_resize(image, *size, flip)}, args.repeats // 4)
                print(
                    f"| {Path(name).name} {image.shape[1]}x{image.shape[0]} | {size[1]}x{size[0]} | {flip} | "
                    "{:.3f} ({:.3f}) | {:.3f} ({:.3f}) | ".format(*ms["new"], *ms["old"])
                    + f"{ms['old'][0] / ms['new'][0]:.2f}x | {pillow['pillow'][0]:.2f} |"
                )
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()

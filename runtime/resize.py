"""The network input: upstream's valid resolution and tfjs 1.x bilinear resize, with the mirror, in one pass.

posenet 1.0.3 resizes with `tf.image.resizeBilinear(alignCorners=false)` of tfjs-core 1.1.2, whose CPU
kernel maps output pixel `r` to source row `r * (in_height / out_height)` (no half-pixel centres; TF's
legacy mapping), interpolates in float64 (JavaScript numbers) and stores float32. The kernel below does
exactly that, so the network sees the same float32 pixels as the original. The [0, 255] -> [-1, 1]
normalisation is part of the exported graph.
"""

from __future__ import annotations

import math

import numba
import numpy as np


def valid_resolution(image_scale_factor: float, size: int, output_stride: int) -> int:
    """Upstream's getValidResolution: the scaled size rounded down to `k * output_stride + 1`.

    JavaScript's `%` is `math.fmod`; the result is an exact integer held in a float.
    """
    even_resolution = size * image_scale_factor - 1
    return int(even_resolution - math.fmod(even_resolution, output_stride) + 1)


@numba.njit(cache=True, nogil=True)
def _column_taps(in_width: int, out_width: int, flip_horizontal: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per output column: left and right source columns and the weight of the right one (same for every row)."""
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
        if flip_horizontal:  # sample the mirrored image: its column x is column W - 1 - x here
            left[c] = in_width - 1 - left[c]
            right[c] = in_width - 1 - right[c]
    return left, right, frac


@numba.njit(cache=True, nogil=True)
def _resize_bilinear_into(images: np.ndarray, flip_horizontal: bool, out: np.ndarray) -> None:
    """Resize N x H x W x C `images` into `out` (N x h x w x C float32) like tfjs 1.x, mirroring if asked."""
    batch, in_height, in_width, channels = images.shape
    out_height, out_width = out.shape[1], out.shape[2]
    left, right, col_frac = _column_taps(in_width, out_width, flip_horizontal)
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


def resize_bilinear(images: np.ndarray, height: int, width: int, flip_horizontal: bool = False) -> np.ndarray:
    """N x H x W x 3 images (uint8 or float32, contiguous) -> N x height x width x 3 float32 network input."""
    if images.ndim != 4 or images.dtype not in (np.uint8, np.float32):
        raise ValueError(f"expected an N x H x W x C uint8 or float32 array, got {images.dtype} {images.shape}")
    if height < 1 or width < 1:
        raise ValueError(f"resize target must be at least 1 x 1, got {height} x {width}")
    out = np.empty((images.shape[0], height, width, images.shape[3]), dtype=np.float32)
    _resize_bilinear_into(np.ascontiguousarray(images), bool(flip_horizontal), out)
    return out

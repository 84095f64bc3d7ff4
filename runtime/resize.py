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
def _taps(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per output row (or column): the low and high source index and the weight of the high one."""
    ratio = in_size / out_size
    low = np.empty(out_size, dtype=np.int64)
    high = np.empty(out_size, dtype=np.int64)
    frac = np.empty(out_size, dtype=np.float64)
    for i in range(out_size):
        source = ratio * i
        floor = math.floor(source)
        low[i] = min(in_size - 1, int(floor))
        high[i] = min(in_size - 1, int(math.ceil(source)))
        frac[i] = source - floor
    return low, high, frac


@numba.njit(cache=True, nogil=True)
def _value_taps(
    in_width: int, out_width: int, channels: int, flip_horizontal: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per output value of a row (column * channels + channel): its left and right source value in a source
    row, and the weight of the right one. The same for every row, so computed once."""
    left, right, frac = _taps(in_width, out_width)
    size = out_width * channels
    left_at = np.empty(size, dtype=np.uint64)  # unsigned: in range by construction, no wraparound handling
    right_at = np.empty(size, dtype=np.uint64)
    weight = np.empty(size, dtype=np.float64)
    for c in range(out_width):
        lc, rc = left[c], right[c]
        if flip_horizontal:  # sample the mirrored image: its column x is column W - 1 - x here
            lc, rc = in_width - 1 - lc, in_width - 1 - rc
        for d in range(channels):
            left_at[c * channels + d] = lc * channels + d
            right_at[c * channels + d] = rc * channels + d
            weight[c * channels + d] = frac[c]
    return left_at, right_at, weight


@numba.njit(cache=True, nogil=True)
def _resize_bilinear_into(images: np.ndarray, flip_horizontal: bool, out: np.ndarray) -> None:
    """Resize N x H x W x C `images` into `out` (N x h x w x C float32) like tfjs 1.x, mirroring if asked.

    Per output row, the four corner samples of every value are first gathered into contiguous buffers (the
    only scattered reads); the float64 lerps then run over contiguous memory, where they vectorise. The
    arithmetic is tfjs's, operation for operation: columns first, then rows, in float64.
    """
    batch, in_height, in_width, channels = images.shape
    out_height, out_width = out.shape[1], out.shape[2]
    top, bottom, row_frac = _taps(in_height, out_height)
    left_at, right_at, col_frac = _value_taps(in_width, out_width, channels, flip_horizontal)
    size = out_width * channels
    rows = images.reshape(batch, in_height, in_width * channels)
    out_rows = out.reshape(batch, out_height, size)
    top_left = np.empty(size, dtype=images.dtype)
    top_right = np.empty(size, dtype=images.dtype)
    bottom_left = np.empty(size, dtype=images.dtype)
    bottom_right = np.empty(size, dtype=images.dtype)
    for b in range(batch):
        for r in range(out_height):
            upper_row, lower_row = rows[b, top[r]], rows[b, bottom[r]]
            for k in range(size):
                lk, rk = left_at[k], right_at[k]
                top_left[k], top_right[k] = upper_row[lk], upper_row[rk]
                bottom_left[k], bottom_right[k] = lower_row[lk], lower_row[rk]
            frac, target = row_frac[r], out_rows[b, r]
            for k in range(size):
                # np.float64, not float(): Numba's float() keeps a float32 pixel float32.
                tl, bl, weight = np.float64(top_left[k]), np.float64(bottom_left[k]), col_frac[k]
                upper = tl + (np.float64(top_right[k]) - tl) * weight
                lower = bl + (np.float64(bottom_right[k]) - bl) * weight
                target[k] = upper + (lower - upper) * frac


def resize_bilinear(images: np.ndarray, height: int, width: int, flip_horizontal: bool = False) -> np.ndarray:
    """N x H x W x 3 images (uint8 or float32, contiguous) -> N x height x width x 3 float32 network input."""
    if images.ndim != 4 or images.dtype not in (np.uint8, np.float32):
        raise ValueError(f"expected an N x H x W x C uint8 or float32 array, got {images.dtype} {images.shape}")
    if height < 1 or width < 1:
        raise ValueError(f"resize target must be at least 1 x 1, got {height} x {width}")
    out = np.empty((images.shape[0], height, width, images.shape[3]), dtype=np.float32)
    _resize_bilinear_into(np.ascontiguousarray(images), bool(flip_horizontal), out)
    return out

"""The network input: upstream's valid resolution and tfjs 1.x bilinear resize, with the mirror, in one pass.

posenet 1.0.3 resizes with `tf.image.resizeBilinear(alignCorners=false)` of tfjs-core 1.1.2, whose CPU
kernel maps output pixel `r` to source row `r * (in_height / out_height)` (no half-pixel centres; TF's
legacy mapping), interpolates in float64 (JavaScript numbers) and stores float32. The kernel below does
exactly that, so the network sees the same float32 pixels as the original. The [0, 255] -> [-1, 1]
normalisation is part of the exported graph.

Speed: per output row, the four corner samples are first gathered into contiguous buffers (the only
scattered reads), then the float64 lerps run over contiguous memory, where they vectorise. uint8 photos
gather whole pixels (RGB packed into one uint32), a third of the reads; float32 images gather values.
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
def _column_taps(in_width: int, out_width: int, flip_horizontal: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per output column: left and right source column (unsigned: in range by construction, so Numba adds no
    negative-index handling) and the weight of the right one; mirrored if asked."""
    left, right, frac = _taps(in_width, out_width)
    if flip_horizontal:  # sample the mirrored image: its column x is column W - 1 - x here
        left, right = in_width - 1 - left, in_width - 1 - right
    return left.astype(np.uint64), right.astype(np.uint64), frac


@numba.njit(inline="always")
def _lerp(top_left: float, top_right: float, bottom_left: float, bottom_right: float, col_frac: float, row_frac: float) -> float:
    """tfjs's arithmetic, operation for operation, in float64: along the columns first, then the rows."""
    upper = top_left + (top_right - top_left) * col_frac
    lower = bottom_left + (bottom_right - bottom_left) * col_frac
    return upper + (lower - upper) * row_frac


@numba.njit(inline="always")
def _pixel(row: np.ndarray, i: int) -> np.uint32:
    """The uint8 RGB values row[i:i + 3] as one uint32, R in the low byte."""
    return np.uint32(row[i]) | (np.uint32(row[i + 1]) << 8) | (np.uint32(row[i + 2]) << 16)


@numba.njit(inline="always")
def _channel(pixel: np.uint32, shift: np.uint32) -> float:
    return np.float64((pixel >> shift) & np.uint32(255))


@numba.njit(cache=True, nogil=True)
def _resize_rgb8_into(images: np.ndarray, flip_horizontal: bool, out: np.ndarray) -> None:
    """Resize N x H x W x 3 uint8 `images` into `out` (N x h x w x 3 float32) like tfjs 1.x: per output row,
    pack the two source rows, gather the four corner pixels of every output pixel, lerp."""
    batch, in_height, in_width, _ = images.shape
    out_height, out_width = out.shape[1], out.shape[2]
    top, bottom, row_frac = _taps(in_height, out_height)
    left, right, col_frac = _column_taps(in_width, out_width, flip_horizontal)
    rows = images.reshape(batch, in_height, in_width * 3)
    out_rows = out.reshape(batch, out_height, out_width * 3)
    upper_row, lower_row = np.empty(in_width, np.uint32), np.empty(in_width, np.uint32)
    top_left, top_right = np.empty(out_width, np.uint32), np.empty(out_width, np.uint32)
    bottom_left, bottom_right = np.empty(out_width, np.uint32), np.empty(out_width, np.uint32)
    for b in range(batch):
        for r in range(out_height):
            upper_values, lower_values = rows[b, top[r]], rows[b, bottom[r]]
            for x in range(in_width):
                upper_row[x], lower_row[x] = _pixel(upper_values, 3 * x), _pixel(lower_values, 3 * x)
            for c in range(out_width):
                lc, rc = left[c], right[c]
                top_left[c], top_right[c] = upper_row[lc], upper_row[rc]
                bottom_left[c], bottom_right[c] = lower_row[lc], lower_row[rc]
            frac, target = row_frac[r], out_rows[b, r]
            for c in range(out_width):
                for d in range(3):
                    shift = np.uint32(8 * d)
                    target[3 * c + d] = _lerp(
                        _channel(top_left[c], shift), _channel(top_right[c], shift),
                        _channel(bottom_left[c], shift), _channel(bottom_right[c], shift), col_frac[c], frac,
                    )


@numba.njit(cache=True, nogil=True)
def _resize_float_into(images: np.ndarray, flip_horizontal: bool, out: np.ndarray) -> None:
    """Resize N x H x W x 3 float32 `images` into `out` like tfjs 1.x: per output row, gather the four corner
    values of every output value, lerp."""
    batch, in_height, in_width, channels = images.shape
    out_height, out_width = out.shape[1], out.shape[2]
    top, bottom, row_frac = _taps(in_height, out_height)
    left, right, frac_per_column = _column_taps(in_width, out_width, flip_horizontal)
    size = out_width * channels
    left_at, right_at, col_frac = np.empty(size, np.uint64), np.empty(size, np.uint64), np.empty(size)
    for k in range(size):  # per output value: its left and right source value within a source row
        c, d = divmod(k, channels)
        left_at[k], right_at[k], col_frac[k] = left[c] * channels + d, right[c] * channels + d, frac_per_column[c]
    rows = images.reshape(batch, in_height, in_width * channels)
    out_rows = out.reshape(batch, out_height, size)
    top_left, top_right = np.empty(size, images.dtype), np.empty(size, images.dtype)
    bottom_left, bottom_right = np.empty(size, images.dtype), np.empty(size, images.dtype)
    for b in range(batch):
        for r in range(out_height):
            upper_row, lower_row = rows[b, top[r]], rows[b, bottom[r]]
            for k in range(size):
                lk, rk = left_at[k], right_at[k]
                top_left[k], top_right[k] = upper_row[lk], upper_row[rk]
                bottom_left[k], bottom_right[k] = lower_row[lk], lower_row[rk]
            frac, target = row_frac[r], out_rows[b, r]
            for k in range(size):
                # np.float64, not float(): Numba's float() keeps a float32 value float32.
                target[k] = _lerp(
                    np.float64(top_left[k]), np.float64(top_right[k]),
                    np.float64(bottom_left[k]), np.float64(bottom_right[k]), col_frac[k], frac,
                )


def resize_bilinear(images: np.ndarray, height: int, width: int, flip_horizontal: bool = False) -> np.ndarray:
    """N x H x W x 3 images (uint8 or float32) -> N x height x width x 3 float32 network input."""
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype not in (np.uint8, np.float32):
        raise ValueError(f"expected an N x H x W x 3 uint8 or float32 array, got {images.dtype} {images.shape}")
    if height < 1 or width < 1:
        raise ValueError(f"resize target must be at least 1 x 1, got {height} x {width}")
    out = np.empty((images.shape[0], height, width, 3), dtype=np.float32)
    kernel = _resize_rgb8_into if images.dtype == np.uint8 else _resize_float_into
    kernel(np.ascontiguousarray(images), bool(flip_horizontal), out)
    return out

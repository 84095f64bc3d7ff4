"""The network input: upstream's valid resolution and tfjs 1.1.2's resizeBilinear, reimplemented here
independently, line by line from tfjs-core 1.1.2's CPU kernel (backend_cpu.js, MathBackendCPU.resizeBilinear,
alignCorners=false), in plain Python float64 arithmetic like JavaScript's numbers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from posenet_onnx.runtime.images import load_image
from posenet_onnx.runtime.resize import resize_bilinear, valid_resolution


def tfjs_resize_bilinear(image: np.ndarray, new_height: int, new_width: int) -> np.ndarray:
    """tfjs-core 1.1.2 CPU resizeBilinear(alignCorners=false) of one H x W x C image, stored as float32."""
    old_height, old_width, channels = image.shape
    values = image.astype(np.float64)
    result = np.empty((new_height, new_width, channels), np.float32)
    row_ratio, col_ratio = old_height / new_height, old_width / new_width
    for r in range(new_height):
        source_row = row_ratio * r
        row_floor = math.floor(source_row)
        row_frac = source_row - row_floor
        row_ceil = min(old_height - 1, math.ceil(source_row))
        for c in range(new_width):
            source_col = col_ratio * c
            col_floor = math.floor(source_col)
            col_frac = source_col - col_floor
            col_ceil = min(old_width - 1, math.ceil(source_col))
            top_left, top_right = values[row_floor, col_floor], values[row_floor, col_ceil]
            bottom_left, bottom_right = values[row_ceil, col_floor], values[row_ceil, col_ceil]
            top = top_left + (top_right - top_left) * col_frac
            bottom = bottom_left + (bottom_right - bottom_left) * col_frac
            result[r, c] = top + (bottom - top) * row_frac
    return result


@pytest.mark.parametrize(
    ("scale", "size", "stride", "expected"),
    # by hand: e = size * scale - 1; e - (e % stride) + 1
    [(0.5, 513, 16, 241), (1.0, 513, 16, 513), (0.5, 480, 16, 225), (0.5, 640, 8, 313), (0.2, 333, 32, 65), (0.2, 4, 16, 1)],
)
def test_valid_resolution(scale, size, stride, expected) -> None:
    assert valid_resolution(scale, size, stride) == expected


@pytest.fixture(scope="module")
def photo(shared: Path) -> np.ndarray:
    return load_image(shared / "photos" / "mmpose_mhp" / "10112.jpg")  # 215 x 180, real pixels


@pytest.mark.parametrize(("height", "width"), [(97, 89), (57, 73), (180, 215), (1, 1), (241, 233), (33, 401)])
def test_resize_equals_tfjs_bit_for_bit(photo, height, width) -> None:
    expected = tfjs_resize_bilinear(photo, height, width)
    np.testing.assert_array_equal(resize_bilinear(photo[np.newaxis], height, width)[0], expected)


def test_flip_equals_resizing_the_mirrored_image(photo) -> None:
    expected = tfjs_resize_bilinear(photo[:, ::-1], 97, 89)
    np.testing.assert_array_equal(resize_bilinear(photo[np.newaxis], 97, 89, flip_horizontal=True)[0], expected)


def test_batches_and_float_pixels(photo) -> None:
    batch = np.stack([photo, photo[::-1]])
    out = resize_bilinear(batch, 65, 81)
    assert out.shape == (2, 65, 81, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out[1], tfjs_resize_bilinear(photo[::-1], 65, 81))
    np.testing.assert_array_equal(resize_bilinear(batch.astype(np.float32), 65, 81), out)


def test_fractional_float_pixels_equal_tfjs(photo) -> None:
    """Non-integer float32 pixels (a user's float image) take the same float64 arithmetic as tfjs."""
    pixels = (photo.astype(np.float32) * np.float32(0.731) + np.float32(0.1)).astype(np.float32)
    expected = tfjs_resize_bilinear(pixels, 89, 97)
    np.testing.assert_array_equal(resize_bilinear(pixels[np.newaxis], 89, 97)[0], expected)


def test_resize_rejects_bad_input(photo) -> None:
    with pytest.raises(ValueError, match="expected an N x H x W x 3 uint8 or float32 array"):
        resize_bilinear(photo, 10, 10)
    with pytest.raises(ValueError, match="at least 1 x 1"):
        resize_bilinear(photo[np.newaxis], 0, 10)

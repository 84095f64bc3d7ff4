"""The decoder's building blocks against upstream's own test vectors and hand-derived cases."""

from __future__ import annotations

import numpy as np
import pytest

from posenet_onnx.decode.argmax2d import argmax2d
from posenet_onnx.decode.decode_pose import js_round, near_cell
from posenet_onnx.decode.max_heap import heap_pop, heap_push


def _argmax(values: list[float], shape: tuple[int, int, int]) -> list[tuple[int, int]]:
    scores = np.array(values, dtype=np.float32).reshape(shape)
    cells = np.empty((shape[2], 2), dtype=np.int64)
    argmax2d(scores, cells)
    return [tuple(int(v) for v in cell) for cell in cells]


@pytest.mark.parametrize(
    ("values", "shape", "expected"),
    [  # upstream's argmax2d_test.ts vectors (REFERENCE.md section 6), result (y, x)
        ([1, 2, 0, 3], (2, 2, 1), [(1, 1)]),
        ([1, 2, 0, 3, 4, -1, 2, 9, 6], (3, 3, 1), [(2, 1)]),
        ([0.5, 0.2, 0.9, 4.3, 0.2, 0.7, 0.6, -0.11, 1.4], (3, 3, 1), [(1, 0)]),
    ],
)
def test_argmax2d_upstream_vectors(values, shape, expected):
    assert _argmax(values, shape) == expected


def test_argmax2d_channels_ties_and_nan():
    # Channel 0 (4, 5, 1, 5): the maximum 5 occurs at flat cells 1 and 3 -> the first, (0, 1), wins.
    # Channel 1: NaN in the first cell: nothing compares greater than NaN, so cell (0, 0) stays.
    # Channel 2: a NaN later is skipped; the maximum 7 is at flat cell 2 = (1, 0).
    scores = [
        [4.0, np.nan, 1.0], [5.0, 2.0, 3.0],
        [1.0, 9.0, 7.0], [5.0, 1.0, np.nan],
    ]
    assert _argmax(np.array(scores).ravel().tolist(), (2, 2, 3)) == [(0, 1), (0, 0), (1, 0)]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(2.5, 3.0), (-2.5, -2.0), (1.5, 2.0), (0.49999999999999994, 0.0), (-0.5, 0.0), (3.2, 3.0), (-3.7, -4.0)],
)
def test_js_round_is_math_round(value, expected):
    # JavaScript's Math.round rounds halves towards +infinity; NumPy rounds 2.5 to 2.
    assert js_round(value) == expected
    assert np.round(2.5) == 2.0


@pytest.mark.parametrize(
    ("coordinate", "expected"),
    [(40.0, 3), (24.0, 2), (-8.0, 0), (1e300, 32), (np.inf, 32), (-np.inf, 0), (np.nan, -1), (520.0, 32)],
)
def test_near_cell_rounds_clamps_and_flags_nan(coordinate, expected):
    # stride 16, 33 cells: 40 / 16 = 2.5 rounds up; -8 / 16 = -0.5 rounds to -0 -> 0; huge and infinite
    # coordinates clamp to the border without overflowing; NaN has no cell.
    assert near_cell(coordinate, 16, 33) == expected


def _drain(pushes: list[float]) -> list[int]:
    values = np.empty(len(pushes), dtype=np.float32)
    items = np.empty(len(pushes), dtype=np.int64)
    size = 0
    for item, value in enumerate(pushes):
        size = heap_push(values, items, size, value, item)
    order = []
    while size > 0:
        _, item, size = heap_pop(values, items, size)
        order.append(int(item))
    return order


def test_heap_tie_order_derived_by_hand():
    # Push A=1, B=1, C=0.9, D=1 (items 0..3). Swims never move an equal value (less() is strict),
    # so the array is [A, B, C, D].
    # pop -> A; last (D) moves to the root: [D, B, C]; sink: node 0's only child B is not greater: stop.
    # pop -> D; C moves to the root: [C, B]; B > C, swap: [B, C].
    # pop -> B, then C. Upstream order A, D, B, C (a stable sort would give A, B, D, C).
    assert _drain([1.0, 1.0, 0.9, 1.0]) == [0, 3, 1, 2]
    # n equal values: the first pushed, then the rest in reverse push order (each pop moves the
    # last element to the root, where no equal child displaces it).
    assert _drain([1.0] * 5) == [0, 4, 3, 2, 1]


def test_heap_pops_in_non_increasing_order():
    rng = np.random.default_rng(7)
    pushes = rng.integers(0, 20, size=300).astype(np.float32) / 4  # many ties
    order = _drain(pushes.tolist())
    assert sorted(order) == list(range(300))
    assert np.all(np.diff(pushes[order]) <= 0)

"""Upstream's array max-heap, kept exact so that equal scores leave it in upstream's order.

Node 0's only child is node 1; node k >= 1 has children 2k and 2k + 1 (upstream's ``half(k) = floor(k/2)``
indexing). ``values`` holds the priorities, ``items`` what they belong to; ``size`` is passed in and
returned because Numba kernels keep the heap in preallocated arrays.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, inline="always")
def _exchange(values: np.ndarray, items: np.ndarray, i: int, j: int) -> None:
    values[i], values[j] = values[j], values[i]
    items[i], items[j] = items[j], items[i]


@njit(cache=True, nogil=True)
def heap_push(values: np.ndarray, items: np.ndarray, size: int, value: float, item: int) -> int:
    """Append (value, item) and swim it up; return the new size. ``size`` < len(values) is the caller's duty."""
    k = size
    values[k] = value
    items[k] = item
    while k > 0 and values[k // 2] < values[k]:
        _exchange(values, items, k, k // 2)
        k = k // 2
    return size + 1


@njit(cache=True, nogil=True)
def heap_pop(values: np.ndarray, items: np.ndarray, size: int) -> tuple[float, int, int]:
    """Remove the maximum; return (value, item, new size). ``size`` >= 1 is the caller's duty."""
    value = values[0]
    item = items[0]
    last = size - 1
    _exchange(values, items, 0, last)
    last -= 1
    k = 0
    while 2 * k <= last:
        j = 2 * k
        if j < last and values[j] < values[j + 1]:
            j += 1
        if not values[k] < values[j]:
            break
        _exchange(values, items, k, j)
        k = j
    return value, item, size - 1

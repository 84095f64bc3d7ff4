"""argmax2d: per keypoint, the grid cell with the highest heatmap score (first cell wins ties)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def argmax2d(scores: np.ndarray, out_cells: np.ndarray) -> None:
    """Write into ``out_cells`` [K, 2] the (y, x) of each channel's maximum over the H x W grid.

    Scans row-major and replaces only on a strictly greater value, as tfjs's argMax does: the first
    maximum wins ties, and NaN never wins unless it is the first cell (comparisons with NaN are false).
    One pass over the flat C-contiguous array, all channels at once.
    """
    height, width, num_keypoints = scores.shape
    flat = scores.reshape(scores.size)
    best = flat[:num_keypoints].copy()
    best_cell = np.zeros(num_keypoints, dtype=np.int64)
    for cell in range(height * width):
        base = cell * num_keypoints
        for k in range(num_keypoints):
            value = flat[base + k]
            if value > best[k]:
                best[k] = value
                best_cell[k] = cell
    for k in range(num_keypoints):
        out_cells[k, 0] = best_cell[k] // width
        out_cells[k, 1] = best_cell[k] % width

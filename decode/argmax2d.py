"""argmax2d: per keypoint, the grid cell with the highest heatmap score (first cell wins ties)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def argmax2d(scores: np.ndarray, out_cells: np.ndarray) -> None:
    """Write into ``out_cells`` [K, 2] the (y, x) of each channel's maximum over the H x W grid.

    Scans row-major and replaces only on a strictly greater value, as tfjs's argMax does: the first
    maximum wins ties, and NaN never wins unless it is the first cell (comparisons with NaN are false).
    """
    height, width, num_keypoints = scores.shape
    for k in range(num_keypoints):
        best = scores[0, 0, k]
        best_y = 0
        best_x = 0
        for y in range(height):
            for x in range(width):
                value = scores[y, x, k]
                if value > best:
                    best = value
                    best_y = y
                    best_x = x
        out_cells[k, 0] = best_y
        out_cells[k, 1] = best_x

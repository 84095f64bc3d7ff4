"""Root candidates of the multi-pose decoder: local maxima of the heatmaps above the score threshold."""

from __future__ import annotations

import numpy as np
from numba import njit

from .max_heap import heap_push

# Upstream's kLocalMaximumRadius: a candidate must be the maximum of its 3 x 3 window.
LOCAL_MAXIMUM_RADIUS = 1


@njit(cache=True, nogil=True)
def is_local_maximum(scores: np.ndarray, y: int, x: int, k: int) -> bool:
    """True if no score in the border-clipped 3 x 3 window around (y, x) is strictly greater (plateaus count)."""
    height, width, _ = scores.shape
    score = scores[y, x, k]
    for yy in range(max(y - LOCAL_MAXIMUM_RADIUS, 0), min(y + LOCAL_MAXIMUM_RADIUS + 1, height)):
        for xx in range(max(x - LOCAL_MAXIMUM_RADIUS, 0), min(x + LOCAL_MAXIMUM_RADIUS + 1, width)):
            if scores[yy, xx, k] > score:
                return False
    return True


@njit(cache=True, nogil=True)
def build_part_queue(scores: np.ndarray, score_threshold: float, values: np.ndarray, items: np.ndarray) -> int:
    """Push every candidate part into the heap (``values``, ``items``), y outer, x, keypoint inner; return its size.

    A part qualifies if ``not score < score_threshold`` (so a NaN score qualifies, as in JavaScript) and
    it is a local maximum. ``items`` get the flat heatmap index ``(y * W + x) * K + k``; the heap needs
    room for H * W * K entries.
    """
    height, width, num_keypoints = scores.shape
    size = 0
    for y in range(height):
        for x in range(width):
            for k in range(num_keypoints):
                score = scores[y, x, k]
                if score < score_threshold:
                    continue
                if is_local_maximum(scores, y, x, k):
                    size = heap_push(values, items, size, score, (y * width + x) * num_keypoints + k)
    return size

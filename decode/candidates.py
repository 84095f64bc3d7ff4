"""Root candidates of the multi-pose decoder: local maxima of the heatmaps above the score threshold."""

from __future__ import annotations

import numpy as np
from numba import njit

from .max_heap import heap_push

# Upstream's kLocalMaximumRadius: a candidate must be the maximum of its 3 x 3 window.
LOCAL_MAXIMUM_RADIUS = 1


@njit(cache=True, nogil=True, inline="always")
def is_local_maximum(flat: np.ndarray, height: int, width: int, num_keypoints: int, y: int, x: int, k: int) -> bool:
    """True if no score of channel k in the border-clipped 3 x 3 window around (y, x) is strictly greater.

    Plateaus count; a NaN neighbour never disqualifies and a NaN score is never beaten (comparisons with
    NaN are false, as in JavaScript). ``flat`` is the H x W x K heatmap flattened.
    """
    score = flat[(y * width + x) * num_keypoints + k]
    for yy in range(max(y - LOCAL_MAXIMUM_RADIUS, 0), min(y + LOCAL_MAXIMUM_RADIUS + 1, height)):
        for xx in range(max(x - LOCAL_MAXIMUM_RADIUS, 0), min(x + LOCAL_MAXIMUM_RADIUS + 1, width)):
            if flat[(yy * width + xx) * num_keypoints + k] > score:
                return False
    return True


@njit(cache=True, nogil=True)
def build_part_queue(scores: np.ndarray, score_threshold: float, values: np.ndarray, items: np.ndarray) -> int:
    """Push every candidate part into the heap (``values``, ``items``), y outer, x, keypoint inner; return its size.

    A part qualifies if ``not score < score_threshold`` (so a NaN score qualifies, as in JavaScript) and
    it is a local maximum. ``items`` get the flat heatmap index ``(y * W + x) * K + k``; the heap needs
    room for H * W * K entries. Flat indexing and a branch-free per-cell threshold test keep the scan
    of the mostly-below-threshold heatmap cheap.
    """
    height, width, num_keypoints = scores.shape
    flat = scores.reshape(scores.size)
    size = 0
    for y in range(height):
        for x in range(width):
            base = (y * width + x) * num_keypoints
            above = False
            for k in range(num_keypoints):
                above |= not flat[base + k] < score_threshold
            if not above:
                continue
            for k in range(num_keypoints):
                score = flat[base + k]
                if not score < score_threshold and is_local_maximum(flat, height, width, num_keypoints, y, x, k):
                    size = heap_push(values, items, size, score, base + k)
    return size

"""Single-pose decoding: each keypoint at its heatmap's argmax cell, refined by that cell's offset."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .argmax2d import argmax2d


@njit(cache=True, nogil=True)
def decode_single_pose_into(
    scores: np.ndarray,
    offsets: np.ndarray,
    output_stride: int,
    out_keypoints: np.ndarray,
    out_keypoint_scores: np.ndarray,
) -> float:
    """Write the pose into ``out_keypoints`` [17, 2] (x, y) and ``out_keypoint_scores`` [17]; return its score.

    Positions are float32 sums (upstream computes them with float32 tensor ops); the pose score is the
    float64 mean of the keypoint scores, as JavaScript sums them.
    """
    num_keypoints = scores.shape[2]
    cells = np.empty((num_keypoints, 2), dtype=np.int64)
    argmax2d(scores, cells)
    total = 0.0
    for k in range(num_keypoints):
        y = cells[k, 0]
        x = cells[k, 1]
        out_keypoints[k, 0] = np.float32(x * output_stride) + offsets[y, x, num_keypoints + k]
        out_keypoints[k, 1] = np.float32(y * output_stride) + offsets[y, x, k]
        score = np.float64(scores[y, x, k])
        out_keypoint_scores[k] = score
        total += score
    return total / num_keypoints


@njit(cache=True, nogil=True, parallel=True)
def decode_single_pose_batch_into(
    scores: np.ndarray,
    offsets: np.ndarray,
    output_stride: int,
    out_keypoints: np.ndarray,
    out_keypoint_scores: np.ndarray,
    out_scores: np.ndarray,
) -> None:
    """decode_single_pose_into for each of N images in parallel; outputs [N, 17, 2], [N, 17], [N]."""
    for n in prange(scores.shape[0]):
        out_scores[n] = decode_single_pose_into(
            scores[n], offsets[n], output_stride, out_keypoints[n], out_keypoint_scores[n]
        )

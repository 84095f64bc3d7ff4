"""decode_pose: grow one pose from its root part along the pose chain (backwards, then forwards).

Arithmetic is float64 on float32 inputs, as JavaScript reads float32 tensors into doubles.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Offset refinement modes (the public ``refinement`` argument): posenet 1.0.3 looks up the target's
# offset once and reads its score in that cell; posenet 2.x refines twice and reads the score at the
# refined position.
REFINEMENT_V1 = 1
REFINEMENT_V2 = 2


@njit(cache=True, nogil=True)
def js_round(value: float) -> float:
    """JavaScript's Math.round: nearest integer, halves towards +infinity (NumPy rounds halves to even)."""
    floor = np.floor(value)  # math.floor would return an int64 and overflow on huge values
    return floor + 1.0 if value - floor >= 0.5 else floor


@njit(cache=True, nogil=True)
def near_cell(coordinate: float, output_stride: int, size: int) -> int:
    """Grid index nearest to a pixel coordinate, clamped to [0, size - 1]; -1 for NaN.

    Clamping happens in floating point, so +-inf and huge coordinates land on the border cell instead of
    overflowing the integer conversion. NaN has no cell (JavaScript reads ``undefined`` there).
    """
    if math.isnan(coordinate):
        return -1
    index = js_round(coordinate / output_stride)
    if index < 0.0:
        return 0
    if index > size - 1:
        return size - 1
    return int(index)


@njit(cache=True, nogil=True)
def traverse_to_target(
    edge: int,
    source_y: float,
    source_x: float,
    target: int,
    scores: np.ndarray,
    offsets: np.ndarray,
    displacements: np.ndarray,
    output_stride: int,
    refinement: int,
) -> tuple[float, float, float]:
    """Follow edge ``edge``'s displacement from the source position to keypoint ``target``: (y, x, score).

    Any NaN coordinate on the way makes the target (NaN, NaN) with score NaN, the double equivalent of
    the ``undefined`` reads JavaScript does there.
    """
    height, width, num_keypoints = scores.shape
    num_edges = displacements.shape[2] // 2
    nan = math.nan
    cy = near_cell(source_y, output_stride, height)
    cx = near_cell(source_x, output_stride, width)
    if cy < 0 or cx < 0:
        return nan, nan, nan
    y = source_y + displacements[cy, cx, edge]
    x = source_x + displacements[cy, cx, num_edges + edge]
    for _ in range(refinement):
        cy = near_cell(y, output_stride, height)
        cx = near_cell(x, output_stride, width)
        if cy < 0 or cx < 0:
            return nan, nan, nan
        y = cy * output_stride + np.float64(offsets[cy, cx, target])
        x = cx * output_stride + np.float64(offsets[cy, cx, num_keypoints + target])
    if refinement == REFINEMENT_V2:
        cy = near_cell(y, output_stride, height)
        cx = near_cell(x, output_stride, width)
        if cy < 0 or cx < 0:
            return y, x, nan
    return y, x, np.float64(scores[cy, cx, target])


@njit(cache=True, nogil=True)
def decode_pose(
    root_y: float,
    root_x: float,
    root_part: int,
    root_score: float,
    scores: np.ndarray,
    offsets: np.ndarray,
    displacements_fwd: np.ndarray,
    displacements_bwd: np.ndarray,
    pose_chain: np.ndarray,
    output_stride: int,
    refinement: int,
    known: np.ndarray,
    out_keypoints: np.ndarray,
    out_scores: np.ndarray,
) -> None:
    """Place the root, then walk edges 15..0 child -> parent (bwd), then 0..15 parent -> child (fwd).

    Writes all 17 keypoints into ``out_keypoints`` [17, 2] as (x, y) and ``out_scores`` [17];
    ``known`` [17] is scratch space.
    """
    known[:] = False
    out_keypoints[root_part, 0] = root_x
    out_keypoints[root_part, 1] = root_y
    out_scores[root_part] = root_score
    known[root_part] = True
    num_edges = pose_chain.shape[0]
    for edge in range(num_edges - 1, -1, -1):
        parent = pose_chain[edge, 0]
        child = pose_chain[edge, 1]
        if known[child] and not known[parent]:
            y, x, score = traverse_to_target(
                edge, out_keypoints[child, 1], out_keypoints[child, 0], parent,
                scores, offsets, displacements_bwd, output_stride, refinement,
            )
            out_keypoints[parent, 0] = x
            out_keypoints[parent, 1] = y
            out_scores[parent] = score
            known[parent] = True
    for edge in range(num_edges):
        parent = pose_chain[edge, 0]
        child = pose_chain[edge, 1]
        if known[parent] and not known[child]:
            y, x, score = traverse_to_target(
                edge, out_keypoints[parent, 1], out_keypoints[parent, 0], child,
                scores, offsets, displacements_fwd, output_stride, refinement,
            )
            out_keypoints[child, 0] = x
            out_keypoints[child, 1] = y
            out_scores[child] = score
            known[child] = True

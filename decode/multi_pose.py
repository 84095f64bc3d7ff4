"""Multi-pose decoding (PersonLab's fast greedy decoding): roots from a max-heap of local maxima,
non-maximum suppression of roots near an earlier pose's same keypoint, and instance scores that ignore
keypoints already claimed by earlier poses.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types

from posenet_onnx.keypoints import NUM_EDGES, NUM_KEYPOINTS, POSE_CHAIN_IDS

from .candidates import build_part_queue
from .decode_pose import decode_pose
from .max_heap import heap_pop


@njit(cache=True, nogil=True)
def within_nms_radius(
    keypoints: np.ndarray, num_poses: int, squared_nms_radius: float, x: float, y: float, part: int
) -> bool:
    """True if keypoint ``part`` of any of the first ``num_poses`` poses lies within the radius (<=) of (x, y)."""
    for p in range(num_poses):
        dy = keypoints[p, part, 1] - y
        dx = keypoints[p, part, 0] - x
        if dy * dy + dx * dx <= squared_nms_radius:
            return True
    return False


@njit(cache=True, nogil=True)
def instance_score(
    keypoints: np.ndarray, keypoint_scores: np.ndarray, num_poses: int, squared_nms_radius: float
) -> float:
    """Pose ``num_poses``'s score: the sum of its keypoint scores not claimed by an earlier pose, / 17."""
    num_keypoints = keypoint_scores.shape[1]
    total = 0.0
    for k in range(num_keypoints):
        if not within_nms_radius(
            keypoints, num_poses, squared_nms_radius,
            keypoints[num_poses, k, 0], keypoints[num_poses, k, 1], k,
        ):
            total += keypoint_scores[num_poses, k]
    return total / num_keypoints


@njit(cache=True, nogil=True)
def decode_multiple_poses_into(
    scores: np.ndarray,
    offsets: np.ndarray,
    displacements_fwd: np.ndarray,
    displacements_bwd: np.ndarray,
    pose_chain: np.ndarray,
    output_stride: int,
    score_threshold: float,
    nms_radius: float,
    refinement: int,
    out_keypoints: np.ndarray,
    out_keypoint_scores: np.ndarray,
    out_scores: np.ndarray,
) -> int:
    """Decode up to ``len(out_scores)`` poses into the outputs ([P, 17, 2] (x, y), [P, 17], [P]); return P."""
    height, width, num_keypoints = scores.shape
    max_poses = out_scores.shape[0]
    heap_values = np.empty(height * width * num_keypoints, dtype=np.float32)
    heap_items = np.empty(height * width * num_keypoints, dtype=np.int64)
    known = np.empty(num_keypoints, dtype=np.bool_)
    squared_nms_radius = nms_radius * nms_radius
    queue_size = build_part_queue(scores, score_threshold, heap_values, heap_items)
    num_poses = 0
    while num_poses < max_poses and queue_size > 0:
        root_score, item, queue_size = heap_pop(heap_values, heap_items, queue_size)
        cell, part = divmod(item, num_keypoints)
        cy, cx = divmod(cell, width)
        root_y = cy * output_stride + np.float64(offsets[cy, cx, part])
        root_x = cx * output_stride + np.float64(offsets[cy, cx, num_keypoints + part])
        if within_nms_radius(out_keypoints, num_poses, squared_nms_radius, root_x, root_y, part):
            continue
        decode_pose(
            root_y, root_x, part, np.float64(root_score), scores, offsets, displacements_fwd,
            displacements_bwd, pose_chain, output_stride, refinement, known,
            out_keypoints[num_poses], out_keypoint_scores[num_poses],
        )
        out_scores[num_poses] = instance_score(out_keypoints, out_keypoint_scores, num_poses, squared_nms_radius)
        num_poses += 1
    return num_poses


# onnxruntime's outputs (C-contiguous float32 N x H' x W' x C): the only argument type the one-image kernel takes.
_TENSOR = types.Array(types.float32, 4, "C")


@njit(
    [(_TENSOR, _TENSOR, _TENSOR, _TENSOR, types.int64, types.int64, types.float64, types.float64, types.int64)],
    cache=True,
    nogil=True,
)
def decode_multiple_poses_image(
    scores: np.ndarray,
    offsets: np.ndarray,
    displacements_fwd: np.ndarray,
    displacements_bwd: np.ndarray,
    output_stride: int,
    max_poses: int,
    score_threshold: float,
    nms_radius: float,
    refinement: int,
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """decode_multiple_poses_into for a batch of one image, in one call (the runtime's hot path): (P, scores,
    keypoint_scores, keypoints) sized P, in fresh arrays; P == -1 (nothing decoded) unless the four tensors are
    one image's, with a shared non-empty grid and their channels.

    Numba's dispatcher rejects any other argument type with a TypeError.
    """
    images, height, width, channels = scores.shape
    keypoints = np.empty((max_poses, NUM_KEYPOINTS, 2))
    keypoint_scores = np.empty((max_poses, NUM_KEYPOINTS))
    pose_scores = np.empty(max_poses)
    grid = (images, height, width)
    if not (
        images == 1 and height > 0 and width > 0 and channels == NUM_KEYPOINTS
        and offsets.shape == (*grid, 2 * NUM_KEYPOINTS)
        and displacements_fwd.shape == (*grid, 2 * NUM_EDGES)
        and displacements_bwd.shape == (*grid, 2 * NUM_EDGES)
    ):
        return -1, pose_scores, keypoint_scores, keypoints
    found = decode_multiple_poses_into(
        scores[0], offsets[0], displacements_fwd[0], displacements_bwd[0], POSE_CHAIN_IDS, output_stride,
        score_threshold, nms_radius, refinement, keypoints, keypoint_scores, pose_scores,
    )
    return found, pose_scores[:found], keypoint_scores[:found], keypoints[:found]


@njit(cache=True, nogil=True, parallel=True)
def decode_multiple_poses_batch_into(
    scores: np.ndarray,
    offsets: np.ndarray,
    displacements_fwd: np.ndarray,
    displacements_bwd: np.ndarray,
    pose_chain: np.ndarray,
    output_stride: int,
    score_threshold: float,
    nms_radius: float,
    refinement: int,
    out_keypoints: np.ndarray,
    out_keypoint_scores: np.ndarray,
    out_scores: np.ndarray,
    out_counts: np.ndarray,
) -> None:
    """decode_multiple_poses_into for each of N images in parallel; outputs [N, P, 17, 2], [N, P, 17], [N, P], [N]."""
    for n in prange(scores.shape[0]):
        out_counts[n] = decode_multiple_poses_into(
            scores[n], offsets[n], displacements_fwd[n], displacements_bwd[n], pose_chain, output_stride,
            score_threshold, nms_radius, refinement, out_keypoints[n], out_keypoint_scores[n], out_scores[n],
        )

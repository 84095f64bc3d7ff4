"""Multi-pose decoding (PersonLab's fast greedy decoding): roots from a max-heap of local maxima,
non-maximum suppression of roots near an earlier pose's same keypoint, and instance scores that ignore
keypoints already claimed by earlier poses.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from posenet_onnx.keypoints import POSE_CHAIN_IDS

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
def decode_from_queue(
    scores: np.ndarray,
    offsets: np.ndarray,
    displacements_fwd: np.ndarray,
    displacements_bwd: np.ndarray,
    pose_chain: np.ndarray,
    output_stride: int,
    nms_radius: float,
    refinement: int,
    heap_values: np.ndarray,
    heap_items: np.ndarray,
    queue_size: int,
    out_keypoints: np.ndarray,
    out_keypoint_scores: np.ndarray,
    out_scores: np.ndarray,
) -> int:
    """Pop roots from the candidate heap and grow up to ``len(out_scores)`` poses into the outputs ([P, 17, 2]
    (x, y), [P, 17], [P]); return P."""
    num_keypoints = scores.shape[2]
    width = scores.shape[1]
    max_poses = out_scores.shape[0]
    known = np.empty(num_keypoints, dtype=np.bool_)
    squared_nms_radius = nms_radius * nms_radius
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
    size = scores.size
    heap_values = np.empty(size, dtype=np.float32)
    heap_items = np.empty(size, dtype=np.int64)
    queue_size = build_part_queue(scores, score_threshold, heap_values, heap_items)
    return decode_from_queue(
        scores, offsets, displacements_fwd, displacements_bwd, pose_chain, output_stride, nms_radius, refinement,
        heap_values, heap_items, queue_size, out_keypoints, out_keypoint_scores, out_scores,
    )


@njit(cache=True, nogil=True)
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
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Up to ``max_poses`` poses of one image as fresh (scores [P], keypoint scores [P, 17], keypoints [P, 17, 2]).

    The four outputs are one image's: H' x W' x C, or 1 x H' x W' x C as the runtime gets them (C-contiguous).
    The rank is known when Numba compiles, so each rank's version keeps only its own branch below, and taking
    image 0 is cheaper than a reshape. The pose chain is compiled in as a constant (one argument less to
    dispatch on the runtime's hot path).
    The outputs are allocated once the candidates are known: every pose has its own root candidate, so
    there is room for min(max_poses, candidates) poses, whatever ``max_poses`` is.
    """
    if scores.ndim == 4:  # a batch of one image, as the runtime gets it
        heatmaps, image_offsets, fwd, bwd = scores[0], offsets[0], displacements_fwd[0], displacements_bwd[0]
    else:
        heatmaps, image_offsets, fwd, bwd = scores, offsets, displacements_fwd, displacements_bwd
    heap_values = np.empty(heatmaps.size, dtype=np.float32)
    heap_items = np.empty(heatmaps.size, dtype=np.int64)
    queue_size = build_part_queue(heatmaps, score_threshold, heap_values, heap_items)
    capacity = min(max_poses, queue_size)
    num_keypoints = heatmaps.shape[2]
    keypoints = np.empty((capacity, num_keypoints, 2))
    keypoint_scores = np.empty((capacity, num_keypoints))
    pose_scores = np.empty(capacity)
    found = decode_from_queue(
        heatmaps, image_offsets, fwd, bwd, POSE_CHAIN_IDS, output_stride, nms_radius, refinement,
        heap_values, heap_items, queue_size, keypoints, keypoint_scores, pose_scores,
    )
    return pose_scores[:found], keypoint_scores[:found], keypoints[:found]


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

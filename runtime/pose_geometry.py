"""Upstream's pose utilities (posenet's util.ts): skeleton pairs, bounding boxes, scaling: the geometry of poses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from posenet_onnx.keypoints import CONNECTED_PART_INDICES
from posenet_onnx.runtime.pose import Keypoint, Pose, Position


@dataclass(frozen=True)
class BoundingBox:
    """Axis-aligned box in image pixels (upstream's `{minX, minY, maxX, maxY}`)."""

    min_x: float
    min_y: float
    max_x: float
    max_y: float


def get_adjacent_keypoints(keypoints: Sequence[Keypoint], min_confidence: float) -> list[tuple[Keypoint, Keypoint]]:
    """The skeleton's keypoint pairs, in upstream's connected-parts order, skipping pairs with a score below `min_confidence`."""
    return [
        (keypoints[a], keypoints[b])
        for a, b in CONNECTED_PART_INDICES
        if keypoints[a].score >= min_confidence and keypoints[b].score >= min_confidence
    ]


def get_bounding_box(keypoints: Sequence[Keypoint]) -> BoundingBox:
    """The box around all keypoints (no score filter, like upstream)."""
    xs = [k.position.x for k in keypoints]
    ys = [k.position.y for k in keypoints]
    return BoundingBox(min(xs, default=float("inf")), min(ys, default=float("inf")),
                       max(xs, default=float("-inf")), max(ys, default=float("-inf")))


def get_bounding_box_points(keypoints: Sequence[Keypoint]) -> list[Position]:
    """The bounding box's corners, clockwise from the top left."""
    box = get_bounding_box(keypoints)
    return [
        Position(box.min_x, box.min_y),
        Position(box.max_x, box.min_y),
        Position(box.max_x, box.max_y),
        Position(box.min_x, box.max_y),
    ]


def scale_pose(pose: Pose, scale_y: float, scale_x: float) -> Pose:
    """The pose with every position multiplied by (scale_x, scale_y); scores unchanged."""
    return Pose(
        pose.score,
        tuple(
            Keypoint(k.score, k.part, Position(k.position.x * scale_x, k.position.y * scale_y))
            for k in pose.keypoints
        ),
    )

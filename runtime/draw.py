"""Draw poses on an image (Pillow): keypoints as dots, the skeleton as lines, like upstream's demo."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from posenet_onnx.runtime.images import ImageLike, to_rgb_array
from posenet_onnx.runtime.pose import Pose
from posenet_onnx.runtime.pose_geometry import get_adjacent_keypoints

AQUA = (0, 255, 255)  # upstream demo's colour


def draw_poses(
    image: ImageLike,
    poses: Sequence[Pose],
    *,
    min_pose_confidence: float = 0.15,
    min_part_confidence: float = 0.1,
    color: tuple[int, int, int] = AQUA,
    radius: float = 3,
    line_width: int = 2,
) -> Image.Image:
    """A new RGB image with the poses drawn on a copy of `image`.

    Poses scoring below `min_pose_confidence` are skipped; within a pose, keypoints and skeleton lines
    whose parts score below `min_part_confidence` are skipped (the demo's thresholds are the defaults).
    """
    pixels = to_rgb_array(image)
    if pixels.dtype != np.uint8:  # float input (already checked to lie in [0, 255]); uint8 frames are not copied
        pixels = pixels.astype(np.uint8)
    canvas = Image.fromarray(pixels)
    pen = ImageDraw.Draw(canvas)
    color = tuple(color)
    for pose in poses:
        if pose.score < min_pose_confidence:
            continue
        for a, b in get_adjacent_keypoints(pose.keypoints, min_part_confidence):
            pen.line([(a.position.x, a.position.y), (b.position.x, b.position.y)], fill=color, width=line_width)
        for keypoint in pose.keypoints:
            if keypoint.score >= min_part_confidence:
                x, y = keypoint.position.x, keypoint.position.y
                pen.ellipse([x - radius, y - radius, x + radius, y + radius], fill=color)
    return canvas

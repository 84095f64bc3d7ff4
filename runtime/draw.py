"""Draw poses on an image (Pillow): keypoints as dots, the skeleton as lines, like upstream's demo; tracked
poses in their person ID's colour, with the ID beside them."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from posenet_onnx.runtime.images import ImageLike, to_rgb_array
from posenet_onnx.runtime.pose import Pose
from posenet_onnx.runtime.pose_geometry import get_adjacent_keypoints

AQUA = (0, 255, 255)  # upstream demo's colour
# Person ID colours: Sasha Trubetskoy's distinct colours, the most distinct ten first; ID n takes n mod 10.
ID_COLORS: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
)
LABEL_SIZE = 16  # pixels, the height of a person ID's digits


def draw_poses(
    image: ImageLike,
    poses: Sequence[Pose],
    *,
    min_pose_confidence: float = 0.15,
    min_part_confidence: float = 0.1,
    color: tuple[int, int, int] = AQUA,
    radius: float = 3,
    line_width: int = 2,
    ids: Sequence[int | None] | None = None,
) -> Image.Image:
    """A new RGB image with the poses drawn on a copy of `image`.

    Poses scoring below `min_pose_confidence` are skipped; within a pose, keypoints and skeleton lines
    whose parts score below `min_part_confidence` are skipped (the demo's thresholds are the defaults).
    `ids` (one per pose, e.g. a `PoseTracker`'s) draws each pose in its ID's colour (`ID_COLORS`) instead
    of `color`, with the ID written above its highest keypoint; a pose whose ID is None (a tracker's
    faint pose or person found twice) is drawn in `color` without one.
    """
    if ids is not None and len(ids) != len(poses):
        raise ValueError(f"Invalid ids: {len(ids)} for {len(poses)} poses; expected one per pose.")
    pixels = to_rgb_array(image)
    if pixels.dtype != np.uint8:  # float input (already checked to lie in [0, 255]); uint8 frames are not copied
        pixels = pixels.astype(np.uint8)
    canvas = Image.fromarray(pixels)
    pen = ImageDraw.Draw(canvas)
    ids = [None] * len(poses) if ids is None else ids
    colors = [tuple(color) if i is None else ID_COLORS[i % len(ID_COLORS)] for i in ids]
    for i, (pose, color) in enumerate(zip(poses, colors)):
        if pose.score < min_pose_confidence:
            continue
        if ids[i] is not None:
            _draw_label(pen, pose, str(ids[i]), color, min_part_confidence)
        for a, b in get_adjacent_keypoints(pose.keypoints, min_part_confidence):
            pen.line([(a.position.x, a.position.y), (b.position.x, b.position.y)], fill=color, width=line_width)
        for keypoint in pose.keypoints:
            if keypoint.score >= min_part_confidence:
                x, y = keypoint.position.x, keypoint.position.y
                pen.ellipse([x - radius, y - radius, x + radius, y + radius], fill=color)
    return canvas


def _draw_label(pen: ImageDraw.ImageDraw, pose: Pose, text: str, color: tuple[int, int, int], min_score: float) -> None:
    """Write `text` just above the pose's highest drawn keypoint (usually the head), outlined in black."""
    drawn = [k.position for k in pose.keypoints if k.score >= min_score]
    if drawn:
        top = min(drawn, key=lambda p: p.y)
        pen.text((top.x, top.y - 4), text, fill=color, font=_label_font(), anchor="mb", stroke_width=2, stroke_fill=(0, 0, 0))


@functools.cache
def _label_font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=LABEL_SIZE)

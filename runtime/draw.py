"""Draw poses on an image (Pillow): keypoints as dots, the skeleton as lines, like upstream's demo; tracked
poses in their person ID's colour, with the ID beside them."""

from __future__ import annotations

import functools
import math
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
    pixels = to_rgb_array(image)
    canvas = pixels.astype(np.uint8) if pixels.dtype != np.uint8 else pixels.copy()  # float input: checked in [0, 255]
    options = dict(min_pose_confidence=min_pose_confidence, min_part_confidence=min_part_confidence, color=color,
                   radius=radius, line_width=line_width, ids=ids)
    return Image.fromarray(draw_poses_on(canvas, poses, **options))


def draw_poses_on(
    canvas: np.ndarray,
    poses: Sequence[Pose],
    *,
    min_pose_confidence: float = 0.15,
    min_part_confidence: float = 0.1,
    color: tuple[int, int, int] = AQUA,
    radius: float = 3,
    line_width: int = 2,
    ids: Sequence[int] | None = None,
) -> np.ndarray:
    """`draw_poses` onto `canvas` itself (a writable H x W x 3 uint8 array), returned: the same pixels as
    `draw_poses`, at a fraction of its cost on large frames.

    Pillow stores RGB in four bytes a pixel, so each pose is drawn on a Pillow copy of only the region it
    covers, which is then written back: the frame is never converted whole. The region's offset is whole
    pixels, so every shape lands on the pixels it would cover in the whole frame.
    """
    if ids is not None and len(ids) != len(poses):
        raise ValueError(f"Invalid ids: {len(ids)} for {len(poses)} poses; expected one per pose.")
    ids = [None] * len(poses) if ids is None else ids
    colors = [tuple(color) if i is None else ID_COLORS[i % len(ID_COLORS)] for i in ids]
    height, width = canvas.shape[:2]
    for i, (pose, color) in enumerate(zip(poses, colors)):
        if pose.score < min_pose_confidence:
            continue
        label = None if ids[i] is None else str(ids[i])
        region = _region(pose, min_part_confidence, radius + line_width, label)
        if region is None:
            continue
        left, top = max(0, region[0]), max(0, region[1])
        right, bottom = min(width, region[2]), min(height, region[3])
        if left >= right or top >= bottom:
            continue
        patch = Image.fromarray(canvas[top:bottom, left:right])
        _draw_pose(ImageDraw.Draw(patch), pose, (left, top), color, label, min_part_confidence, radius, line_width)
        canvas[top:bottom, left:right] = np.asarray(patch)
    return canvas


def _region(pose: Pose, min_score: float, margin: float, label: str | None) -> tuple[int, int, int, int] | None:
    """The whole-pixel box (left, top, right, bottom; may reach outside the image) holding every shape drawn
    for the pose, with `margin` pixels and one more for rounding; None when nothing is drawn."""
    drawn = [k.position for k in pose.keypoints if k.score >= min_score]
    if not drawn:
        return None
    xs, ys = [p.x for p in drawn], [p.y for p in drawn]
    box = [min(xs) - margin, min(ys) - margin, max(xs) + margin, max(ys) + margin]
    if label is not None:
        top = min(drawn, key=lambda p: p.y)
        left, upper, right, lower = _label_font().getbbox(label, anchor="mb", stroke_width=2)
        box = [min(box[0], top.x + left), min(box[1], top.y - 4 + upper), max(box[2], top.x + right), max(box[3], top.y - 4 + lower)]
    return math.floor(box[0]) - 1, math.floor(box[1]) - 1, math.ceil(box[2]) + 2, math.ceil(box[3]) + 2


def _draw_pose(
    pen: ImageDraw.ImageDraw, pose: Pose, offset: tuple[int, int], color: tuple[int, int, int], label: str | None,
    min_score: float, radius: float, line_width: int,
) -> None:
    """The pose's label, skeleton lines and keypoint dots, in that order, shifted by -offset."""
    dx, dy = offset
    if label is not None:
        _draw_label(pen, pose, label, color, min_score, offset)
    for a, b in get_adjacent_keypoints(pose.keypoints, min_score):
        pen.line([(a.position.x - dx, a.position.y - dy), (b.position.x - dx, b.position.y - dy)], fill=color, width=line_width)
    for keypoint in pose.keypoints:
        if keypoint.score >= min_score:
            x, y = keypoint.position.x - dx, keypoint.position.y - dy
            pen.ellipse([x - radius, y - radius, x + radius, y + radius], fill=color)


def _draw_label(
    pen: ImageDraw.ImageDraw, pose: Pose, text: str, color: tuple[int, int, int], min_score: float, offset: tuple[int, int]
) -> None:
    """Write `text` just above the pose's highest drawn keypoint (usually the head), outlined in black."""
    drawn = [k.position for k in pose.keypoints if k.score >= min_score]
    if drawn:
        top = min(drawn, key=lambda p: p.y)
        xy = (top.x - offset[0], top.y - 4 - offset[1])
        pen.text(xy, text, fill=color, font=_label_font(), anchor="mb", stroke_width=2, stroke_fill=(0, 0, 0))


@functools.cache
def _label_font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=LABEL_SIZE)

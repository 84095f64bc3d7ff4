"""Drawing on regions: `draw_poses_on` (each pose drawn on a Pillow copy of only the region it covers) gives
exactly the pixels of drawing every shape on the whole frame, on real frames and on poses at the edges."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from posenet_onnx.keypoints import PART_NAMES
from posenet_onnx.runtime.draw import AQUA, ID_COLORS, _label_font, draw_poses, draw_poses_on
from posenet_onnx.runtime.pose import Pose
from posenet_onnx.runtime.pose_geometry import get_adjacent_keypoints
from posenet_onnx.runtime.video.pipeline import open_video
from posenet_onnx.runtime.video.tracking import PoseTracker


def whole_frame(image: np.ndarray, poses: list[Pose], ids: list[int] | None = None, radius: float = 3, width: int = 2) -> np.ndarray:
    """The reference: every shape drawn on the whole frame converted to Pillow, label, lines, dots per pose."""
    canvas = Image.fromarray(image)
    pen = ImageDraw.Draw(canvas)
    for i, pose in enumerate(poses):
        if pose.score < 0.15:
            continue
        color = AQUA if ids is None else ID_COLORS[ids[i] % len(ID_COLORS)]
        drawn = [k.position for k in pose.keypoints if k.score >= 0.1]
        if ids is not None and drawn:
            top = min(drawn, key=lambda p: p.y)
            pen.text((top.x, top.y - 4), str(ids[i]), fill=color, font=_label_font(), anchor="mb", stroke_width=2,
                     stroke_fill=(0, 0, 0))
        for a, b in get_adjacent_keypoints(pose.keypoints, 0.1):
            pen.line([(a.position.x, a.position.y), (b.position.x, b.position.y)], fill=color, width=width)
        for k in pose.keypoints:
            if k.score >= 0.1:
                x, y = k.position.x, k.position.y
                pen.ellipse([x - radius, y - radius, x + radius, y + radius], fill=color)
    return np.asarray(canvas)


def test_real_frames_are_drawn_exactly_as_on_the_whole_frame(shared: Path, net) -> None:
    with open_video(str(shared / "images" / "pose_squats.mp4")) as (_, frames):
        images = [frame.image for _, frame in zip(range(20), frames)]
    tracker = PoseTracker()
    for image in images:
        poses = net.estimate_multiple_poses(image)
        ids = tracker(poses)
        for labels in (None, ids):
            expected = whole_frame(image, poses, labels)
            assert np.array_equal(draw_poses_on(image.copy(), poses, ids=labels), expected)
            assert np.array_equal(np.asarray(draw_poses(image, poses, ids=labels)), expected)


@pytest.mark.parametrize("seed", range(6))
def test_poses_at_and_beyond_the_edges_are_drawn_exactly_as_on_the_whole_frame(seed: int) -> None:
    """Random poses spread over and around a small frame (partly outside it, some wholly), big dots and lines."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (61, 83, 3), dtype=np.uint8)
    poses = []
    for _ in range(6):
        centre = rng.uniform(-30, 110, 2)
        positions = centre + rng.normal(0, 25, (17, 2))
        poses.append(Pose.from_arrays(rng.uniform(0.1, 1), rng.uniform(0, 1, 17), positions, PART_NAMES))
    ids = [int(i) for i in rng.integers(0, 120, len(poses))]
    for labels in (None, ids):
        expected = whole_frame(image, poses, labels, radius=4.5, width=5)
        drawn = draw_poses_on(image.copy(), poses, ids=labels, radius=4.5, line_width=5)
        assert np.array_equal(drawn, expected)

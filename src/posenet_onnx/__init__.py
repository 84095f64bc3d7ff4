"""posenet-onnx: Google's PoseNet on ONNX Runtime, with results identical to the original JavaScript package.

    import posenet_onnx
    net = posenet_onnx.load(0.50)
    pose = net.estimate_single_pose("person.jpg")
    print(pose.score, pose.keypoints[0].part, pose.keypoints[0].position.x)

`import posenet_onnx` is light: it never imports TensorFlow, and the runtime (onnxruntime, Numba) loads
on first use of one of the names below.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public name -> (module, attribute). Upstream's table names are kept (part_names, part_ids, pose_chain).
_EXPORTS: dict[str, tuple[str, str]] = {
    "load": ("posenet_onnx.runtime.posenet", "load"),
    "PoseNet": ("posenet_onnx.runtime.posenet", "PoseNet"),
    "Pose": ("posenet_onnx.runtime.pose", "Pose"),
    "Keypoint": ("posenet_onnx.runtime.pose", "Keypoint"),
    "Position": ("posenet_onnx.runtime.pose", "Position"),
    "BoundingBox": ("posenet_onnx.runtime.pose_geometry", "BoundingBox"),
    "get_adjacent_keypoints": ("posenet_onnx.runtime.pose_geometry", "get_adjacent_keypoints"),
    "get_bounding_box": ("posenet_onnx.runtime.pose_geometry", "get_bounding_box"),
    "get_bounding_box_points": ("posenet_onnx.runtime.pose_geometry", "get_bounding_box_points"),
    "scale_pose": ("posenet_onnx.runtime.pose_geometry", "scale_pose"),
    "draw_poses": ("posenet_onnx.runtime.draw", "draw_poses"),
    "PoseTracker": ("posenet_onnx.runtime.video.tracking", "PoseTracker"),
    "part_names": ("posenet_onnx.keypoints", "PART_NAMES"),
    "part_ids": ("posenet_onnx.keypoints", "PART_IDS"),
    "pose_chain": ("posenet_onnx.keypoints", "POSE_CHAIN"),
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    """Import the public names lazily, so that `import posenet_onnx` stays cheap."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'posenet_onnx' has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*__all__, *(name for name in globals() if name.startswith("__"))])

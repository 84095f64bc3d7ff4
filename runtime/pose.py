"""Result value types, shaped like upstream's `Pose` objects: `pose.keypoints[i].position.x`.

`to_dict()` gives upstream's JSON structure; `positions` / `scores` give arrays for numeric work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

_new = object.__new__  # an instance without running __init__


@dataclass(frozen=True)
class Position:
    """A point in image pixels: x to the right, y down."""

    x: float
    y: float

    def to_dict(self) -> dict[str, float]:
        return {"x": self.x, "y": self.y}


@dataclass(frozen=True)
class Keypoint:
    """One body part: its confidence, its name (`keypoints.PART_NAMES`) and its position."""

    score: float
    part: str
    position: Position

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "part": self.part, "position": self.position.to_dict()}


@dataclass(frozen=True)
class Pose:
    """A person: the pose score and the 17 keypoints in part-id order."""

    score: float
    keypoints: tuple[Keypoint, ...]

    @classmethod
    def from_arrays(cls, score: float, keypoint_scores: np.ndarray, positions: np.ndarray, part_names: tuple[str, ...]) -> Pose:
        """Build a pose from a score, [17] keypoint scores and [17, 2] (x, y) positions.

        The 35 frozen objects are filled through their __dict__ with values already of the fields' types:
        their generated __init__ (one object.__setattr__ per field) would cost more than the decoding.
        """
        keypoints = []
        for s, part, (x, y) in zip(keypoint_scores.tolist(), part_names, positions.tolist()):
            position = _new(Position)
            position.__dict__.update(x=x, y=y)
            keypoint = _new(Keypoint)
            keypoint.__dict__.update(score=s, part=part, position=position)
            keypoints.append(keypoint)
        pose = _new(cls)
        pose.__dict__.update(score=float(score), keypoints=tuple(keypoints))
        return pose

    @property
    def positions(self) -> np.ndarray:
        """[17, 2] float64 array of (x, y)."""
        return np.array([(k.position.x, k.position.y) for k in self.keypoints], dtype=np.float64).reshape(-1, 2)

    @property
    def scores(self) -> np.ndarray:
        """[17] float64 array of keypoint scores."""
        return np.array([k.score for k in self.keypoints], dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """Upstream's JSON structure: `{"score", "keypoints": [{"score", "part", "position": {"x", "y"}}]}`."""
        return {"score": self.score, "keypoints": [k.to_dict() for k in self.keypoints]}


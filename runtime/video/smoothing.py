"""Temporal smoothing of keypoints across video frames: a One Euro filter per tracked person.

Per-frame PoseNet keypoints jitter by a few pixels even when a person stands still. The One Euro filter
(Casiez, Roussel and Vogel, CHI 2012) is a low-pass filter whose cutoff rises with speed: strong smoothing
when a keypoint is still, little lag when it moves fast. Each person keeps their own filter: given person
IDs (a `PoseTracker`'s), the filter follows the ID; without them, poses are matched to the previous frame's
people by nearest mean keypoint distance. Scores are not changed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from posenet_onnx.keypoints import PART_NAMES
from posenet_onnx.runtime.pose import Pose

DEFAULT_MIN_CUTOFF = 1.0
DEFAULT_BETA = 4.0
DEFAULT_MAX_SHIFT = 0.5


def smoothing_factor(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    """Weight of the new sample in an exponential low-pass with this cutoff (Hz) over a step of dt seconds."""
    r = 2.0 * math.pi * cutoff * dt
    return r / (r + 1.0)


class OneEuroFilter:
    """One Euro filter over an array of values (e.g. one person's 17x2 keypoint positions, in pixels).

    `min_cutoff` (Hz) sets the smoothing of still values (lower = smoother); `beta` raises the cutoff with
    speed (higher = less lag on fast motion), per unit of speed measured in `scale`s per second (a pose's
    size for keypoints, so the same settings fit any resolution); `d_cutoff` (Hz) smooths the speed
    estimate. A constant input comes out unchanged, bit for bit.
    """

    def __init__(self, min_cutoff: float = DEFAULT_MIN_CUTOFF, beta: float = DEFAULT_BETA, d_cutoff: float = 1.0):
        _check_parameter("min_cutoff", min_cutoff, positive=True)
        _check_parameter("beta", beta, positive=False)
        _check_parameter("d_cutoff", d_cutoff, positive=True)
        self.min_cutoff, self.beta, self.d_cutoff = float(min_cutoff), float(beta), float(d_cutoff)
        self._value: np.ndarray | None = None
        self._speed: np.ndarray | None = None
        self._time = 0.0

    def __call__(self, value: np.ndarray, timestamp: float, scale: float = 1.0) -> np.ndarray:
        """Filter the value observed at `timestamp` (seconds, increasing); return the smoothed value."""
        value = np.asarray(value, dtype=np.float64)
        if self._value is None:
            self._value, self._speed, self._time = value.copy(), np.zeros_like(value), float(timestamp)
            return value.copy()
        dt = float(timestamp) - self._time
        if not dt > 0:
            raise ValueError(f"Timestamps must increase; got {timestamp!r} after {self._time!r}.")
        speed = (value - self._value) / dt
        self._speed = self._speed + smoothing_factor(self.d_cutoff, dt) * (speed - self._speed)
        cutoff = self.min_cutoff + self.beta * np.abs(self._speed) / scale
        # x + a * (new - x): exactly x again when new == x, so still keypoints stay put.
        self._value = self._value + smoothing_factor(cutoff, dt) * (value - self._value)
        self._time = float(timestamp)
        return self._value.copy()


def _check_parameter(name: str, value: float, *, positive: bool) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (value <= 0 if positive else value < 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"Invalid smoothing {name} {value!r}; expected a finite number {bound}.")


def pose_size(positions: np.ndarray) -> np.ndarray:
    """The diagonal of the keypoints' bounding box ([..., 17, 2] -> [...]), at least one pixel."""
    return np.maximum(np.linalg.norm(positions.max(axis=-2) - positions.min(axis=-2), axis=-1), 1.0)


def match_nearest(previous: Sequence[np.ndarray], current: Sequence[np.ndarray], max_shift: float) -> dict[int, int]:
    """Greedy nearest matching of current poses to previous ones, as {current index: previous index}.

    Distance is the mean keypoint distance; a pair only matches when it is at most `max_shift` times the
    previous pose's size (its keypoints' bounding-box diagonal), so a new person never inherits a track.
    """
    if not previous or not current:
        return {}
    before = np.stack(previous)  # [P, 17, 2]
    now = np.stack(current)  # [C, 17, 2]
    distance = np.linalg.norm(now[:, None] - before[None], axis=-1).mean(axis=-1)  # [C, P]
    distance[distance > max_shift * pose_size(before)[None, :]] = np.inf
    matches: dict[int, int] = {}
    while np.isfinite(distance).any():
        c, p = np.unravel_index(np.argmin(distance), distance.shape)
        matches[int(c)] = int(p)
        distance[c, :] = np.inf
        distance[:, p] = np.inf
    return matches


class PoseSmoother:
    """Smooths the keypoint positions of the people in consecutive frames, one One Euro filter per person.

    Call it once per frame with the frame's poses and timestamp (seconds, increasing), and optionally
    their person IDs; it returns the poses in the same order with smoothed positions (scores unchanged).
    People are followed by their IDs, else by `match_nearest`; a person not seen in a frame loses their
    filter, and a new person starts unfiltered.
    """

    def __init__(
        self,
        min_cutoff: float = DEFAULT_MIN_CUTOFF,
        beta: float = DEFAULT_BETA,
        d_cutoff: float = 1.0,
        max_shift: float = DEFAULT_MAX_SHIFT,
    ):
        OneEuroFilter(min_cutoff, beta, d_cutoff)  # validates the filter parameters up front
        _check_parameter("max_shift", max_shift, positive=True)
        self._parameters = (min_cutoff, beta, d_cutoff)
        self.max_shift = float(max_shift)
        # This frame's people: (smoothed positions, filter, person ID or None).
        self._tracks: list[tuple[np.ndarray, OneEuroFilter, int | None]] = []

    def __call__(self, poses: Sequence[Pose], timestamp: float, ids: Sequence[int] | None = None) -> list[Pose]:
        """This frame's poses with smoothed positions, in the order given; `ids`: their person IDs, one each."""
        raw = [pose.positions for pose in poses]
        if ids is None:
            matches = match_nearest([last for last, _, _ in self._tracks], raw, self.max_shift)
            filters = [self._tracks[matches[i]][1] if i in matches else None for i in range(len(poses))]
        elif len(ids) != len(poses):
            raise ValueError(f"Invalid ids: {len(ids)} for {len(poses)} poses; expected one per pose.")
        else:
            by_id = {key: track for _, track, key in self._tracks if key is not None}
            filters = [by_id.get(key) for key in ids]
        tracks, smoothed = [], []
        for i, (pose, positions, track) in enumerate(zip(poses, raw, filters)):
            track = OneEuroFilter(*self._parameters) if track is None else track
            positions = track(positions, timestamp, float(pose_size(positions)))
            tracks.append((positions, track, None if ids is None else ids[i]))
            smoothed.append(Pose.from_arrays(pose.score, pose.scores, positions, PART_NAMES))
        self._tracks = tracks
        return smoothed

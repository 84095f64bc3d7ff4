"""Stable person IDs across video frames: a pose tracker that labels each frame's poses.

Each frame's poses are matched to the tracks of the previous frames by an OKS-like keypoint similarity
(COCO's object keypoint similarity on the keypoints confident in both, scaled by the track's size) with an
optimal one-to-one assignment (the Hungarian algorithm). Poses a viewer sees (pose score at least
`min_pose_score`, draw_poses' threshold) are assigned first; fainter poses can then continue a track that
is left, but start none. A track predicts its keypoints forward at constant velocity, so a moving person
is matched where they are now, and remembers keypoints a pose missed for a few frames. A track that finds
no pose is kept for `max_age` frames, so a person missed for a moment keeps their ID. PoseNet's
multi-pose decoder sometimes finds one person twice: a second pose much like one already labelled starts
no track either. IDs count up from 1 and are never reused; poses that start no track get a fresh ID of
their own. The tracker only labels: the poses are never dropped, added, reordered or moved.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from posenet_onnx.keypoints import NUM_KEYPOINTS
from posenet_onnx.runtime.pose import Pose

DEFAULT_MAX_AGE = 30  # frames a track survives unseen: one second at 30 fps
DEFAULT_MIN_SIMILARITY = 0.2
DEFAULT_MIN_KEYPOINT_SCORE = 0.3
DEFAULT_MIN_POSE_SCORE = 0.15  # draw_poses' min_pose_confidence: the poses a viewer sees
DEFAULT_VELOCITY_SMOOTHING = 0.6
# COCO's per-keypoint OKS constants (2 sigma, in PoseNet's part order, which is COCO's), widened: from one
# frame to the next a detected keypoint moves more than two annotators disagree.
KEYPOINT_TOLERANCES = 2.0 * 2 * np.array(
    [0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089]
)
MEMORY_DECAY = 0.7  # per frame, the score of a keypoint a track remembers but has not seen again
DUPLICATE_SIMILARITY = 0.5  # a second pose this much like a labelled one is the same person found twice


@dataclass
class _Track:
    """One person followed over frames: their keypoints, the keypoints' scores, velocity, when last seen."""

    id: int
    positions: np.ndarray  # [17, 2] where the person was last seen (remembered keypoints moved on)
    scores: np.ndarray  # [17] their scores (remembered keypoints' decayed)
    velocity: np.ndarray  # [2] pixels per frame, the mean motion of the confident keypoints
    last_frame: int

    def predicted(self, frame: int) -> np.ndarray:
        """Where the keypoints are expected in `frame`, moving on at constant velocity."""
        return self.positions + self.velocity * (frame - self.last_frame)


def keypoint_similarity(
    positions_a: np.ndarray, confident_a: np.ndarray, positions_b: np.ndarray, confident_b: np.ndarray
) -> np.ndarray:
    """OKS-like similarity in [0, 1] of each of A [N, 17, 2] (confident [N, 17]) to each of B [M, 17, 2]: [N, M].

    The mean over the keypoints confident in both of exp(-d^2 / (2 s^2 k^2)), with d the keypoint
    distance, s^2 the area of the bounding box of A's 17 keypoints and k the keypoint's tolerance
    (`KEYPOINT_TOLERANCES`); 0 where no keypoint is confident in both.
    """
    both = confident_a[:, None, :] & confident_b[None, :, :]  # [N, M, 17]
    squared = ((positions_a[:, None] - positions_b[None]) ** 2).sum(axis=-1)  # [N, M, 17]
    extent = positions_a.max(axis=1) - positions_a.min(axis=1)  # [N, 2]
    area = np.maximum(extent[:, 0] * extent[:, 1], 1.0)  # [N]
    similarity = np.exp(-squared / (2.0 * area[:, None, None] * KEYPOINT_TOLERANCES**2))
    count = both.sum(axis=-1)
    total = np.where(both, similarity, 0.0).sum(axis=-1)
    return np.divide(total, count, out=np.zeros_like(total), where=count > 0)


def optimal_assignment(cost: np.ndarray) -> list[tuple[int, int]]:
    """The (row, column) pairs of least total cost over a finite [n, m] cost matrix, min(n, m) of them,
    sorted by row: the Hungarian algorithm with potentials (Kuhn-Munkres, O(n^2 m) for n <= m)."""
    if cost.shape[0] > cost.shape[1]:
        return sorted((r, c) for c, r in optimal_assignment(cost.T))
    n, m = cost.shape
    u, v = np.zeros(n + 1), np.zeros(m + 1)  # row and column potentials
    owner = np.zeros(m + 1, dtype=np.int64)  # owner[j]: the row (1-based) given column j (1-based), 0 if none
    way = np.zeros(m + 1, dtype=np.int64)  # the previous column on the shortest augmenting path
    for row in range(1, n + 1):
        owner[0], column = row, 0
        slack = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, dtype=bool)
        while owner[column] != 0:
            used[column] = True
            reduced = cost[owner[column] - 1] - u[owner[column]] - v[1:]
            better = ~used[1:] & (reduced < slack[1:])
            slack[1:][better] = reduced[better]
            way[1:][better] = column
            free = np.flatnonzero(~used[1:]) + 1
            nearest = free[np.argmin(slack[free])]
            delta = slack[nearest]
            u[owner[used]] += delta
            v[used] -= delta
            slack[~used] -= delta
            column = nearest
        while column != 0:  # flip the augmenting path
            previous = way[column]
            owner[column] = owner[previous]
            column = previous
    return sorted((int(owner[j]) - 1, j - 1) for j in range(1, m + 1) if owner[j] != 0)


class PoseTracker:
    """Gives each pose of a frame a stable integer person ID; call it once per frame, in order.

        tracker = PoseTracker()
        for image in camera:
            poses = net.estimate_multiple_poses(image)
            ids = tracker(poses)  # ids[i] is the person ID of poses[i]

    `max_age`: frames a track is kept while no pose matches it (a person missed for up to that many
    frames keeps their ID; after more they come back with a new one). `min_similarity`: the least
    keypoint similarity (0-1, `keypoint_similarity`) of a pose to a track's prediction for them to match.
    `min_keypoint_score`: keypoints scoring below it are not compared. `min_pose_score`: poses scoring
    below it are matched after the others and start no track. `velocity_smoothing`: the weight (0-1) of
    the latest motion in the velocity estimate (1: the last step alone; 0: no motion prediction).
    """

    def __init__(
        self,
        max_age: int = DEFAULT_MAX_AGE,
        min_similarity: float = DEFAULT_MIN_SIMILARITY,
        min_keypoint_score: float = DEFAULT_MIN_KEYPOINT_SCORE,
        min_pose_score: float = DEFAULT_MIN_POSE_SCORE,
        velocity_smoothing: float = DEFAULT_VELOCITY_SMOOTHING,
    ):
        if not isinstance(max_age, int) or isinstance(max_age, bool) or max_age < 0:
            raise ValueError(f"Invalid tracking max_age {max_age!r}; expected an integer >= 0 (frames).")
        fractions = {
            "min_similarity": min_similarity,
            "min_keypoint_score": min_keypoint_score,
            "min_pose_score": min_pose_score,
            "velocity_smoothing": velocity_smoothing,
        }
        for name, value in fractions.items():
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            if not ok or not 0 <= value <= 1:
                raise ValueError(f"Invalid tracking {name} {value!r}; expected a number in [0, 1].")
        self.max_age = max_age
        self.min_similarity = float(min_similarity)
        self.min_keypoint_score = float(min_keypoint_score)
        self.min_pose_score = float(min_pose_score)
        self.velocity_smoothing = float(velocity_smoothing)
        self._tracks: list[_Track] = []
        self._frame = -1
        self._ids = itertools.count(1)

    def __call__(self, poses: Sequence[Pose]) -> list[int]:
        """The person IDs of this frame's poses, in the order given (one per pose, all different)."""
        self._frame += 1
        positions = np.array([pose.positions for pose in poses]).reshape(-1, NUM_KEYPOINTS, 2)
        scores = np.array([pose.scores for pose in poses]).reshape(-1, NUM_KEYPOINTS)
        confident = scores >= self.min_keypoint_score
        seen = np.array([pose.score >= self.min_pose_score for pose in poses], dtype=bool)
        matches = self._match(self._tracks, positions, confident, np.flatnonzero(seen))
        left = [track for track in self._tracks if all(track is not t for t in matches.values())]
        matches.update(self._match(left, positions, confident, np.flatnonzero(~seen)))
        labelled = list(matches)
        ids = []
        for i in range(len(poses)):
            track = matches.get(i)
            if track is not None:
                self._update(track, positions[i], scores[i])
            elif seen[i] and not self._duplicate(i, labelled, positions, confident):
                track = _Track(next(self._ids), positions[i], scores[i], np.zeros(2), self._frame)
                self._tracks.append(track)
                labelled.append(i)
            ids.append(next(self._ids) if track is None else track.id)
        self._tracks = [t for t in self._tracks if self._frame - t.last_frame <= self.max_age]
        return ids

    def _match(
        self, tracks: list[_Track], positions: np.ndarray, confident: np.ndarray, candidates: np.ndarray
    ) -> dict[int, _Track]:
        """{pose index: track}: the optimal assignment of `tracks` to the `candidates` poses, keeping the
        pairs at least `min_similarity` alike."""
        if not tracks or not len(candidates):
            return {}
        predicted = np.stack([t.predicted(self._frame) for t in tracks])
        track_confident = np.stack([t.scores >= self.min_keypoint_score for t in tracks])
        similarity = keypoint_similarity(predicted, track_confident, positions[candidates], confident[candidates])
        similarity[similarity < self.min_similarity] = 0.0
        pairs = optimal_assignment(1.0 - similarity)
        return {int(candidates[p]): tracks[t] for t, p in pairs if similarity[t, p] > 0}

    @staticmethod
    def _duplicate(i: int, labelled: list[int], positions: np.ndarray, confident: np.ndarray) -> bool:
        """Whether pose i is much like one of the `labelled` poses of the same frame (the person found twice)."""
        if not labelled:
            return False
        similarity = keypoint_similarity(positions[i : i + 1], confident[i : i + 1], positions[labelled], confident[labelled])
        return bool(similarity.max() >= DUPLICATE_SIMILARITY)

    def _update(self, track: _Track, positions: np.ndarray, scores: np.ndarray) -> None:
        """Move the track to the pose it matched, remembering the keypoints the pose missed; its velocity
        follows the motion of the keypoints confident in both."""
        seen = scores >= self.min_keypoint_score
        both = seen & (track.scores >= self.min_keypoint_score)
        if both.any():
            step = (positions[both] - track.positions[both]).mean(axis=0) / (self._frame - track.last_frame)
            track.velocity = track.velocity + self.velocity_smoothing * (step - track.velocity)
        track.positions = np.where(seen[:, None], positions, track.predicted(self._frame))
        track.scores = np.where(seen, scores, track.scores * MEMORY_DECAY)
        track.last_frame = self._frame

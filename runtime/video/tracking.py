"""Stable person IDs across video frames: a pose tracker that labels each frame's poses.

Poses a viewer sees (pose score at least `min_pose_score`, the original demo's minPoseConfidence) are
matched to the tracks of the previous frames by an OKS-like keypoint similarity (COCO's object keypoint
similarity, scaled by the track's size) with an optimal assignment in which a pose or a track may also
stay unmatched: wide tolerances decide which pairs may match, and COCO's own tolerance helps rank them; a
pose no track takes starts one. Fainter poses, such as the multi-pose decoder's near-zero-score
duplicates of real people, get no ID (None) and start no track, as does a second pose much like one
already labelled (the person found twice): of two such copies, the one with the larger sum of keypoint
scores is the person and gets the ID. A track compares the keypoints it saw in its last few frames,
predicts them forward at constant velocity, and while unseen follows the change of velocity all people
share (a moving camera's); it is kept for `max_age` frames, so a person missed for a moment keeps their
ID. IDs count up from 1 and are never reused. The tracker only labels: the poses
are never dropped, added, reordered or moved. One tracker follows one stream of frames.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from posenet_onnx.keypoints import NUM_KEYPOINTS
from posenet_onnx.runtime.pose import Pose
from posenet_onnx.runtime.video.streams import OneStream

DEFAULT_MAX_AGE = 30  # frames a track survives unseen: one second at 30 fps
DEFAULT_MIN_SIMILARITY = 0.2
DEFAULT_MIN_KEYPOINT_SCORE = 0.3
DEFAULT_MIN_POSE_SCORE = 0.15  # draw_poses' min_pose_confidence: the poses a viewer sees
DEFAULT_VELOCITY_SMOOTHING = 0.6
# COCO's per-keypoint OKS constants (sigma, in PoseNet's part order, which is COCO's; OKS uses 2 sigma).
COCO_SIGMAS = np.array(
    [0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089]
)
# Widened from OKS's 2 sigma: from one frame to the next a detected keypoint moves more than two annotators
# disagree, and more again than two poses of one person in the same frame differ.
KEYPOINT_TOLERANCES = 6 * COCO_SIGMAS
DUPLICATE_TOLERANCES = 4 * COCO_SIGMAS
# OKS's own tolerance, unwidened: it ranks the pairs the wide tolerances allow, telling apart two candidates
# within reach of each other (two tracks of a barely seen person, a person and a blend of two overlapping people).
RANKING_TOLERANCES = 2 * COCO_SIGMAS
# Of two copies of one person, the track takes the stronger (the larger sum of keypoint scores, the better fit
# to the person most of the time) unless the weaker one's ranking similarity to it is higher by more than this.
COPY_MARGIN = 0.1
KEYPOINT_MEMORY = 10  # frames a track compares a keypoint it has not seen again
UNCERTAINTY_GROWTH = 0.1  # per frame unseen, the widening of a keypoint's tolerance
NEVER = -(2**62)  # the frame of a keypoint never seen
DUPLICATE_SIMILARITY = 0.5  # a second pose this much like a labelled one is the same person found twice


@dataclass
class _Track:
    """One person followed over frames: where each keypoint is expected (seen in the last frame, or moved
    on since), when each was last seen confidently, the person's velocity, and when the person was seen."""

    id: int
    positions: np.ndarray  # [17, 2] each keypoint in the last frame: seen there, or moved on from where it was seen
    seen: np.ndarray  # [17] the frame each keypoint was last confident (NEVER: not yet)
    velocity: np.ndarray  # [2] pixels per frame, the smoothed median motion of the keypoints seen again
    drift: np.ndarray  # [2] the tracker's shared change of velocity when the track was last seen
    last_frame: int

    def remembered(self) -> np.ndarray:
        """[17] the keypoints seen confidently in the KEYPOINT_MEMORY frames up to the person's last sighting:
        those a pose is compared on."""
        return (self.seen != NEVER) & (self.last_frame - self.seen <= KEYPOINT_MEMORY)

    def spread(self, frame: int) -> np.ndarray:
        """[17] how much wider than a keypoint's tolerance its prediction's uncertainty is, growing with the
        frames since the keypoint was seen."""
        return 1.0 + UNCERTAINTY_GROWTH * np.maximum(frame - self.seen - 1, 0)


def keypoint_similarity(
    positions_a: np.ndarray,
    confident_a: np.ndarray,
    positions_b: np.ndarray,
    confident_b: np.ndarray,
    tolerances: np.ndarray = KEYPOINT_TOLERANCES,
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
    tolerances = np.broadcast_to(tolerances, (len(positions_a), NUM_KEYPOINTS))[:, None, :]
    similarity = np.exp(-squared / (2.0 * area[:, None, None] * tolerances**2))
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


def _components(linked: np.ndarray) -> list[tuple[list[int], list[int]]]:
    """The connected parts of the bipartite graph whose [rows, columns] edges are `linked`, as (rows,
    columns) lists; rows and columns without an edge are left out."""
    parts = []
    unseen = set(np.flatnonzero(linked.any(axis=1)).tolist())
    while unseen:
        rows, columns, frontier = set(), set(), {unseen.pop()}
        while frontier:
            rows |= frontier
            reached = set(np.flatnonzero(linked[sorted(frontier)].any(axis=0)).tolist()) - columns
            columns |= reached
            frontier = set(np.flatnonzero(linked[:, sorted(reached)].any(axis=1)).tolist()) - rows if reached else set()
        unseen -= rows
        parts.append((sorted(rows), sorted(columns)))
    return parts


class PoseTracker:
    """Gives each pose of a frame a stable integer person ID (None for a faint pose); call it once per
    frame, in order, for one stream (a second thread calling while one is inside gets a RuntimeError).

        tracker = PoseTracker()
        for image in camera:
            poses = net.estimate_multiple_poses(image)
            ids = tracker(poses)  # ids[i] is the person ID of poses[i], or None

    `max_age`: frames a track is kept while no pose matches it (a person missed for up to that many
    frames keeps their ID; after more they come back with a new one). `min_similarity`: the least
    keypoint similarity (0-1, `keypoint_similarity`) of a pose to a track's prediction for them to match.
    `min_keypoint_score`: keypoints scoring below it are not compared. `min_pose_score`: poses scoring
    below it get the ID None and start no track. `velocity_smoothing`: the weight (0-1) of
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
        self._drift = np.zeros(2)  # the sum of the per-frame velocity changes all people shared (a camera's)
        self._ids = itertools.count(1)
        self._one_stream = OneStream("PoseTracker")

    def __call__(self, poses: Sequence[Pose]) -> list[int | None]:
        """The person IDs of this frame's poses, in the order given: an ID each (all different) for the
        poses scoring at least `min_pose_score`, None for the fainter ones and for a person found twice.
        Raises RuntimeError when another thread is inside a call (one tracker follows one stream)."""
        with self._one_stream:
            return self._label(poses)

    def _label(self, poses: Sequence[Pose]) -> list[int | None]:
        self._frame += 1
        positions = np.array([pose.positions for pose in poses]).reshape(-1, NUM_KEYPOINTS, 2)
        scores = np.array([pose.scores for pose in poses]).reshape(-1, NUM_KEYPOINTS)
        confident = scores >= self.min_keypoint_score
        seen = [i for i, pose in enumerate(poses) if pose.score >= self.min_pose_score]
        tracks = self._tracks
        velocities = [t.velocity + (self._drift - t.drift) for t in tracks]
        predicted = [t.positions + v for t, v in zip(tracks, velocities)]
        strength = scores.sum(axis=1)  # of two copies of a person, the stronger one is the person
        matches = self._match(predicted, positions, confident, seen, strength)  # {pose index: track index}
        changes = []  # the velocity changes of the people seen in the last frame and this one
        for i, t in matches.items():
            track, before = tracks[t], tracks[t].velocity
            self._update(track, velocities[t], predicted[t], positions[i], scores[i])
            if track.last_frame == self._frame - 1:
                changes.append(track.velocity - before)
            track.last_frame = self._frame
        if changes:  # what all people share is the camera's: people unseen now follow it
            self._drift = self._drift + np.median(changes, axis=0)
        for t in matches.values():
            tracks[t].drift = self._drift.copy()
        for track, expected in zip(tracks, predicted):
            if track.last_frame < self._frame:  # unseen: moved on to where it is expected
                track.positions = expected
        labelled = list(matches)
        for i in sorted(seen, key=lambda i: -strength[i]):  # of two copies of a person, the stronger starts a track
            if i not in matches and not self._duplicate(i, labelled, positions, confident):
                labelled.append(i)
        ids: list[int | None] = [None] * len(poses)
        for i in sorted(labelled):  # new IDs in the poses' order
            ids[i] = (tracks[matches[i]] if i in matches else self._start(positions[i], scores[i])).id
        self._tracks = [t for t in self._tracks if self._frame - t.last_frame <= self.max_age]
        return ids

    def _match(
        self,
        predicted: list[np.ndarray],
        positions: np.ndarray,
        confident: np.ndarray,
        candidates: list[int],
        strength: np.ndarray,
    ) -> dict[int, int]:
        """{pose index: track index}: the optimal assignment of the tracks (their `predicted` keypoints) to the
        `candidates` poses, keeping the pairs at least `min_similarity` alike; then a track whose pose has a
        stronger copy left over (`strength`: each pose's sum of keypoint scores) moves to it, unless the
        copy fits its prediction worse by more than COPY_MARGIN."""
        if not predicted or not candidates:
            return {}
        remembered = np.stack([t.remembered() for t in self._tracks])
        tolerances = np.stack([KEYPOINT_TOLERANCES * t.spread(self._frame) for t in self._tracks])
        expected = np.stack(predicted)
        similarity = keypoint_similarity(expected, remembered, positions[candidates], confident[candidates], tolerances)
        sharp = keypoint_similarity(expected, remembered, positions[candidates], confident[candidates], RANKING_TOLERANCES)
        ranking = (similarity + sharp) / 2
        matches = {candidates[p]: t for t, p in self._assign(similarity, ranking)}
        column = {pose: p for p, pose in enumerate(candidates)}
        for j in sorted(candidates, key=lambda j: -strength[j]):
            if j in matches:
                continue
            fit = ranking[:, column[j]]
            weaker = [
                i
                for i, t in matches.items()
                if strength[i] < strength[j]
                and similarity[t, column[j]] >= self.min_similarity
                and fit[t] >= ranking[t, column[i]] - COPY_MARGIN
                and self._duplicate(j, [i], positions, confident)
            ]
            if weaker:
                matches[j] = matches.pop(max(weaker, key=lambda i: fit[matches[i]]))
        return matches

    def _assign(self, similarity: np.ndarray, ranking: np.ndarray | None = None) -> list[tuple[int, int]]:
        """The (row, column) pairs of `similarity` [T, P] that an optimal assignment matches, where each
        row and column may also stay unmatched: an unmatched row or column costs half of 1 -
        `min_similarity` and a pair 1 - `ranking` (default: the similarity), less than its two ends alone,
        so a pair is only made at least `min_similarity` alike, and a close pair is never split up to make
        two loose ones.
        Rows and columns that share no possible pair are assigned apart (most people are far from all but
        their own track)."""
        admissible = similarity >= self.min_similarity
        # An allowed pair costs less than leaving both its ends alone, as it does alone in its component.
        ranking = similarity if ranking is None else np.maximum(ranking, self.min_similarity + 1e-6)
        pairs = []
        for rows, columns in _components(admissible):
            if len(rows) == 1 and len(columns) == 1:
                pairs.append((rows[0], columns[0]))
                continue
            inner = np.ix_(rows, columns)
            n, m = len(rows), len(columns)
            alone = (1.0 - self.min_similarity) / 2
            never = 2.0 + 2 * alone  # costs more than any pair and both its ends left alone
            cost = np.full((n + m, m + n), never)
            cost[:n, :m] = np.where(admissible[inner], 1.0 - ranking[inner], never)
            cost[np.arange(n), m + np.arange(n)] = alone  # row r unmatched
            cost[n + np.arange(m), np.arange(m)] = alone  # column c unmatched
            cost[n:, m:] = 0.0
            pairs += [(rows[r], columns[c]) for r, c in optimal_assignment(cost) if r < n and c < m and cost[r, c] < never]
        return pairs

    @staticmethod
    def _duplicate(i: int, labelled: list[int], positions: np.ndarray, confident: np.ndarray) -> bool:
        """Whether pose i is much like one of the `labelled` poses of the same frame (the person found twice)."""
        if not labelled:
            return False
        similarity = keypoint_similarity(
            positions[i : i + 1], confident[i : i + 1], positions[labelled], confident[labelled], DUPLICATE_TOLERANCES
        )
        return bool(similarity.max() >= DUPLICATE_SIMILARITY)

    def _update(
        self, track: _Track, velocity: np.ndarray, predicted: np.ndarray, positions: np.ndarray, scores: np.ndarray
    ) -> None:
        """Move the track to the pose it matched, keeping the keypoints the pose missed where `predicted`;
        its velocity (expected: `velocity`) follows the median error of the prediction on the keypoints
        seen before and again, spread over the frames since the person was seen."""
        seen = scores >= self.min_keypoint_score
        again = seen & track.remembered()
        step = velocity
        if again.any():
            step = velocity + np.median(positions[again] - predicted[again], axis=0) / (self._frame - track.last_frame)
        track.velocity = velocity + self.velocity_smoothing * (step - velocity)
        follow = seen | (track.seen == NEVER)  # a keypoint never confident follows the pose's guess
        track.positions = np.where(follow[:, None], positions, predicted)
        track.seen = np.where(seen, self._frame, track.seen)

    def _start(self, positions: np.ndarray, scores: np.ndarray) -> _Track:
        """A new track at a pose, at rest."""
        seen = np.where(scores >= self.min_keypoint_score, self._frame, NEVER)
        track = _Track(next(self._ids), positions.copy(), seen, np.zeros(2), self._drift.copy(), self._frame)
        self._tracks.append(track)
        return track

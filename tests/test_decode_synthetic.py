"""Synthetic network outputs built so that the right poses are known by construction.

Each person's offsets point, from every cell of its region, exactly at its keypoints, and its
displacements exactly along its skeleton; all coordinates are multiples of 1/4 pixel, so every sum the
decoder does is exact and the decoded positions must equal the constructed ones bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from posenet_onnx.decode import decode_multiple_poses, decode_single_pose
from posenet_onnx.keypoints import NUM_EDGES, NUM_KEYPOINTS, PART_IDS, POSE_CHAIN_IDS

STRIDE = 16
GRID = 17  # a 257 x 257 input at output stride 16

# A standing person's keypoints (x, y) around x = 0, in model-input pixels.
TEMPLATE = np.array(
    [
        (0, 20), (6, 14.25), (-6, 14.5), (12, 18), (-12, 18.75), (24, 50), (-24, 50.5), (34, 90),
        (-34, 90.25), (38, 125), (-38, 125.5), (16, 130), (-16, 130), (18, 175.75), (-18, 175),
        (20, 215.5), (-20, 215.25),
    ],
    dtype=np.float64,
)


class Fields:
    """The four network outputs of a synthetic scene, filled person by person."""

    def __init__(self, height: int = GRID, width: int = GRID) -> None:
        self.scores = np.zeros((height, width, NUM_KEYPOINTS), np.float32)
        self.offsets = np.zeros((height, width, 2 * NUM_KEYPOINTS), np.float32)
        self.fwd = np.zeros((height, width, 2 * NUM_EDGES), np.float32)
        self.bwd = np.zeros((height, width, 2 * NUM_EDGES), np.float32)

    def add_person(self, keypoints: np.ndarray, scores: np.ndarray, columns: slice) -> None:
        """Person with ``keypoints`` [17, (x, y)] and ``scores`` [17] owning the grid columns ``columns``."""
        ys = np.arange(self.scores.shape[0])[:, None] * STRIDE
        xs = np.arange(self.scores.shape[1])[columns][None, :] * STRIDE
        for k, (x, y) in enumerate(keypoints):
            self.offsets[:, columns, k] = y - ys
            self.offsets[:, columns, NUM_KEYPOINTS + k] = x - xs
            # Nearest cell, halves rounded up (all coordinates here are positive).
            self.scores[math.floor(y / STRIDE + 0.5), math.floor(x / STRIDE + 0.5), k] = scores[k]
        for edge, (parent, child) in enumerate(POSE_CHAIN_IDS):
            (px, py), (cx, cy) = keypoints[parent], keypoints[child]
            self.fwd[:, columns, edge], self.fwd[:, columns, NUM_EDGES + edge] = cy - py, cx - px
            self.bwd[:, columns, edge], self.bwd[:, columns, NUM_EDGES + edge] = py - cy, px - cx

    def decode(self, **params) -> object:
        return decode_multiple_poses(self.scores, self.offsets, self.fwd, self.bwd, STRIDE, **params)


def _scores(first: float) -> np.ndarray:
    """17 distinct keypoint scores above 0.5, exactly representable in float32."""
    return np.float32(first) - np.arange(NUM_KEYPOINTS, dtype=np.float32) / np.float32(64)


PERSON_A = TEMPLATE + (60, 0)  # columns 1..6
PERSON_B = TEMPLATE + (196, 0)  # columns 10..15
SCORES_A = _scores(0.875)
SCORES_B = _scores(0.9375)[::-1].copy()  # best keypoint is B's right ankle


def _mean(scores: np.ndarray) -> float:
    return math.fsum(float(s) for s in scores) / NUM_KEYPOINTS


@pytest.mark.parametrize("refinement", ["v1", "v2"])
def test_one_person_decodes_to_exact_positions(refinement):
    fields = Fields()
    fields.add_person(PERSON_A, SCORES_A, slice(None))
    poses = fields.decode(refinement=refinement)
    # Every other candidate root is one of the same person's keypoints, at distance 0: suppressed.
    assert len(poses) == 1
    np.testing.assert_array_equal(poses.keypoints[0], PERSON_A)
    np.testing.assert_array_equal(poses.keypoint_scores[0], SCORES_A)
    assert poses.scores[0] == pytest.approx(_mean(SCORES_A), rel=1e-15)


def test_single_pose_decodes_to_exact_positions():
    fields = Fields()
    fields.add_person(PERSON_A, SCORES_A, slice(None))
    pose = decode_single_pose(fields.scores, fields.offsets, STRIDE)
    assert len(pose) == 1
    np.testing.assert_array_equal(pose.keypoints[0], PERSON_A)
    np.testing.assert_array_equal(pose.keypoint_scores[0], SCORES_A)
    assert pose.scores[0] == pytest.approx(_mean(SCORES_A), rel=1e-15)


def _two_people() -> Fields:
    fields = Fields()
    fields.add_person(PERSON_A, SCORES_A, slice(0, 8))
    fields.add_person(PERSON_B, SCORES_B, slice(8, None))
    return fields


@pytest.mark.parametrize("refinement", ["v1", "v2"])
def test_two_separated_people_give_two_poses_scored_by_their_mean(refinement):
    poses = _two_people().decode(refinement=refinement)
    assert len(poses) == 2
    # B's best keypoint (0.9375) beats A's (0.875): B comes first.
    np.testing.assert_array_equal(poses.keypoints, np.stack([PERSON_B, PERSON_A]))
    np.testing.assert_array_equal(poses.keypoint_scores, np.stack([SCORES_B, SCORES_A]))
    # Far apart, no keypoint of A is claimed by B: both scores are plain means.
    np.testing.assert_allclose(poses.scores, [_mean(SCORES_B), _mean(SCORES_A)], rtol=1e-15)


def test_max_pose_detections_keeps_the_best():
    poses = _two_people().decode(max_pose_detections=1)
    assert len(poses) == 1
    np.testing.assert_array_equal(poses.keypoints[0], PERSON_B)


def test_score_threshold_gates_roots_only():
    # No keypoint reaches 0.95: no root, no pose, although scores are far above zero.
    assert len(_two_people().decode(score_threshold=0.95)) == 0
    # Threshold 0.9: only B's best parts are roots, yet all of B's keypoints are decoded.
    poses = _two_people().decode(score_threshold=0.9)
    assert len(poses) == 1
    np.testing.assert_array_equal(poses.keypoints[0], PERSON_B)


def _person_and_a_nose(nose_x: float, nose_y: float) -> Fields:
    """Person A plus a lone second nose (score 0.75 < A's best) placed by its offset in cell (3, 6),
    outside the 3 x 3 window of A's nose cell (1, 4)."""
    fields = Fields()
    fields.add_person(PERSON_A, SCORES_A, slice(None))
    nose = PART_IDS["nose"]
    fields.scores[3, 6, nose] = 0.75
    fields.offsets[3, 6, nose] = nose_y - 3 * STRIDE
    fields.offsets[3, 6, NUM_KEYPOINTS + nose] = nose_x - 6 * STRIDE
    return fields


def test_root_exactly_nms_radius_away_is_suppressed():
    # A's nose is at (60, 20); the lone nose at (72, 36) is 12, 16 away: 12^2 + 16^2 = 20^2.
    fields = _person_and_a_nose(72, 36)
    assert len(fields.decode(nms_radius=20)) == 1
    poses = fields.decode(nms_radius=19.99)
    assert len(poses) == 2
    np.testing.assert_array_equal(poses.keypoints[1, PART_IDS["nose"]], (72, 36))
    assert poses.keypoint_scores[1, PART_IDS["nose"]] == 0.75


def test_claimed_keypoints_do_not_count_in_the_instance_score():
    # With radius 19.99 the lone nose 20 px from A's nose is a second pose, whose other keypoints are
    # decoded onto A's (the fields lead there): only its nose is unclaimed.
    poses = _person_and_a_nose(72, 36).decode(nms_radius=19.99)
    assert len(poses) == 2
    claimed = np.linalg.norm(poses.keypoints[1] - PERSON_A, axis=1) <= 19.99
    assert not claimed[PART_IDS["nose"]] and claimed.sum() == NUM_KEYPOINTS - 1
    assert poses.scores[1] == pytest.approx(0.75 / NUM_KEYPOINTS, rel=1e-15)


@pytest.mark.parametrize("refinement", ["v1", "v2"])
def test_half_cell_rounds_up_like_javascript(refinement):
    # A's left eye moved to (66, 40): y / 16 = 2.5 cells. JavaScript's Math.round gives cell 3; NumPy's
    # round-half-to-even would give cell 2. Cell 2 is rigged to point elsewhere, with a low score.
    eye = PART_IDS["leftEye"]
    keypoints = PERSON_A.copy()
    keypoints[eye] = (66, 40)
    fields = Fields()
    fields.add_person(keypoints, SCORES_A, slice(None))
    assert fields.scores[3, 4, eye] == SCORES_A[eye]
    fields.scores[2, 4, eye] = 0.25
    fields.offsets[2, 4, eye] = -8  # cell 2 would decode to y = 32 - 8 = 24
    poses = fields.decode(refinement=refinement)
    assert len(poses) == 1
    np.testing.assert_array_equal(poses.keypoints[0, eye], (66, 40))
    assert poses.keypoint_scores[0, eye] == SCORES_A[eye]


def test_equal_scores_come_out_in_upstream_heap_order():
    # One row of 8 cells, nose scores 1, 1, 0.9, 1 at x = 0, 2, 4, 6 (A, B, C, D in push order),
    # zero offsets and displacements: each root decodes to a pose at x * 16 = 0, 32, 64, 96.
    # Upstream's heap (see test_decode_units.test_heap_tie_order_derived_by_hand): pushes of equal
    # values never swim, so the array is [A, B, C, D]; pop A moves D to the root, where B (equal) does
    # not displace it; pop D moves C to the root, B > C swaps; then B, then C. Order A, D, B, C.
    fields = Fields(1, 8)
    fields.scores[0, [0, 2, 4, 6], PART_IDS["nose"]] = [1.0, 1.0, 0.9, 1.0]
    poses = fields.decode(max_pose_detections=10)
    np.testing.assert_array_equal(poses.keypoints[:, PART_IDS["nose"], 0], [0, 96, 32, 64])
    # Each pose claims only its own cell: its score is its root score / 17.
    expected = np.array([1.0, 1.0, 0.9, 1.0], np.float32)[[0, 3, 1, 2]].astype(np.float64) / NUM_KEYPOINTS
    np.testing.assert_array_equal(poses.scores, expected)

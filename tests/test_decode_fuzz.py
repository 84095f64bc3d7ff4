"""Random and adversarial network outputs: the decoder never crashes, never reads out of bounds, and its
results are finite, or NaN exactly where JavaScript's would be (see the decoder's README section).

test_under_numba_boundscheck reruns this file and the real-data tests in a subprocess with
NUMBA_BOUNDSCHECK=1, where any out-of-bounds index raises IndexError.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from posenet_onnx.decode import (
    decode_multiple_poses,
    decode_multiple_poses_batch,
    decode_single_pose,
    decode_single_pose_batch,
)
from posenet_onnx.decode.single_pose import decode_single_pose_into

BOUNDSCHECK = os.environ.get("NUMBA_BOUNDSCHECK") == "1"
GRIDS = [(1, 1), (1, 7), (7, 1), (2, 2), (9, 13), (33, 33)]
F32_MAX = float(np.finfo(np.float32).max)


def _outputs(rng: np.random.Generator, grid: tuple[int, int], scores=None, offsets=None, displacements=None):
    """Four outputs over ``grid``: random unless a generator for a field is given."""
    h, w = grid
    return [
        (scores or (lambda s: rng.random(s)))((h, w, 17)).astype(np.float32),
        (offsets or (lambda s: rng.normal(0, 20, s)))((h, w, 34)).astype(np.float32),
        (displacements or (lambda s: rng.normal(0, 50, s)))((h, w, 32)).astype(np.float32),
        (displacements or (lambda s: rng.normal(0, 50, s)))((h, w, 32)).astype(np.float32),
    ]


def _sprinkle(rng: np.random.Generator, values, fraction: float = 0.1):
    """A field generator: random values with ``fraction`` of them replaced by draws from ``values``."""

    def make(shape):
        field = rng.normal(0, 30, shape)
        mask = rng.random(shape) < fraction
        field[mask] = rng.choice(values, size=int(mask.sum()))
        return field

    return make


def fuzz_cases() -> list[tuple[str, list[np.ndarray], bool]]:
    """(label, outputs, finite) for every case; ``finite`` says all inputs are finite."""
    rng = np.random.default_rng(20240521)
    cases = []
    for grid in GRIDS:
        cases.append((f"random {grid}", _outputs(rng, grid), True))
        cases.append((f"far offsets {grid}", _outputs(rng, grid, offsets=lambda s: rng.choice([-1e30, 1e30, -F32_MAX, F32_MAX], s),
                                                       displacements=lambda s: rng.choice([-1e30, 3e4, F32_MAX], s)), True))
        cases.append((f"all equal {grid}", _outputs(rng, grid, scores=lambda s: np.ones(s)), True))
        cases.append((f"all zero {grid}", _outputs(rng, grid, scores=np.zeros, offsets=np.zeros, displacements=np.zeros), True))
        cases.append((f"ties {grid}", _outputs(rng, grid, scores=lambda s: rng.integers(0, 3, s) / 2), True))
        cases.append((f"out of range scores {grid}", _outputs(rng, grid, scores=_sprinkle(rng, [-np.inf, np.inf, -0.0, 1e-45, 2.0])), False))
        cases.append((f"infinities {grid}", _outputs(rng, grid, offsets=_sprinkle(rng, [-np.inf, np.inf]),
                                                     displacements=_sprinkle(rng, [-np.inf, np.inf])), False))
        cases.append((f"nan {grid}", _outputs(rng, grid, scores=_sprinkle(rng, [np.nan], 0.2), offsets=_sprinkle(rng, [np.nan]),
                                              displacements=_sprinkle(rng, [np.nan])), False))
        cases.append((f"all nan {grid}", _outputs(rng, grid, scores=lambda s: np.full(s, np.nan), offsets=lambda s: np.full(s, np.nan),
                                                  displacements=lambda s: np.full(s, np.nan)), False))
    return cases


CASES = fuzz_cases()
PARAMS = [
    {"max_pose_detections": 5, "score_threshold": 0.5, "nms_radius": 20, "refinement": "v1"},
    {"max_pose_detections": 40, "score_threshold": 0.0, "nms_radius": 1e-3, "refinement": "v2"},
]


def _check(poses, outputs: list[np.ndarray], finite: bool, max_poses: int) -> None:
    count = len(poses)
    assert 0 <= count <= max_poses
    assert poses.scores.shape == (count,) and poses.keypoint_scores.shape == (count, 17)
    assert poses.keypoints.shape == (count, 17, 2)
    assert all(a.dtype == np.float64 for a in (poses.scores, poses.keypoint_scores, poses.keypoints))
    if finite:
        assert np.isfinite(poses.keypoints).all() and np.isfinite(poses.scores).all()
    # Keypoint scores are heatmap values of their own channel (NaN only where JavaScript reads undefined).
    heatmaps = outputs[0].reshape(-1, 17)
    for k in range(17):
        read = poses.keypoint_scores[:, k]
        read = read[~np.isnan(read)]
        assert np.isin(read.astype(np.float32), heatmaps[:, k]).all()


@pytest.mark.parametrize("params", PARAMS, ids=["default", "everything"])
@pytest.mark.parametrize(("label", "outputs", "finite"), CASES, ids=[c[0] for c in CASES])
def test_multi_pose_fuzz(label, outputs, finite, params):
    _check(decode_multiple_poses(*outputs, 16, **params), outputs, finite, params["max_pose_detections"])


def test_single_and_batch_fuzz():
    for grid in GRIDS:
        group = [c[1] for c in CASES if c[0].endswith(str(grid))]
        stacked = [np.stack(parts) for parts in zip(*group)]
        singles = decode_single_pose_batch(stacked[0], stacked[1], 8)
        multis = decode_multiple_poses_batch(*stacked, 32, **PARAMS[1])
        for (label, outputs, finite), single, multi in zip((c for c in CASES if c[0].endswith(str(grid))), singles, multis):
            _check(single, outputs, finite, 1)
            assert len(single) == 1
            np.testing.assert_array_equal(single.keypoints, decode_single_pose(outputs[0], outputs[1], 8).keypoints)
            _check(multi, outputs, finite, PARAMS[1]["max_pose_detections"])


def test_plateau_fills_the_heap_to_capacity():
    # All-equal scores at threshold 0: every one of the H * W * 17 parts is a candidate (plateaus count),
    # the largest heap there can be.
    rng = np.random.default_rng(3)
    outputs = _outputs(rng, (33, 33), scores=np.ones, offsets=np.zeros, displacements=np.zeros)
    poses = decode_multiple_poses(*outputs, 16, max_pose_detections=2000, score_threshold=0.0, nms_radius=1e-3)
    # Zero offsets: roots land on cell corners, one pose per (cell, keypoint) survives NMS per corner.
    assert len(poses) == 33 * 33


def test_nan_behaves_like_javascript_undefined():
    # A NaN score passes `score < threshold` (false) and no neighbour is `> NaN`: it becomes a root,
    # as in JavaScript, and the pose score is NaN.
    rng = np.random.default_rng(5)
    scores, offsets, fwd, bwd = _outputs(rng, (5, 5), scores=np.zeros, offsets=np.zeros, displacements=np.zeros)
    scores[2, 2, 0] = np.nan
    poses = decode_multiple_poses(scores, offsets, fwd, bwd, 16)
    assert len(poses) == 1 and np.isnan(poses.scores[0]) and np.isnan(poses.keypoint_scores[0, 0])
    np.testing.assert_array_equal(poses.keypoints[0], np.full((17, 2), 32.0))
    # A NaN displacement: the target has no cell to read (JavaScript reads undefined): position and
    # score NaN, and so for everything decoded from it (left eye -> left ear).
    scores[2, 2, 0] = 0.9
    fwd[2, 2, 0] = np.nan  # edge 0: nose -> left eye
    poses = decode_multiple_poses(scores, offsets, fwd, bwd, 16)
    nan_parts = np.isnan(poses.keypoints[0]).all(axis=1)
    assert nan_parts.tolist() == [k in (1, 3) for k in range(17)]
    assert np.isnan(poses.keypoint_scores[0, [1, 3]]).all() and np.isnan(poses.scores[0])


@pytest.mark.skipif(not BOUNDSCHECK, reason="runs inside test_under_numba_boundscheck's subprocess")
def test_boundscheck_is_active():
    # Proof the subprocess really checks bounds: offsets with too few channels make the (internal,
    # unvalidated) kernel index past the end.
    scores = np.ones((3, 3, 17), np.float32)
    with pytest.raises(IndexError):
        decode_single_pose_into(scores, np.zeros((3, 3, 17), np.float32), 16, np.empty((17, 2)), np.empty(17))


SECOND_PROCESS = """
import numpy as np
from posenet_onnx.decode import decode_multiple_poses, decode_multiple_poses_batch, decode_single_pose_batch
from posenet_onnx.decode.multi_pose import decode_multiple_poses_batch_into, decode_multiple_poses_image
from posenet_onnx.decode.single_pose import decode_single_pose_batch_into
s, o, f, b = (np.zeros((2, 5, 5, c), np.float32) for c in (17, 34, 32, 32))
decode_multiple_poses_batch(s, o, f, b, 16)
decode_multiple_poses(s[0], o[0], f[0], b[0], 16)
decode_single_pose_batch(s, o, 16)
for kernel in (decode_multiple_poses_batch_into, decode_single_pose_batch_into, decode_multiple_poses_image):
    assert not kernel.stats.cache_misses and sum(kernel.stats.cache_hits.values()) == 1, kernel.stats
"""


@pytest.mark.skipif(BOUNDSCHECK, reason="this is the subprocess")
def test_under_numba_boundscheck(tmp_path):
    tests = Path(__file__).resolve().parent
    env = {**os.environ, "NUMBA_BOUNDSCHECK": "1", "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error::UserWarning",
         str(tests / "test_decode_fuzz.py"), str(tests / "test_decode_fixture.py"), str(tests / "test_decode_synthetic.py")],
        env=env, capture_output=True, text=True, timeout=900, check=False,
    )
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert "passed" in summary and "failed" not in summary and "error" not in summary, summary
    assert "1 skipped" in summary, summary  # only this test itself is skipped there
    # cache=True: a second process finds the compiled batch and one-image kernels (and all they call) on disk.
    second = subprocess.run([sys.executable, "-c", SECOND_PROCESS], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert second.returncode == 0, second.stderr[-4000:]

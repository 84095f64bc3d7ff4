"""The decoder's typed layer: every bad parameter or shape is a ValueError naming it and what is valid."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from posenet_onnx.decode import (
    REFINEMENTS,
    decode_multiple_poses,
    decode_multiple_poses_batch,
    decode_network_outputs,
    decode_single_pose,
    decode_single_pose_batch,
    validate_multi_pose_parameters,
)


def _outputs(height: int = 5, width: int = 4, batch: int | None = None) -> list[np.ndarray]:
    lead = (height, width) if batch is None else (batch, height, width)
    rng = np.random.default_rng(0)
    return [rng.random(lead + (c,), dtype=np.float32) for c in (17, 34, 32, 32)]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"output_stride": 15}, "output stride 15; expected one of 8, 16 or 32"),
        ({"max_pose_detections": 0}, "max_pose_detections must be an integer >= 1; got 0"),
        ({"max_pose_detections": 2.5}, "max_pose_detections must be an integer >= 1"),
        ({"max_pose_detections": True}, "max_pose_detections must be an integer >= 1"),
        ({"score_threshold": -0.1}, r"score_threshold must be a number in \[0, 1\]; got -0.1"),
        ({"score_threshold": 1.5}, r"score_threshold must be a number in \[0, 1\]"),
        ({"score_threshold": float("nan")}, r"score_threshold must be a number in \[0, 1\]"),
        ({"nms_radius": 0}, "nms_radius must be a number > 0"),
        ({"nms_radius": -5.0}, "nms_radius must be a number > 0"),
        ({"nms_radius": float("nan")}, "nms_radius must be a number > 0"),
        ({"refinement": "v3"}, "refinement must be 'v1' .* or 'v2'"),
        ({"max_pose_detections": -(2**63)}, "max_pose_detections must be an integer >= 1"),
        ({"max_pose_detections": 1e30}, "max_pose_detections must be an integer >= 1"),
        ({"score_threshold": 10**400}, r"score_threshold must be a number in \[0, 1\]"),
        ({"nms_radius": -(10**400)}, "nms_radius must be a number > 0"),
    ],
)
@pytest.mark.parametrize("batched", [False, True])
def test_bad_parameters(params, message, batched):
    call = {"output_stride": 16, **params}
    decode = decode_multiple_poses_batch if batched else decode_multiple_poses
    with pytest.raises(ValueError, match=message):
        decode(*_outputs(batch=2 if batched else None), **call)


def test_parameters_come_back_kernel_ready():
    assert validate_multi_pose_parameters(5, 0.5, 20) == (5, 0.5, 20.0, REFINEMENTS["v1"])
    checked = validate_multi_pose_parameters(np.int64(3), np.float32(0.25), np.float64(7.5), "v2")
    assert checked == (3, 0.25, 7.5, REFINEMENTS["v2"])
    assert [type(value) for value in checked] == [int, float, float, int]  # plain Python values for the kernels
    with pytest.raises(ValueError, match=r"refinement must be 'v1' .* or 'v2' .*; got \['v1'\]\."):
        validate_multi_pose_parameters(5, 0.5, 20, ["v1"])


def test_every_valid_count_and_radius_works(shared):
    """Counts and radii far beyond what an image can use (10**9 poses used to raise MemoryError, 2**63
    OverflowError, a radius of 10**400 OverflowError) decode like the largest meaningful values."""
    folder = shared / "fixtures" / "tennis_in_crowd"
    names = ("heatmapScores", "offsets", "displacementsFwd", "displacementsBwd")
    tennis = [np.fromfile(folder / f"{name}.bin", dtype="<f4").reshape(33, 33, -1) for name in names]
    every_candidate = 33 * 33 * 17  # no image of this grid can have more root candidates
    expected = decode_multiple_poses(*tennis, 16, max_pose_detections=every_candidate, score_threshold=0.1)
    assert 20 < len(expected) < every_candidate
    batch = [np.stack([field] * 2) for field in tennis]
    for count in (10**9, 2**63, 2**200, np.uint64(2**64 - 1)):
        found = [
            decode_multiple_poses(*tennis, 16, max_pose_detections=count, score_threshold=0.1),
            *decode_multiple_poses_batch(*batch, 16, max_pose_detections=count, score_threshold=0.1),
            *decode_network_outputs([field[:1] for field in batch], 16, validate_multi_pose_parameters(count, 0.1, 20)),
        ]
        for poses in found:
            np.testing.assert_array_equal(poses.keypoints, expected.keypoints)
            np.testing.assert_array_equal(poses.scores, expected.scores)
    # An infinite radius suppresses every root after the first: one pose, nothing claimed before it.
    for radius in (10**400, Fraction(10**400, 3), float("inf"), 1e300):
        pose = decode_multiple_poses(*tennis, 16, max_pose_detections=10**9, score_threshold=0.1, nms_radius=radius)
        assert len(pose) == 1
        np.testing.assert_array_equal(pose.keypoints, expected.keypoints[:1])
        assert pose.scores[0] == pytest.approx(pose.keypoint_scores.mean())
    assert validate_multi_pose_parameters(2**63, 0.5, 10**400) == (2**63 - 1, 0.5, float("inf"), REFINEMENTS["v1"])


def test_bad_stride_single_pose():
    heatmaps, offsets, *_ = _outputs()
    with pytest.raises(ValueError, match="expected one of 8, 16 or 32"):
        decode_single_pose(heatmaps, offsets, 12)


def test_wrong_rank():
    heatmaps, offsets, fwd, bwd = _outputs()
    with pytest.raises(ValueError, match=r"heatmap_scores must be a 3-D array \(H' x W' x C\); got shape \(5, 4\)"):
        decode_single_pose(heatmaps[..., 0], offsets, 16)
    with pytest.raises(ValueError, match=r"heatmap_scores must be a 4-D array \(N x H' x W' x C\)"):
        decode_multiple_poses_batch(heatmaps, offsets, fwd, bwd, 16)
    with pytest.raises(ValueError, match="offsets must be a 4-D array"):
        decode_single_pose_batch(heatmaps[None], offsets, 16)


@pytest.mark.parametrize(
    ("index", "name", "channels"),
    [(0, "heatmap_scores", 17), (1, "offsets", 34), (2, "displacement_fwd", 32), (3, "displacement_bwd", 32)],
)
def test_wrong_channels(index, name, channels):
    outputs = _outputs()
    outputs[index] = outputs[index][..., :-1]
    with pytest.raises(ValueError, match=f"{name} must have {channels} channels in its last axis; got shape"):
        decode_multiple_poses(*outputs, 16)


def test_mismatched_grids_and_batches():
    outputs = _outputs()
    outputs[2] = _outputs(height=6)[2]
    with pytest.raises(ValueError, match=r"must share their grid axes; got heatmap_scores \(5, 4, 17\), .*displacement_fwd \(6, 4, 32\)"):
        decode_multiple_poses(*outputs, 16)
    batch = _outputs(batch=3)
    batch[1] = _outputs(batch=2)[1]
    with pytest.raises(ValueError, match="must share their batch and grid axes"):
        decode_multiple_poses_batch(*batch, 16)


def test_empty_grid_and_non_numbers():
    outputs = _outputs(height=0)
    with pytest.raises(ValueError, match=r"at least 1 x 1 cells; got shape \(0, 4, 17\)"):
        decode_multiple_poses(*outputs, 16)
    heatmaps, offsets, *_ = _outputs()
    with pytest.raises(ValueError, match="heatmap_scores must hold real numbers; got dtype complex64"):
        decode_single_pose(heatmaps.astype(np.complex64), offsets, 16)
    with pytest.raises(ValueError, match="offsets must hold real numbers; got dtype <U"):
        decode_single_pose(heatmaps, offsets.astype(str), 16)


def test_valid_extremes_are_accepted():
    outputs = _outputs()
    assert len(decode_multiple_poses(*outputs, 8, max_pose_detections=1, score_threshold=0.0, nms_radius=1e-9)) == 1
    assert len(decode_multiple_poses(*outputs, 32, score_threshold=1, nms_radius=np.float32(20))) == 0
    assert decode_multiple_poses_batch(*_outputs(batch=0), 16) == []


CONCURRENT_BATCHES = """
import threading
import numpy as np
import numba
from posenet_onnx.decode import decode_multiple_poses_batch, decode_single_pose_batch
rng = np.random.default_rng(1)
outputs = [rng.random((6, 9, 9, c), dtype=np.float32) for c in (17, 34, 32, 32)]
expected = [p.keypoints for p in decode_multiple_poses_batch(*outputs, 16)]
failures = []
def work():
    for _ in range(20):
        got = [p.keypoints for p in decode_multiple_poses_batch(*outputs, 16)]
        decode_single_pose_batch(outputs[0], outputs[1], 16)
        if not all(np.array_equal(a, b) for a, b in zip(got, expected)):
            failures.append(got)
threads = [threading.Thread(target=work) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
assert numba.threading_layer() == "workqueue" and not failures
"""


def test_batches_from_several_threads_with_the_workqueue_layer():
    # Numba's fallback threading layer aborts the process on concurrent parallel launches; the batch
    # functions serialise their launches, so threads may share them whatever the layer.
    env = {**os.environ, "NUMBA_THREADING_LAYER": "workqueue"}
    run = subprocess.run([sys.executable, "-c", CONCURRENT_BATCHES], env=env, capture_output=True, text=True,
                         timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-3000:]

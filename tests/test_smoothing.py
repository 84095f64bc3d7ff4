"""Temporal smoothing on real poses: the real 0.50 model on the squats clip and on a photo of two people."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import posenet_onnx
from posenet_onnx.runtime.video.smoothing import OneEuroFilter, PoseSmoother, match_nearest
from posenet_onnx.runtime.video.pipeline import import_imageio

FPS = 5.0  # the squats clip's frame rate


@pytest.fixture(scope="module")
def squat_poses(shared: Path, net) -> list[posenet_onnx.Pose]:
    """The single pose of each of the clip's 65 frames."""
    reader = import_imageio().get_reader(shared / "images" / "pose_squats.mp4", format="FFMPEG")
    try:
        return [net.estimate_single_pose(np.asarray(frame), 0.5) for frame in reader]
    finally:
        reader.close()


@pytest.fixture(scope="module")
def couple(shared: Path, net) -> list[posenet_onnx.Pose]:
    poses = net.estimate_multiple_poses(shared / "images" / "couple.jpg", 0.5)
    assert len(poses) >= 2
    return poses


def smooth_sequence(poses: list, smoother: PoseSmoother) -> np.ndarray:
    """[frames, 17, 2] smoothed positions of a one-person sequence at the clip's frame rate."""
    return np.stack([smoother([pose], i / FPS)[0].positions for i, pose in enumerate(poses)])


def jitter(track: np.ndarray) -> float:
    """Mean absolute second difference of the keypoint tracks: frame-to-frame shake, zero for steady motion."""
    return float(np.abs(np.diff(track, n=2, axis=0)).mean())


def test_smoothing_reduces_jitter_on_the_squats_clip_without_losing_the_person(squat_poses) -> None:
    raw = np.stack([pose.positions for pose in squat_poses])
    smoothed = smooth_sequence(squat_poses, PoseSmoother())
    assert jitter(smoothed) < 0.8 * jitter(raw)
    # The feet stay on the floor during squats: the ankles' frame-to-frame movement is noise.
    ankles = [posenet_onnx.part_ids["leftAnkle"], posenet_onnx.part_ids["rightAnkle"]]
    shake = lambda track: np.abs(np.diff(track[:, ankles], axis=0)).mean()  # noqa: E731
    assert shake(smoothed) < 0.75 * shake(raw)
    # It follows the squats: the smoothed keypoints stay within 3% of the person's height of the raw ones.
    height = np.ptp(raw[:, :, 1], axis=1).mean()
    confident = np.stack([pose.scores for pose in squat_poses]) >= 0.5
    lag = np.linalg.norm(smoothed - raw, axis=-1)[confident]
    assert np.median(lag) < 0.03 * height


def test_higher_beta_lags_less_and_lower_cutoff_smooths_more(squat_poses) -> None:
    raw = np.stack([pose.positions for pose in squat_poses])
    lag = lambda smoothed: np.linalg.norm(smoothed - raw, axis=-1).mean()  # noqa: E731
    assert lag(smooth_sequence(squat_poses, PoseSmoother(beta=20.0))) < lag(
        smooth_sequence(squat_poses, PoseSmoother(beta=0.0))
    )
    still = smooth_sequence(squat_poses, PoseSmoother(min_cutoff=0.2, beta=0.0))
    assert jitter(still) < jitter(smooth_sequence(squat_poses, PoseSmoother(min_cutoff=2.0, beta=0.0)))


def test_static_people_come_out_unchanged_even_when_detections_swap_order(couple) -> None:
    smoother = PoseSmoother()
    for frame in range(6):
        poses = couple if frame % 2 == 0 else couple[::-1]
        assert [p.to_dict() for p in smoother(poses, frame / 30)] == [p.to_dict() for p in poses]


def test_each_person_keeps_their_own_filter(couple) -> None:
    """Two people moving in opposite directions: each smoothed pose stays between its own raw positions."""
    first, second = couple[0], couple[1]
    moved = lambda pose, dx: posenet_onnx.Pose.from_arrays(  # noqa: E731
        pose.score, pose.scores, pose.positions + [dx, 0.0], posenet_onnx.part_names
    )
    smoother = PoseSmoother()
    smoother([first, second], 0.0)
    out = smoother([moved(second, -4.0), moved(first, 4.0)], 0.2)  # order swapped as well
    shift = [(o.positions - p.positions)[:, 0] for o, p in zip(out, (second, first))]
    assert np.all((shift[0] < 0) & (shift[0] > -4.0))
    assert np.all((shift[1] > 0) & (shift[1] < 4.0))


def test_a_new_person_starts_unfiltered_and_a_far_jump_is_not_matched(couple) -> None:
    first, second = couple[0], couple[1]
    smoother = PoseSmoother()
    smoother([first], 0.0)
    assert smoother([first, second], 0.2)[1].to_dict() == second.to_dict()
    previous, current = [first.positions], [first.positions + 1000.0]
    assert match_nearest(previous, current, max_shift=0.5) == {}
    assert match_nearest(previous, [first.positions + 1.0], max_shift=0.5) == {0: 0}


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"min_cutoff": 0.0}, "min_cutoff 0.0; expected a finite number > 0"),
        ({"beta": -1.0}, "beta -1.0; expected a finite number >= 0"),
        ({"d_cutoff": float("nan")}, "d_cutoff nan; expected a finite number > 0"),
        ({"max_shift": 0}, "max_shift 0; expected a finite number > 0"),
    ],
)
def test_bad_parameters_are_rejected(parameters, message) -> None:
    with pytest.raises(ValueError, match=message):
        PoseSmoother(**parameters)


def test_timestamps_must_increase(couple) -> None:
    smoother = OneEuroFilter()
    smoother(couple[0].positions, 1.0)
    with pytest.raises(ValueError, match="Timestamps must increase; got 1.0 after 1.0"):
        smoother(couple[0].positions, 1.0)

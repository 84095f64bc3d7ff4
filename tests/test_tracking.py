"""Person tracking on real footage: the real 0.50 model on virtual-camera clips of the shared annotated
multi-person photos (ground truth from their COCO keypoints), on the squats clip, and the tracker's contract."""

from __future__ import annotations

import itertools
import json
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import posenet_onnx
from posenet_onnx.cli import main
from posenet_onnx.runtime.draw import ID_COLORS, draw_poses
from posenet_onnx.runtime.video.smoothing import PoseSmoother
from posenet_onnx.runtime.video.tracking import DEFAULT_MAX_AGE, DEFAULT_MIN_POSE_SCORE, PoseTracker, optimal_assignment
from posenet_onnx.runtime.video.pipeline import Frame, frame_record, import_imageio
from support import pan_clips
from support.cli import model_args

MIN_PEOPLE = 3  # the clips: every shared photo of at least this many annotated people (7, one of 11 people)
CLIP_FRAMES = 40
Clip = list[tuple[list, list[pan_clips.Person]]]


def estimate_clips(shared: Path, net, scale: float) -> dict[tuple[str, str], tuple[int, Clip]]:
    """{(photo, camera path): (people, clip)}: each frame's poses (multi-pose at this image scale) and truth,
    for every shared photo of at least MIN_PEOPLE people and every camera path of pan_clips."""
    found = {}
    for name, photo, people in pan_clips.annotated_photos(shared, MIN_PEOPLE):
        most = max(5, len(people) + 4)  # the CLI's default of 5 poses, more for a crowd
        for path in pan_clips.PATHS.values():
            found[name, path.name] = len(people), [
                (net.estimate_multiple_poses(frame, scale, max_pose_detections=most), truth)
                for frame, truth in pan_clips.camera_clip(photo, people, path, CLIP_FRAMES)
            ]
    return found


@pytest.fixture(scope="module")
def clips(shared: Path, net) -> dict[tuple[str, str], tuple[int, Clip]]:
    """The clips at image scale 1.0."""
    return estimate_clips(shared, net, 1.0)


@pytest.fixture(scope="module")
def half_scale_clips(shared: Path, net) -> dict[tuple[str, str], tuple[int, Clip]]:
    """The clips at image scale 0.5, the `video` command's default: coarser poses, more of them blends of
    overlapping people and copies of one person."""
    return estimate_clips(shared, net, 0.5)


def crowd(clips: dict) -> Clip:
    """The 11-person PoseTrack clip, panning right."""
    return next(clip for (name, path), (_, clip) in clips.items() if "012834" in name and path == "pan-right-zoom-in")


@pytest.fixture(scope="module")
def squat_poses(shared: Path, net) -> list[list[posenet_onnx.Pose]]:
    """The multi-pose estimate of each of the squats clip's 65 frames, the `video` command's defaults."""
    reader = import_imageio().get_reader(shared / "images" / "pose_squats.mp4", format="FFMPEG")
    try:
        return [net.estimate_multiple_poses(np.asarray(frame), 0.5) for frame in reader]
    finally:
        reader.close()


@pytest.fixture(scope="module")
def couple(shared: Path, net) -> list[posenet_onnx.Pose]:
    poses = [p for p in net.estimate_multiple_poses(shared / "images" / "couple.jpg", 0.5) if p.score >= 0.5]
    assert len(poses) == 2
    return poses


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_at_most_0_7_identity_switches_per_100_person_frames_and_about_one_id_per_person(request, scale) -> None:
    clips = request.getfixturevalue("clips" if scale == 1.0 else "half_scale_clips")
    total, ids, people = pan_clips.Score(), 0, 0
    scores = {}
    for name, (count, frames) in clips.items():
        scores[name] = score = pan_clips.score_tracks(frames, PoseTracker())
        total.add(score)
        ids, people = ids + len(score.ids), people + count
    assert len(scores) == 21 and total.matched >= 1100
    switches, _ = total.per_100()
    assert switches <= 0.7, {name: (s.matched, s.switches) for name, s in scores.items()}
    # IDs go to people, not to the decoder's faint duplicates: each clip gives out about one ID per person
    # (poses of people PoseNet finds but nobody annotated, in the crowd, get theirs too).
    assert ids <= 2 * people, {name: len(s.ids) for name, s in scores.items()}
    per_person = [len(found) for s in scores.values() for found in s.person_ids.values()]
    assert max(per_person) <= 2 and sum(per_person) <= 1.2 * len(per_person)


def test_the_measure_counts_switches_a_tracker_makes(clips) -> None:
    """The negative control: fresh IDs in every frame are a switch at nearly every match."""
    counter = itertools.count()
    score = pan_clips.score_tracks(crowd(clips), lambda poses: [next(counter) for _ in poses])
    assert score.matched >= 150 and score.switches >= 0.9 * score.matched


def test_smoothing_by_id_cuts_jitter_by_30_percent_without_growing_the_error(clips) -> None:
    raw, smoothed = pan_clips.Steadiness(), pan_clips.Steadiness()
    for _, frames in clips.values():
        tracker, smoother, labels = PoseTracker(), PoseSmoother(), []
        score = pan_clips.score_tracks(frames, lambda poses: labels.append(tracker(poses)) or labels[-1])
        out = [smoother(poses, f / pan_clips.FPS, ids) for f, ((poses, _), ids) in enumerate(zip(frames, labels))]
        raw.add(pan_clips.steadiness(frames, score.matches, [poses for poses, _ in frames]))
        smoothed.add(pan_clips.steadiness(frames, score.matches, out))
    assert raw.jitter_count >= 5000
    assert smoothed.jitter <= 0.7 * raw.jitter and smoothed.error <= raw.error, (raw, smoothed)


def test_the_squatting_woman_keeps_one_id_in_every_frame(squat_poses) -> None:
    tracker = PoseTracker()
    ids = [tracker(poses) for poses in squat_poses]
    woman = [frame_ids[int(np.argmax([p.score for p in poses]))] for poses, frame_ids in zip(squat_poses, ids)]
    assert all(max(p.score for p in poses) >= 0.5 for poses in squat_poses)  # she is found in every frame
    assert set(woman) == {1}
    # One person, one ID: the decoder's faint duplicates of her (2 or 3 a frame) get None, not IDs of their own.
    assert sum(len(poses) for poses in squat_poses) >= 2 * len(squat_poses)
    assert {i for frame_ids in ids for i in frame_ids} == {1, None}


def test_the_tracker_only_labels_poses_and_faint_ones_get_none(clips) -> None:
    """One distinct ID per pose scoring at least 0.15 in its order (None for a person found twice), None for
    fainter poses, the poses untouched, and an ID never given to a second track."""
    tracker = PoseTracker()
    seen: set[int] = set()
    faint = 0
    for poses, _ in crowd(clips):
        before = [pose.to_dict() for pose in poses]
        ids = tracker(poses)
        given = [i for i in ids if i is not None]
        assert len(ids) == len(poses) and len(given) == len(set(given)) and all(isinstance(i, int) for i in given)
        assert all(i is None for i, pose in zip(ids, poses) if pose.score < DEFAULT_MIN_POSE_SCORE)
        faint += sum(pose.score < DEFAULT_MIN_POSE_SCORE for pose in poses)
        assert [pose.to_dict() for pose in poses] == before
        new = set(given) - seen
        assert not new or min(new) > max(seen, default=0)  # new IDs count up: an old one never comes back
        seen |= new
    assert faint >= 5  # the decoder's faint duplicates are there, and got no ID
    assert tracker([]) == []


def test_the_minimum_score_decides_which_poses_get_ids(couple) -> None:
    first, second = couple  # both score >= 0.5
    faint = posenet_onnx.Pose.from_arrays(0.1, second.scores, second.positions + [5.0, 0.0], posenet_onnx.part_names)
    assert PoseTracker()([first, second, faint]) == [1, 2, None]
    strict = PoseTracker(min_pose_score=min(first.score, second.score) + 1e-3)
    assert [i is None for i in strict([first, second])] == [first.score < second.score, second.score < first.score]
    with pytest.raises(ValueError, match="min_pose_score 1.5; expected a number in"):
        PoseTracker(min_pose_score=1.5)


def test_a_tracker_shared_by_threads_refuses_the_second_instead_of_mixing_streams(couple) -> None:
    """One tracker follows one stream: a second thread's call while a frame is being labelled raises a
    clear error; calls handed from thread to thread one at a time stay whole."""
    tracker = PoseTracker()
    inside, release = threading.Event(), threading.Event()

    class SlowFrame(list):  # a frame whose poses the tracker reads while the other thread calls
        def __iter__(self):
            inside.set()
            release.wait(10)
            return super().__iter__()

    worker = threading.Thread(target=lambda: tracker(SlowFrame(couple)))
    worker.start()
    assert inside.wait(10)
    with pytest.raises(RuntimeError, match="one PoseTracker follows one stream of frames, in order: give each stream its own"):
        tracker(couple)
    release.set()
    worker.join()
    assert tracker(couple) == [1, 2]  # the refused call changed nothing

    # Real threads hammering one tracker: every call is either whole or refused; never a warning or a NaN.
    shared, errors, results = PoseTracker(), [], []

    def hammer() -> None:
        for _ in range(200):
            try:
                results.append(shared(couple))
            except RuntimeError as exc:
                errors.append(str(exc))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        threads = [threading.Thread(target=hammer) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(results) + len(errors) == 1600 and results
    assert all(ids == [1, 2] for ids in results)  # whole calls: the same two people, every time
    assert all("one PoseTracker follows one stream" in e for e in errors)
    assert all(np.isfinite(t.velocity).all() and np.isfinite(t.positions).all() for t in shared._tracks)


@pytest.mark.parametrize("max_age", [0, 3, DEFAULT_MAX_AGE])
def test_a_person_missed_up_to_max_age_frames_keeps_their_id_and_gets_a_new_one_after(couple, max_age) -> None:
    first, second = couple
    for gap, keeps in ((max_age, True), (max_age + 1, False)):
        tracker = PoseTracker(max_age=max_age)
        a, b = tracker([first, second])
        assert tracker([first, second]) == [a, b]
        for _ in range(gap):
            assert tracker([second]) == [b]
        again = tracker([second, first])
        assert again[0] == b and (again[1] == a) == keeps
        if not keeps:
            assert again[1] > max(a, b)


def shifted(pose: posenet_onnx.Pose, dx: float) -> posenet_onnx.Pose:
    return posenet_onnx.Pose.from_arrays(pose.score, pose.scores, pose.positions + [dx, 0.0], posenet_onnx.part_names)


def test_a_constant_velocity_mover_is_followed_through_a_miss(couple) -> None:
    """A person walking right (0.3 of their width per frame) beside one standing still, missed for four
    frames: the prediction finds them where they went; without it, they come back as someone new."""
    walker, stander = couple
    step = 0.3 * np.ptp(walker.positions[:, 0])
    seen = [f for f in range(16) if not 6 <= f < 10]

    def walk(tracker: PoseTracker) -> set[int]:
        ids = set()
        for f in range(16):
            poses = [stander, shifted(walker, step * f)] if f in seen else [stander]
            labels = tracker(poses)
            ids |= {labels[1]} if f in seen else set()
        return ids

    assert len(walk(PoseTracker())) == 1
    assert len(walk(PoseTracker(velocity_smoothing=0.0))) == 2  # no motion prediction: lost after the miss


def test_optimal_assignment_matches_brute_force() -> None:
    rng = np.random.default_rng(7)
    for trial in range(300):
        n, m = (int(v) for v in rng.integers(1, 7, size=2))
        cost = rng.random((n, m)) if trial % 2 else rng.integers(0, 3, size=(n, m)).astype(float)  # ties too
        pairs = optimal_assignment(cost)
        assert len(pairs) == min(n, m) == len({r for r, _ in pairs}) == len({c for _, c in pairs})
        if n <= m:
            best = min(sum(cost[i, p[i]] for i in range(n)) for p in itertools.permutations(range(m), n))
        else:
            best = min(sum(cost[p[j], j] for j in range(m)) for p in itertools.permutations(range(n), m))
        assert sum(cost[r, c] for r, c in pairs) == pytest.approx(best, abs=1e-12)


def test_the_assignment_may_leave_poses_and_tracks_alone_and_never_splits_a_close_pair() -> None:
    """Against brute force over every partial matching: a pair costs 1 - similarity, each track or pose left
    alone (1 - min_similarity) / 2, pairs below min_similarity are not allowed."""
    tracker = PoseTracker(min_similarity=0.2)
    # A track very like pose 0 and fairly like pose 1, and a second track barely like pose 0: summing the
    # similarities would split the close pair into two loose ones; the tracker keeps it.
    assert tracker._assign(np.array([[1.0, 0.84], [0.2, 0.0]])) == [(0, 0)]
    rng = np.random.default_rng(3)
    for _ in range(200):
        n, m = (int(v) for v in rng.integers(1, 5, size=2))
        similarity = rng.random((n, m)) * (rng.random((n, m)) < 0.6)
        cost = lambda pairs: sum(1 - similarity[r, c] for r, c in pairs) + 0.4 * (n + m - 2 * len(pairs))  # noqa: E731
        pairs = tracker._assign(similarity)
        assert all(similarity[r, c] >= 0.2 for r, c in pairs)
        assert len({r for r, _ in pairs}) == len({c for _, c in pairs}) == len(pairs)
        best = min(
            cost(list(zip(rows, columns)))
            for k in range(min(n, m) + 1)
            for rows in itertools.combinations(range(n), k)
            for columns in itertools.permutations(range(m), k)
            if all(similarity[r, c] >= 0.2 for r, c in zip(rows, columns))
        )
        assert cost(pairs) == pytest.approx(best, abs=1e-9)


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"max_age": -1}, "max_age -1; expected an integer >= 0"),
        ({"max_age": 1.5}, "max_age 1.5; expected an integer >= 0"),
        ({"min_similarity": 1.5}, "min_similarity 1.5; expected a number in"),
        ({"min_keypoint_score": float("nan")}, "min_keypoint_score nan; expected a number in"),
        ({"velocity_smoothing": -0.1}, "velocity_smoothing -0.1; expected a number in"),
    ],
)
def test_bad_tracker_parameters_are_rejected(parameters, message) -> None:
    with pytest.raises(ValueError, match=message):
        PoseTracker(**parameters)


def test_smoothing_follows_the_ids_not_the_order(couple) -> None:
    """Given IDs, each person keeps their filter even when two people swap places (which nearest matching
    cannot tell), and a new ID starts unfiltered."""
    first, second = couple
    smoother = PoseSmoother()
    smoother([first, second], 0.0, ids=[1, 2])
    # Each moves a few pixels; the poses come in the other order.
    out = smoother([shifted(second, -4.0), shifted(first, 4.0)], 0.2, ids=[2, 1])
    shift = [(o.positions - p.positions)[:, 0] for o, p in zip(out, (second, first))]
    assert np.all((shift[0] < 0) & (shift[0] > -4.0)) and np.all((shift[1] > 0) & (shift[1] < 4.0))
    fresh = smoother([shifted(first, 8.0)], 0.4, ids=[3])
    assert fresh[0].to_dict() == shifted(first, 8.0).to_dict()
    with pytest.raises(ValueError, match="Invalid ids: 1 for 2 poses"):
        smoother([first, second], 0.6, ids=[1])


def test_ids_draw_each_person_in_their_colour_with_the_id(shared: Path, couple) -> None:
    image = np.asarray(Image.open(shared / "images" / "couple.jpg").convert("RGB"))
    plain = np.asarray(draw_poses(image, couple))
    tracked = np.asarray(draw_poses(image, couple, ids=[3, 14]))
    for pose, colour in zip(couple, (ID_COLORS[3], ID_COLORS[4])):
        confident = [(round(k.position.y), round(k.position.x)) for k in pose.keypoints if k.score >= 0.5]
        assert all(tuple(tracked[y, x]) == colour for y, x in confident)
        # The ID is written just above the pose's highest keypoint, in its colour: there and not before.
        top = min((k.position for k in pose.keypoints if k.score >= 0.1), key=lambda p: p.y)
        x, y = round(top.x), round(top.y)
        near = lambda pixels: (np.abs(pixels[y - 22 : y - 4, x - 12 : x + 12].astype(int) - colour).max(axis=-1) < 40).sum()  # noqa: E731
        assert near(tracked) >= 15 and near(plain) == 0
    assert (plain != tracked).any()
    assert np.array_equal(plain, np.asarray(draw_poses(image, couple, ids=None)))


def test_frame_record_carries_the_id_only_with_tracking(couple) -> None:
    frame = Frame(4, 0.8, np.zeros((2, 2, 3), np.uint8))
    plain = frame_record(frame, couple)
    assert plain["poses"] == [pose.to_dict() for pose in couple]
    tracked = frame_record(frame, couple, [7, 2])
    assert [p["id"] for p in tracked["poses"]] == [7, 2]
    assert [{k: v for k, v in p.items() if k != "id"} for p in tracked["poses"]] == plain["poses"]
    assert list(tracked["poses"][0]) == ["id", "score", "keypoints"]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_video_command_tracks_and_smooths_per_id(shared: Path, real_model_dir: Path, tmp_path: Path) -> None:
    squats = shared / "images" / "pose_squats.mp4"
    video, jsonl = tmp_path / "tracked.mp4", tmp_path / "tracked.jsonl"
    model = [*model_args(real_model_dir)]
    assert main(["video", str(squats), "-o", str(video), "--jsonl", str(jsonl), "--track", "--smooth", *model]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tracked.jsonl", "tracked.mp4"]
    records = read_jsonl(jsonl)
    assert len(records) == 65 and all("id" in pose for r in records for pose in r["poses"])
    woman = {max(r["poses"], key=lambda p: p["score"])["id"] for r in records}
    assert woman == {1}
    poses = [pose for r in records for pose in r["poses"]]
    faint = [pose for pose in poses if pose["score"] < DEFAULT_MIN_POSE_SCORE]
    assert faint and all(pose["id"] is None for pose in faint)  # "id": null in the JSON lines
    assert '"id": null' in jsonl.read_text() or '"id":null' in jsonl.read_text()
    # She is drawn in ID 1's colour (lossy video: a loose bound).
    frame = 40
    reader = import_imageio().get_reader(video, format="FFMPEG")
    try:
        drawn = next(itertools.islice(reader, frame, None)).astype(int)
    finally:
        reader.close()
    pose = max(records[frame]["poses"], key=lambda p: p["score"])
    points = [(round(k["position"]["y"]), round(k["position"]["x"])) for k in pose["keypoints"] if k["score"] >= 0.5]
    assert np.median([np.abs(drawn[y, x] - ID_COLORS[1]).max() for y, x in points]) < 60


def test_video_command_passes_track_min_score_to_the_tracker(shared: Path, real_model_dir: Path, tmp_path: Path) -> None:
    jsonl = tmp_path / "tracked.jsonl"
    squats = shared / "images" / "pose_squats.mp4"
    assert main(["video", str(squats), "--jsonl", str(jsonl), "--track", "--track-min-score", "0.6", *model_args(real_model_dir)]) == 0
    poses = [pose for r in read_jsonl(jsonl) for pose in r["poses"]]
    below = [pose for pose in poses if pose["score"] < 0.6]
    above = [pose for pose in poses if pose["score"] >= 0.6]
    assert any(pose["score"] >= DEFAULT_MIN_POSE_SCORE for pose in below) and above  # 0.6, not the default, decides
    assert all(pose["id"] is None for pose in below) and all(isinstance(pose["id"], int) for pose in above)


def test_video_command_rejects_a_bad_max_age_with_one_line(shared: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    squats = shared / "images" / "pose_squats.mp4"
    assert main(["video", str(squats), "--jsonl", "x.jsonl", "--track", "--track-max-age", "-1"]) == 2
    error = capsys.readouterr().err
    assert "max_age -1; expected an integer >= 0" in error and error.count("\n") == 1
    assert list(tmp_path.iterdir()) == []

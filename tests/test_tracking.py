"""Person tracking on real footage: the real 0.50 model on virtual-camera clips of the shared annotated
multi-person photos (ground truth from their COCO keypoints), on the squats clip, and the tracker's contract."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import posenet_onnx
from posenet_onnx.cli import main
from posenet_onnx.runtime.draw import ID_COLORS, draw_poses
from posenet_onnx.runtime.video.smoothing import PoseSmoother
from posenet_onnx.runtime.video.tracking import DEFAULT_MAX_AGE, PoseTracker, optimal_assignment
from posenet_onnx.runtime.video.pipeline import Frame, frame_record, import_imageio
from support.cli import model_args

# COCO's keypoint OKS sigmas (cocoapi), the ground-truth matching measure.
COCO_SIGMAS = np.array(
    [0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089]
)
MIN_PEOPLE = 3  # the clips: every shared photo of at least this many annotated people (7, one of 11 people)
CLIP_FRAMES = 40
CLIP_WIDTH = 640
MAX_ZOOM = 1.5
MIN_OKS = 0.5  # a pose is a person's when their OKS is at least this (COCO's loose threshold)
MIN_VISIBLE = 5  # a person is in view with at least this many annotated keypoints inside the frame
SHOWN = 0.15  # draw_poses' min_pose_confidence: only the poses a viewer sees are matched to people


@dataclass(frozen=True)
class Person:
    """A ground-truth person in one frame: keypoints in frame pixels, which are annotated and in view, area."""

    positions: np.ndarray
    visible: np.ndarray
    area: float


def camera_clip(photo: Image.Image, people: list[dict], frames: int, width: int) -> Iterator[tuple[np.ndarray, list[Person]]]:
    """A virtual camera over a photo: it zooms in slowly (1x to MAX_ZOOM) while panning from the left edge
    to the right one, easing in and out. Yields each frame [H, W, 3] and the people mapped through its crop."""
    scale = width * MAX_ZOOM / photo.width  # the photo, once, at the largest crop's resolution
    source = photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.BILINEAR)
    sx, sy = source.width / photo.width, source.height / photo.height
    height = round(width * photo.height / photo.width)
    for f in range(frames):
        t = f / (frames - 1)
        zoom = 1.0 + (MAX_ZOOM - 1.0) * t
        crop_w, crop_h = photo.width / zoom, photo.height / zoom
        x0 = (photo.width - crop_w) * (0.5 - 0.5 * np.cos(np.pi * t))
        y0 = (photo.height - crop_h) * 0.5
        box = (x0 * sx, y0 * sy, (x0 + crop_w) * sx, (y0 + crop_h) * sy)
        image = np.asarray(source.resize((width, height), Image.BILINEAR, box=box))
        k = width / crop_w
        truth = []
        for person in people:
            keypoints = np.array(person["keypoints"], dtype=float).reshape(17, 3)
            xy = (keypoints[:, :2] - [x0, y0]) * k
            inside = (xy[:, 0] >= 0) & (xy[:, 0] < width) & (xy[:, 1] >= 0) & (xy[:, 1] < height)
            truth.append(Person(xy, (keypoints[:, 2] > 0) & inside, person["area"] * k * k))
        yield image, truth


def oks(positions: np.ndarray, person: Person) -> float:
    """COCO's object keypoint similarity of a pose's keypoints to a ground-truth person's in-view keypoints."""
    d2 = ((positions - person.positions) ** 2).sum(axis=-1)[person.visible]
    kappa2 = (2 * COCO_SIGMAS[person.visible]) ** 2
    return float(np.exp(-d2 / (2 * max(person.area, 1.0) * kappa2)).mean())


@dataclass
class Score:
    """Identity errors against the ground truth, CLEAR-MOT style: a person's match of the last frame is kept
    while still valid; a switch is a person matched to another ID than their last one; a fragment is a
    person matched again after frames in view without a match."""

    matched: int = 0
    switches: int = 0
    fragments: int = 0

    def per_100(self) -> tuple[float, float]:
        return 100 * self.switches / self.matched, 100 * self.fragments / self.matched


def score_tracks(frames: Sequence[tuple[list, list[Person]]], label: Callable[[list], list[int]]) -> Score:
    """Label each frame's poses (`label(poses) -> ids`) and count the identity errors against the truth."""
    score = Score()
    last: dict[int, int] = {}  # person -> the ID last matched
    missed: set[int] = set()  # people in view and unmatched since their last match
    for poses, truth in frames:
        ids = label(poses)
        in_view = [p for p, person in enumerate(truth) if person.visible.sum() >= MIN_VISIBLE]
        similarity = np.array([[oks(pose.positions, truth[p]) if pose.score >= SHOWN else 0.0 for pose in poses] for p in in_view])
        similarity = similarity.reshape(len(in_view), len(poses))
        similarity[similarity < MIN_OKS] = 0.0
        found = {}
        for row, p in enumerate(in_view):  # keep last frame's match while it is still valid
            if last.get(p) in ids and similarity[row, ids.index(last[p])] > 0:
                found[p] = last[p]
                similarity[:, ids.index(last[p])] = 0.0
                similarity[row] = 0.0
        if similarity.size:
            found.update({in_view[r]: ids[c] for r, c in optimal_assignment(-similarity) if similarity[r, c] > 0})
        missed |= {p for p in in_view if p in last and p not in found}
        for p in (p for p in in_view if p in found):
            score.matched += 1
            score.switches += p in last and found[p] != last[p]
            score.fragments += p in missed
            missed.discard(p)
            last[p] = found[p]
    return score


def photo_clips(shared: Path, net, frames: int = CLIP_FRAMES) -> Iterator[tuple[str, int, list[tuple[list, list[Person]]]]]:
    """The virtual-camera clip of every shared photo of at least MIN_PEOPLE people: its file name, its
    number of people and each frame's poses (multi-pose, scale 1.0) with the frame's ground truth."""
    coco = json.loads((shared / "photos" / "coco17_all.json").read_text())
    for image in coco["images"]:
        people = [a for a in coco["annotations"] if a["image_id"] == image["id"] and a["num_keypoints"] > 0]
        if len(people) < MIN_PEOPLE:
            continue
        photo = Image.open(shared / "photos" / image["file_name"]).convert("RGB")
        most = max(5, len(people) + 4)  # the CLI's default of 5 poses, more for a crowd
        clip = [
            (net.estimate_multiple_poses(frame, 1.0, max_pose_detections=most), truth)
            for frame, truth in camera_clip(photo, people, frames, CLIP_WIDTH)
        ]
        yield image["file_name"], len(people), clip


@pytest.fixture(scope="module")
def clips(shared: Path, net) -> dict[str, list[tuple[list, list[Person]]]]:
    return {name: frames for name, _, frames in photo_clips(shared, net)}


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


def test_at_most_one_identity_switch_per_100_person_frames_on_the_multi_person_clips(clips) -> None:
    scores = {name: score_tracks(frames, PoseTracker()) for name, frames in clips.items()}
    total = Score(*(sum(getattr(s, f) for s in scores.values()) for f in ("matched", "switches", "fragments")))
    crowd = next(s for name, s in scores.items() if "posetrack18" in name and "012834" in name)  # 11 people
    assert len(scores) == 7 and crowd.matched >= 150 and total.matched >= 500
    switches, _ = total.per_100()
    assert switches <= 1.0, {name: (s.matched, s.switches) for name, s in scores.items()}


def test_the_measure_counts_switches_a_tracker_makes(clips) -> None:
    """The negative control: fresh IDs in every frame are a switch at nearly every match."""
    counter = itertools.count()
    frames = next(f for name, f in clips.items() if "012834" in name)
    score = score_tracks(frames, lambda poses: [next(counter) for _ in poses])
    assert score.matched >= 150 and score.switches >= 0.9 * score.matched


def test_the_squatting_woman_keeps_one_id_in_every_frame(squat_poses) -> None:
    tracker = PoseTracker()
    ids = [tracker(poses) for poses in squat_poses]
    woman = [frame_ids[int(np.argmax([p.score for p in poses]))] for poses, frame_ids in zip(squat_poses, ids)]
    assert all(max(p.score for p in poses) >= 0.5 for poses in squat_poses)  # she is found in every frame
    assert set(woman) == {1}


def test_the_tracker_only_labels_poses(clips) -> None:
    """One distinct ID per pose in its order, the poses untouched, and an ID never given to a second track."""
    tracker = PoseTracker()
    seen: set[int] = set()
    for poses, _ in clips[next(name for name in clips if "012834" in name)]:
        before = [pose.to_dict() for pose in poses]
        ids = tracker(poses)
        assert len(ids) == len(poses) == len(set(ids)) and all(isinstance(i, int) for i in ids)
        assert [pose.to_dict() for pose in poses] == before
        new = set(ids) - seen
        assert not new or min(new) > max(seen, default=0)  # new IDs count up: an old one never comes back
        seen |= new
    assert tracker([]) == []


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
    """A person walking right (a fifth of their width per frame) beside one standing still, missed for
    four frames: the prediction finds them where they went; without it, they come back as someone new."""
    walker, stander = couple
    step = 0.2 * np.ptp(walker.positions[:, 0])
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


def test_video_command_rejects_a_bad_max_age_with_one_line(shared: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    squats = shared / "images" / "pose_squats.mp4"
    assert main(["video", str(squats), "--jsonl", "x.jsonl", "--track", "--track-max-age", "-1"]) == 2
    error = capsys.readouterr().err
    assert "max_age -1; expected an integer >= 0" in error and error.count("\n") == 1
    assert list(tmp_path.iterdir()) == []

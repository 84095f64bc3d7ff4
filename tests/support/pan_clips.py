"""Video with known truth: a virtual camera pans and zooms over a real annotated photo, and the photo's COCO
keypoints, mapped through the same crops, say where every person is in every frame. The measures: identity
switches against that truth (CLEAR-MOT style), IDs used, and keypoint jitter and error.

Used by tests/test_tracking.py, tests/test_smoothing.py and scripts/bench_tracking.py, so that the tests
and the reported figures share one definition.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from posenet_onnx.runtime.video.tracking import optimal_assignment

# COCO's keypoint OKS sigmas (cocoapi), the ground-truth matching measure.
COCO_SIGMAS = np.array(
    [0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089]
)
CLIP_WIDTH = 640
FPS = 30.0  # the clips' frame rate (timestamps for smoothing)
MIN_OKS = 0.5  # a pose is a person's when their OKS is at least this (COCO's loose threshold)
MIN_VISIBLE = 5  # a person is in view with at least this many annotated keypoints inside the frame
SHOWN = 0.15  # the original demo's minPoseConfidence: only poses at least this confident are matched to people


@dataclass(frozen=True)
class CameraPath:
    """A virtual camera's move, eased in and out: where the crop is (0: the photo's left or top edge, 1: its
    right or bottom edge) and how far it zooms in (1: the whole photo), at the first and the last frame."""

    name: str
    x: tuple[float, float]
    y: tuple[float, float]
    zoom: tuple[float, float]


# Pan while zooming in; back while zooming out; diagonally into a close-up.
PATHS = {
    path.name: path
    for path in (
        CameraPath("pan-right-zoom-in", (0.0, 1.0), (0.5, 0.5), (1.0, 1.5)),
        CameraPath("pan-left-zoom-out", (1.0, 0.0), (0.3, 0.7), (1.6, 1.1)),
        CameraPath("diagonal-close-up", (0.2, 0.8), (0.0, 1.0), (1.2, 2.0)),
    )
}


@dataclass(frozen=True)
class Person:
    """A ground-truth person in one frame: keypoints in frame pixels, which are annotated and in view, area."""

    positions: np.ndarray
    visible: np.ndarray
    area: float

    @property
    def in_view(self) -> bool:
        return int(self.visible.sum()) >= MIN_VISIBLE


def annotated_photos(shared: Path, min_people: int) -> Iterator[tuple[str, Image.Image, list[dict]]]:
    """The shared annotated photos of at least `min_people` annotated people: file name, RGB photo, people."""
    coco = json.loads((shared / "photos" / "coco17_all.json").read_text())
    for image in coco["images"]:
        people = [a for a in coco["annotations"] if a["image_id"] == image["id"] and a["num_keypoints"] > 0]
        if len(people) >= min_people:
            yield image["file_name"], Image.open(shared / "photos" / image["file_name"]).convert("RGB"), people


def camera_clip(
    photo: Image.Image, people: list[dict], path: CameraPath, frames: int, width: int = CLIP_WIDTH
) -> Iterator[tuple[np.ndarray, list[Person]]]:
    """The frames [H, W, 3] of a virtual camera moving along `path` over a photo, each with the people
    mapped through its crop (the frame keeps the photo's aspect ratio)."""
    scale = width * max(path.zoom) / photo.width  # the photo, once, at the largest crop's resolution
    source = photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.BILINEAR)
    sx, sy = source.width / photo.width, source.height / photo.height
    height = round(width * photo.height / photo.width)
    keypoints = [np.array(person["keypoints"], dtype=float).reshape(17, 3) for person in people]
    for f in range(frames):
        ease = 0.5 - 0.5 * np.cos(np.pi * f / max(frames - 1, 1))
        along = lambda ends: ends[0] + (ends[1] - ends[0]) * ease  # noqa: E731
        zoom = along(path.zoom)
        crop_w, crop_h = photo.width / zoom, photo.height / zoom
        x0, y0 = (photo.width - crop_w) * along(path.x), (photo.height - crop_h) * along(path.y)
        box = (x0 * sx, y0 * sy, (x0 + crop_w) * sx, (y0 + crop_h) * sy)
        image = np.asarray(source.resize((width, height), Image.BILINEAR, box=box))
        k = width / crop_w
        truth = []
        for person, points in zip(people, keypoints):
            xy = (points[:, :2] - [x0, y0]) * k
            inside = (xy[:, 0] >= 0) & (xy[:, 0] < width) & (xy[:, 1] >= 0) & (xy[:, 1] < height)
            truth.append(Person(xy, (points[:, 2] > 0) & inside, person["area"] * k * k))
        yield image, truth


def oks(positions: np.ndarray, person: Person) -> float:
    """COCO's object keypoint similarity of a pose's keypoints to a ground-truth person's in-view keypoints."""
    d2 = ((positions - person.positions) ** 2).sum(axis=-1)[person.visible]
    kappa2 = (2 * COCO_SIGMAS[person.visible]) ** 2
    return float(np.exp(-d2 / (2 * max(person.area, 1.0) * kappa2)).mean())


@dataclass
class Score:
    """Identity errors against the truth, CLEAR-MOT style: a person's match of the last frame is kept while
    still valid; a switch is a person matched to another ID than their last one (a pose without an ID
    counts as another ID); a fragment is a person matched again after frames in view without a match.
    `matches[f]` is frame f's {person: pose index}; `ids` every ID given to a pose, `person_ids` the IDs
    each person was matched to."""

    matched: int = 0
    switches: int = 0
    fragments: int = 0
    matches: list[dict[int, int]] = field(default_factory=list)
    ids: set[int] = field(default_factory=set)
    person_ids: dict[int, set] = field(default_factory=dict)

    def per_100(self) -> tuple[float, float]:
        """Switches and fragments per 100 matched person-frames."""
        return 100 * self.switches / max(self.matched, 1), 100 * self.fragments / max(self.matched, 1)

    def add(self, other: Score) -> None:
        """Add another clip's counts (not its matches)."""
        self.matched += other.matched
        self.switches += other.switches
        self.fragments += other.fragments


def score_tracks(frames: Sequence[tuple[list, list[Person]]], label: Callable[[list], list]) -> Score:
    """Label each frame's poses (`label(poses) -> ids`, None for a pose without one) and count the identity
    errors against the truth; the poses matched are those scoring at least SHOWN, by OKS >= MIN_OKS."""
    score = Score()
    last: dict[int, object] = {}  # person -> the ID last matched
    missed: set[int] = set()  # people in view and unmatched since their last match
    for poses, truth in frames:
        ids = list(label(poses))
        score.ids |= {i for i in ids if i is not None}
        in_view = [p for p, person in enumerate(truth) if person.in_view]
        similarity = np.array([[oks(pose.positions, truth[p]) if pose.score >= SHOWN else 0.0 for pose in poses] for p in in_view])
        similarity = similarity.reshape(len(in_view), len(poses))
        similarity[similarity < MIN_OKS] = 0.0
        found: dict[int, int] = {}  # person -> pose index
        for row, p in enumerate(in_view):  # keep last frame's match while it is still valid
            if last.get(p) is not None and last[p] in ids and similarity[row, ids.index(last[p])] > 0:
                found[p] = ids.index(last[p])
                similarity[:, found[p]] = 0.0
                similarity[row] = 0.0
        if similarity.size:
            found.update({in_view[r]: c for r, c in optimal_assignment(-similarity) if similarity[r, c] > 0})
        missed |= {p for p in in_view if p in last and p not in found}
        for p in (p for p in in_view if p in found):
            score.matched += 1
            score.switches += p in last and ids[found[p]] != last[p]
            score.fragments += p in missed
            missed.discard(p)
            last[p] = ids[found[p]]
            score.person_ids.setdefault(p, set()).add(ids[found[p]])
        score.matches.append(found)
    return score


@dataclass
class Steadiness:
    """Keypoint jitter and error against the truth, over the in-view annotated keypoints of matched people:
    sums and counts, so that clips add up."""

    jitter_sum: float = 0.0  # squared (second difference of the track - the truth's), pixels^2
    jitter_count: int = 0
    error_sum: float = 0.0  # distance to the truth, pixels
    error_count: int = 0

    @property
    def jitter(self) -> float:
        """RMS of each keypoint track's second difference minus the truth's, in pixels."""
        return float(np.sqrt(self.jitter_sum / max(self.jitter_count, 1)))

    @property
    def error(self) -> float:
        """Mean distance of a keypoint from the truth, in pixels."""
        return self.error_sum / max(self.error_count, 1)

    def add(self, other: Steadiness) -> None:
        self.jitter_sum += other.jitter_sum
        self.jitter_count += other.jitter_count
        self.error_sum += other.error_sum
        self.error_count += other.error_count


def steadiness(frames: Sequence[tuple[list, list[Person]]], matches: Sequence[dict[int, int]], poses: Sequence[list]) -> Steadiness:
    """Jitter and error of `poses` (per frame, e.g. smoothed; in the order of `frames`' poses) for the people
    `matches` found (a `Score`'s): the jitter over three consecutive frames that match the same person."""
    result = Steadiness()
    for f, (_, truth) in enumerate(frames):
        for p, i in matches[f].items():
            person = truth[p]
            distance = np.linalg.norm(poses[f][i].positions - person.positions, axis=-1)[person.visible]
            result.error_sum += float(distance.sum())
            result.error_count += len(distance)
            if f < 2 or p not in matches[f - 1] or p not in matches[f - 2]:
                continue
            track = np.stack([poses[f - 2 + k][matches[f - 2 + k][p]].positions for k in range(3)])
            true = np.stack([frames[f - 2 + k][1][p].positions for k in range(3)])
            visible = frames[f - 2][1][p].visible & frames[f - 1][1][p].visible & person.visible
            second = (track[2] - 2 * track[1] + track[0]) - (true[2] - 2 * true[1] + true[0])
            result.jitter_sum += float((second[visible] ** 2).sum())
            result.jitter_count += int(visible.sum()) * 2  # x and y
    return result

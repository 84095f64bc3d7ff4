"""The streaming folder job: images decoded in background threads, estimated in windows, results in input order.

Decoding (Pillow releases the GIL) runs ahead of estimation in a bounded window, so that memory stays flat
over a million images while the network never waits for a file. Each window's images go to the batch
methods of `PoseNet`, which make one session call per distinct image size. An image that cannot be read or
estimated becomes an error record and the job goes on.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from posenet_onnx.contract import validate_model
from posenet_onnx.decode import validate_multi_pose_parameters
from posenet_onnx.runtime.images import load_image
from posenet_onnx.runtime.pose import Pose
from posenet_onnx.runtime.posenet import PoseNet, validate_scale_factor
from posenet_onnx.runtime.batch.records import Record, error_record, image_record

DEFAULT_BATCH_SIZE = 8  # images per window: same-size images in it share one session call


# Each decode thread keeps two images in flight: more threads than cores only hold more images in memory.
MAX_DECODE_THREADS = 64


def default_decode_threads() -> int:
    """Decode threads: enough to keep ahead of the network, no more than the cores (at most 4)."""
    return max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class EstimateSettings:
    """How each image is estimated: `estimate_single_pose` or (with `multi`) `estimate_multiple_poses` arguments.

    The defaults are upstream's; `refinement` is the multi-pose decoder ("v1" posenet 1.0.3, "v2" 2.x).
    """

    multi: bool = False
    image_scale_factor: float = 0.5
    flip_horizontal: bool = False
    output_stride: int | None = None  # None: 16, or the stride of a graph loaded from its file
    max_pose_detections: int = 5
    score_threshold: float = 0.5
    nms_radius: float = 20
    refinement: str = "v1"

    def estimate(self, net: PoseNet, images: Sequence[np.ndarray]) -> list[list[Pose]]:
        """The poses of each image (one per image without `multi`), one session call per distinct size."""
        if not self.multi:
            poses = net.estimate_single_pose_batch(images, self.image_scale_factor, self.flip_horizontal, self.output_stride)
            return [[pose] for pose in poses]
        return net.estimate_multiple_poses_batch(
            images,
            self.image_scale_factor,
            self.flip_horizontal,
            self.output_stride,
            self.max_pose_detections,
            self.score_threshold,
            self.nms_radius,
            self.refinement,
        )

    def validate(self, multiplier: float | None) -> EstimateSettings:
        """Check every setting (ValueError naming the bad one) without a network, e.g. before a Ray job; the
        output stride against `multiplier` (None: a graph file, whose stride its network checks)."""
        validate_scale_factor(self.image_scale_factor)
        if multiplier is not None and self.output_stride is not None:
            validate_model(multiplier, self.output_stride)
        if self.multi:
            validate_multi_pose_parameters(self.max_pose_detections, self.score_threshold, self.nms_radius, self.refinement)
        return self

    def check(self, net: PoseNet) -> EstimateSettings:
        """Run the network once on a blank image, so that a bad setting, a missing graph or an unusable device
        fails now (ValueError, RuntimeError, FileNotFoundError), not later as every image's error."""
        self.estimate(net, [np.zeros((64, 64, 3), np.uint8)])
        return self


class Decoded(NamedTuple):
    """One source image: its path and either its pixels (H x W x 3 uint8) or why it could not be read."""

    path: str
    image: np.ndarray | None
    error: str | None


class Result(NamedTuple):
    """One image's outcome: the decoded image, its poses (None when it failed) and its record."""

    decoded: Decoded
    poses: list[Pose] | None
    record: Record


def decode(path: str, read_from: str | None = None) -> Decoded:
    """Read one image file (from `read_from` when given, e.g. its absolute path on a worker; the result and
    its messages name `path`); any failure is the image's error, not the job's."""
    try:
        return Decoded(path, load_image(read_from or path), None)
    except Exception as exc:  # noqa: BLE001  (every decoder failure is this file's failure)
        message = _message(exc)
        return Decoded(path, None, message.replace(read_from, path) if read_from else message)


def decode_ahead(paths: Iterable[str], threads: int, ahead: int) -> Iterator[Decoded]:
    """The paths' images decoded by `threads` threads, at most `ahead` in flight, yielded in input order."""
    pending: deque[Future[Decoded]] = deque()
    executor = ThreadPoolExecutor(threads, thread_name_prefix="posenet-decode")
    try:
        for path in paths:
            pending.append(executor.submit(decode, path))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def estimate_window(net: PoseNet, settings: EstimateSettings, window: Sequence[Decoded]) -> list[Result]:
    """The results of a window of decoded images, in its order.

    The readable images go through the network together; when that fails, each is tried alone so that the
    failure lands on the image that caused it.
    """
    readable = [item for item in window if item.image is not None]
    try:
        poses = settings.estimate(net, [item.image for item in readable]) if readable else []
    except Exception:  # noqa: BLE001  (found below, image by image)
        poses = [_estimate_one(net, settings, item) for item in readable]
    found = iter(poses)
    return [_result(item, None if item.image is None else next(found)) for item in window]


def estimate_paths(
    net: PoseNet,
    settings: EstimateSettings,
    paths: Iterable[str],
    *,
    threads: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Iterator[Result]:
    """Every path's result, in input order, streamed: decoding runs ahead in `threads` background threads."""
    threads = threads or default_decode_threads()
    window: list[Decoded] = []
    for item in decode_ahead(paths, threads, ahead=batch_size + 2 * threads):
        window.append(item)
        if len(window) == batch_size:
            yield from estimate_window(net, settings, window)
            window = []
    if window:
        yield from estimate_window(net, settings, window)


def _estimate_one(net: PoseNet, settings: EstimateSettings, item: Decoded) -> list[Pose] | str:
    try:
        return settings.estimate(net, [item.image])[0]
    except Exception as exc:  # noqa: BLE001
        return _message(exc)


def _result(item: Decoded, poses: list[Pose] | str | None) -> Result:
    if item.error is not None or isinstance(poses, str):
        message = item.error if item.error is not None else poses
        return Result(item, None, error_record(item.path, message))
    height, width = item.image.shape[:2]
    return Result(item, poses, image_record(item.path, width, height, poses))


def _message(exc: BaseException) -> str:
    """An exception as one line: its message, or its type when it has none."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__

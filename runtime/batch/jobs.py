"""The streaming folder job: images read in background threads, estimated in windows, results in input order.

Reading (Pillow releases the GIL) runs ahead of estimation in a bounded window, so that memory stays flat
over a million images while the network never waits for a file. Each window's images go to
`PoseNet.estimate`, which makes one session call per distinct image size. An image that cannot be read or
estimated becomes an error record and the job goes on.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

from posenet_onnx.runtime.batch.records import Record, error_record, image_record
from posenet_onnx.runtime.images import load_image
from posenet_onnx.runtime.pose import Pose
from posenet_onnx.runtime.posenet import PoseNet
from posenet_onnx.runtime.settings import EstimateSettings

DEFAULT_BATCH_SIZE = 8  # images per window: same-size images in it share one session call

# Each read thread keeps two images in flight: more threads than cores only hold more images in memory.
MAX_READ_THREADS = 64


def default_read_threads() -> int:
    """Read threads: enough to keep ahead of the network, no more than the cores (at most 4)."""
    return max(1, min(4, os.cpu_count() or 1))


def check_runs(net: PoseNet, settings: EstimateSettings) -> None:
    """Run the network once on a blank image, so that a stride the model lacks, a missing graph or an unusable
    device fails now (ValueError, RuntimeError, FileNotFoundError), not later as every image's error."""
    net.estimate([np.zeros((64, 64, 3), np.uint8)], settings)


class ReadImage(NamedTuple):
    """One source image: its path and either its pixels (H x W x 3 uint8) or why it could not be read."""

    path: str
    image: np.ndarray | None
    error: str | None


class Result(NamedTuple):
    """One image's outcome: the image as read, its poses (None when it failed) and its record."""

    source: ReadImage
    poses: list[Pose] | None
    record: Record


def read(path: str, read_from: str | None = None) -> ReadImage:
    """Read one image file (from `read_from` when given, e.g. its absolute path on a worker; the result and
    its messages name `path`); any failure is the image's error, not the job's."""
    try:
        return ReadImage(path, load_image(read_from or path), None)
    except Exception as exc:  # noqa: BLE001  (every failure to read the image is this file's failure)
        message = _message(exc)
        return ReadImage(path, None, message.replace(read_from, path) if read_from else message)


def read_ahead(paths: Iterable[str], threads: int, ahead: int) -> Iterator[ReadImage]:
    """The paths' images read by `threads` threads, at most `ahead` in flight, yielded in input order."""
    pending: deque[Future[ReadImage]] = deque()
    executor = ThreadPoolExecutor(threads, thread_name_prefix="posenet-read")
    try:
        for path in paths:
            pending.append(executor.submit(read, path))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def estimate_window(net: PoseNet, settings: EstimateSettings, window: Sequence[ReadImage]) -> list[Result]:
    """The results of a window of read images, in its order.

    The readable images go through the network together; when that fails, each is tried alone so that the
    failure lands on the image that caused it.
    """
    readable = [item for item in window if item.image is not None]
    try:
        poses = net.estimate([item.image for item in readable], settings) if readable else []
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
    """Every path's result, in input order, streamed: reading runs ahead in `threads` background threads."""
    threads = threads or default_read_threads()
    window: list[ReadImage] = []
    for item in read_ahead(paths, threads, ahead=batch_size + 2 * threads):
        window.append(item)
        if len(window) == batch_size:
            yield from estimate_window(net, settings, window)
            window = []
    if window:
        yield from estimate_window(net, settings, window)


def _estimate_one(net: PoseNet, settings: EstimateSettings, item: ReadImage) -> list[Pose] | str:
    try:
        return net.estimate([item.image], settings)[0]
    except Exception as exc:  # noqa: BLE001
        return _message(exc)


def _result(item: ReadImage, poses: list[Pose] | str | None) -> Result:
    if item.error is not None or isinstance(poses, str):
        message = item.error if item.error is not None else poses
        return Result(item, None, error_record(item.path, message))
    height, width = item.image.shape[:2]
    return Result(item, poses, image_record(item.path, width, height, poses))


def _message(exc: BaseException) -> str:
    """An exception as one line: its message, or its type when it has none."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__

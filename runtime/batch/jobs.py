"""The streaming folder job: images read and estimated in background threads, results in input order.

Two arrangements. On the CPU, `workers` threads each read one image and estimate it alone, on a network of
one thread each (`load(..., intra_op_threads=1)`): every core does whole images, so none waits for another
inside a network call and reading fills no gap (Pillow, onnxruntime and the decoder release the GIL).
Otherwise (a GPU), reading runs ahead in background threads and the images go to the network in windows,
where `PoseNet.estimate` makes one session call per distinct image size. Either way at most a bounded
number of images is in flight, so that memory stays flat over a million images. An image that cannot be
read or estimated becomes an error record and the job goes on.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import NamedTuple, TypeVar

import numpy as np

from posenet_onnx.runtime.batch.records import Record, error_record, image_record
from posenet_onnx.runtime.images import Size, decode_image
from posenet_onnx.runtime.pose import Pose
from posenet_onnx.runtime.posenet import PoseNet
from posenet_onnx.runtime.settings import EstimateSettings

DEFAULT_BATCH_SIZE = 8  # images per window: same-size images in it share one session call

# The most threads a job reads (and, on the CPU, estimates) in: each keeps two images in flight, and more
# threads than cores only hold more images in memory.
MAX_READ_THREADS = 64

T = TypeVar("T")


def default_read_threads() -> int:
    """Read threads: enough to keep ahead of the network, no more than the cores (at most 4)."""
    return max(1, min(4, os.cpu_count() or 1))


def check_runs(net: PoseNet, settings: EstimateSettings) -> None:
    """Run the network once on a blank image, so that a stride the model lacks, a missing graph or an unusable
    device fails now (ValueError, RuntimeError, FileNotFoundError), not later as every image's error."""
    net.estimate([np.zeros((64, 64, 3), np.uint8)], settings)


Decoder = Callable[[str], tuple[np.ndarray, Size]]  # a path -> its pixels and its full (height, width)


class ReadImage(NamedTuple):
    """One source image: its path and either its pixels (H x W x 3 uint8) and full (height, width), or why it
    could not be read. The pixels are smaller than the full size when decoded at a reduced size."""

    path: str
    image: np.ndarray | None
    error: str | None
    size: Size | None = None


class Result(NamedTuple):
    """One image's outcome: the image as read, its poses (None when it failed) and its record."""

    source: ReadImage
    poses: list[Pose] | None
    record: Record


def decoder_for(net: PoseNet, settings: EstimateSettings) -> Decoder:
    """How the images of a job with `settings` are read: reduced where `settings.fast_decode` allows it."""
    return lambda path: net.read_image(path, settings)


def read(path: str, read_from: str | None = None, decode: Decoder = decode_image) -> ReadImage:
    """Read one image file (from `read_from` when given, e.g. its absolute path on a worker; the result and
    its messages name `path`); any failure is the image's error, not the job's."""
    try:
        pixels, size = decode(read_from or path)
    except Exception as exc:  # noqa: BLE001  (every failure to read the image is this file's failure)
        message = _message(exc)
        return ReadImage(path, None, message.replace(read_from, path) if read_from else message)
    return ReadImage(path, pixels, None, size)


def read_ahead(paths: Iterable[str], threads: int, ahead: int, decode: Decoder = decode_image) -> Iterator[ReadImage]:
    """The paths' images read by `threads` threads, at most `ahead` in flight, yielded in input order."""
    return _in_order(lambda path: read(path, None, decode), paths, threads, ahead, "posenet-read")


def _in_order(work: Callable[[str], T], paths: Iterable[str], threads: int, ahead: int, name: str) -> Iterator[T]:
    """`work(path)` for each path in `threads` threads, at most `ahead` in flight, results in input order."""
    pending: deque[Future[T]] = deque()
    executor = ThreadPoolExecutor(threads, thread_name_prefix=name)
    try:
        for path in paths:
            pending.append(executor.submit(work, path))
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
        poses = net.estimate([item.image for item in readable], settings, [item.size for item in readable]) if readable else []
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
    workers: int = 1,
) -> Iterator[Result]:
    """Every path's result, in input order, streamed. `workers` > 1: that many threads each read and estimate
    one image at a time (for a CPU network of one thread). Else reading runs ahead in `threads` background
    threads and the images are estimated in windows of `batch_size`."""
    if workers > 1:
        yield from _in_workers(net, settings, paths, workers)
        return
    threads = threads or default_read_threads()
    window: list[ReadImage] = []
    for item in read_ahead(paths, threads, ahead=batch_size + 2 * threads, decode=decoder_for(net, settings)):
        window.append(item)
        if len(window) == batch_size:
            yield from estimate_window(net, settings, window)
            window = []
    if window:
        yield from estimate_window(net, settings, window)


def _in_workers(net: PoseNet, settings: EstimateSettings, paths: Iterable[str], workers: int) -> Iterator[Result]:
    """Each path read and estimated by one of `workers` threads, two images per thread in flight, in order."""
    decode = decoder_for(net, settings)

    def one(path: str) -> Result:
        item = read(path, None, decode)
        return _result(item, None if item.image is None else _estimate_one(net, settings, item))

    return _in_order(one, paths, workers, 2 * workers, "posenet-job")


def _estimate_one(net: PoseNet, settings: EstimateSettings, item: ReadImage) -> list[Pose] | str:
    try:
        return net.estimate([item.image], settings, [item.size])[0]
    except Exception as exc:  # noqa: BLE001
        return _message(exc)


def _result(item: ReadImage, poses: list[Pose] | str | None) -> Result:
    if item.error is not None or isinstance(poses, str):
        message = item.error if item.error is not None else poses
        return Result(item, None, error_record(item.path, message))
    height, width = item.size or item.image.shape[:2]
    return Result(item, poses, image_record(item.path, width, height, poses))


def _message(exc: BaseException) -> str:
    """An exception as one line: its message, or its type when it has none."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__

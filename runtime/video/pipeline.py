"""Poses in video files and camera streams: a pipeline library (the `video` command is one user of it).

Three stages overlap so that the slowest one sets the pace: a reader thread decodes frames (ffmpeg),
the calling thread estimates poses (ONNX Runtime and the decoder release the GIL), and a writer thread
draws the skeletons, encodes the output video (ffmpeg) and writes one JSON line per frame. Bounded queues
between the stages keep memory flat. A stop request (an event the caller sets, e.g. on Ctrl-C) or a
KeyboardInterrupt stops after the frame in progress; the frames already estimated are still written, and
the outputs, written under temporary names, are finalised and renamed: a playable video and complete JSON
lines; further Ctrl-Cs change nothing until they are complete.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from posenet_onnx.outputs import Output, OutputPlan, interrupts_deferred, json_text, keep_whole_lines
from posenet_onnx.runtime.video.smoothing import PoseSmoother
from posenet_onnx.runtime.video.tracking import PoseTracker
from posenet_onnx.runtime.video.video_files import VideoFileReader, VideoFileWriter, frame_times

VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".mkv", ".mov")
QUEUE_SIZE = 8  # frames buffered between two stages
_END = object()  # end-of-stream marker passed through the queues
_POLL_S = 0.05  # how often a blocked reader checks whether it should stop


class Frame(NamedTuple):
    """A decoded video frame: its index, its time in seconds from the start and its RGB pixels [H, W, 3]."""

    index: int
    timestamp: float
    image: np.ndarray


@dataclass(frozen=True)
class VideoInfo:
    """What is known about a source before reading it: frame rate, frame size and, for files, the frame count
    (estimated)."""

    fps: float
    frame_count: int | None
    frame_size: tuple[int, int] | None = None  # (height, width) of the frames as stored, upright


def import_imageio() -> Any:
    """imageio's v2 API, imported on first use; a clear message when the `[video]` extra is missing."""
    try:
        import imageio.v2 as imageio
        import imageio_ffmpeg  # noqa: F401  (the ffmpeg backend imageio needs for video)
    except ImportError as exc:
        raise ImportError(
            f'Video needs imageio and imageio-ffmpeg ({exc.name} is missing): pip install "posenet-onnx[video]"'
        ) from exc
    ffmpeg_log = logging.getLogger("imageio_ffmpeg")
    if not any(isinstance(f, _RotatedSizeNote) for f in ffmpeg_log.filters):
        ffmpeg_log.addFilter(_RotatedSizeNote())
    return imageio


def parse_source(source: str | int | os.PathLike) -> str | int:
    """A camera index (an int, or a string of digits that names no file) or a video file path."""
    if isinstance(source, int) and not isinstance(source, bool):
        if source < 0:
            raise ValueError(f"Invalid camera index {source}; expected 0 or more.")
        return source
    path = os.fspath(source)
    if path.isdigit() and not os.path.exists(path):
        return int(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No video file {path!r}; give a video file or a camera index such as 0.")
    return path


@dataclass(frozen=True)
class VideoOutputs:
    """A video job's source and its checked outputs (see `check_video_outputs`)."""

    source: str | int
    video: Output | None
    jsonl: Output | None
    plan: OutputPlan


def check_video_outputs(
    source: str | int | os.PathLike,
    output: str | os.PathLike | None,
    jsonl: str | os.PathLike | None,
    inputs: Sequence[str | os.PathLike] = (),
) -> VideoOutputs:
    """Check a job's source and outputs before any work: at least one output, a video name with a known
    container suffix (a regular file: the container is finalised by seeking), neither output the source
    or one of the job's other `inputs` (a graph file), nor both the same file."""
    if output is None and jsonl is None:
        raise ValueError("Nothing to write: give an output video, a JSON lines file, or both.")
    source = parse_source(source)
    plan = OutputPlan([*([source] if isinstance(source, str) else []), *inputs])
    video = None
    if output is not None:
        if Path(output).suffix.lower() not in VIDEO_SUFFIXES:
            raise ValueError(f"Invalid output video {os.fspath(output)!r}; expected a name ending in {', '.join(VIDEO_SUFFIXES)}.")
        video = plan.add(output, "output video", regular_only=True)
    lines = None if jsonl is None else plan.add(jsonl, "JSON lines output")
    return VideoOutputs(source, video, lines, plan)


@contextmanager
def open_video(
    source: str | int, scaled: Callable[[int, int], tuple[int, int]] | None = None
) -> Iterator[tuple[VideoInfo, Iterator[Frame]]]:
    """Open a video file or camera (see `parse_source`); yield its info and an iterator over its frames.

    `scaled(height, width)` gives the (height, width) that a file's frames are to be read at instead (ffmpeg
    scales them with its fastest bilinear filter, like the network input's own resize: no
    averaging); `VideoInfo.frame_size` keeps their full size. Cameras ignore it.
    """
    imageio = import_imageio()
    if isinstance(source, int):
        with contextlib.closing(_camera(imageio, source)) as camera:
            fps = float(camera.get_meta_data().get("fps") or 0) or 30.0
            yield VideoInfo(fps, None), _camera_frames(camera, fps)
        return
    # A file's frames as they are stored: none repeated or dropped to make a constant rate, each with its time.
    with contextlib.ExitStack() as stack:
        reader = stack.enter_context(VideoFileReader(source))
        height, width = reader.header.size
        target = (height, width) if scaled is None else scaled(height, width)
        if target != (height, width):
            reader.close()
            reader = stack.enter_context(VideoFileReader(source, target))
        fps = reader.header.fps or 30.0
        duration = reader.header.duration
        frame_count = max(1, round(duration * fps)) if duration else None
        timed = reader.frames()
        if not reader.times_in_band:
            times = stack.enter_context(frame_times(source))
            timed = ((next(times, None), image) for _, image in timed)
        yield VideoInfo(fps, frame_count, (height, width)), _file_frames(timed, fps)


def _camera(imageio: Any, index: int) -> Any:
    try:
        return imageio.get_reader(f"<video{index}>", format="FFMPEG")
    except (OSError, RuntimeError, IndexError) as exc:  # imageio's IndexError: no such camera
        raise RuntimeError(f"Cannot read camera {index}: {str(exc).strip().splitlines()[0]}") from None


# x264's speed presets, fastest first: each one slower spends more CPU for a smaller file at the same quality.
ENCODER_PRESETS: tuple[str, ...] = (
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo",
)
MAX_CRF = 51


@dataclass(frozen=True)
class Encoding:
    """How the drawn video is encoded (H.264, x264): the speed `preset` and the quality `crf` (0 lossless to 51
    worst; 23 is x264's default, visually good). `ultrafast` by default: on a 2-core machine every millisecond
    of encoding is taken from the network, and it encodes at about half the CPU time of `veryfast` for a file
    about twice the size (docs/video.md)."""

    preset: str = "ultrafast"
    crf: int = 23

    def __post_init__(self) -> None:
        if self.preset not in ENCODER_PRESETS:
            raise ValueError(f"Invalid encoder preset {self.preset!r}; expected one of {', '.join(ENCODER_PRESETS)}.")
        if isinstance(self.crf, bool) or not isinstance(self.crf, int) or not 0 <= self.crf <= MAX_CRF:
            raise ValueError(f"Invalid crf {self.crf!r}; expected a whole number from 0 (lossless) to {MAX_CRF}.")

    def output_params(self) -> list[str]:
        return ["-preset", self.preset, "-crf", str(self.crf)]


def open_video_writer(path: str | os.PathLike, fps: float, encoding: Encoding = Encoding()) -> VideoFileWriter:
    """A writer of H.264 video (yuv420p: give it frames of even sizes, see `even_sized`) from RGB frames."""
    import_imageio()
    return VideoFileWriter(path, fps, encoding.output_params())


def even_sized(image: np.ndarray) -> np.ndarray:
    """The image with a black last row and/or column added where its height or width is odd (yuv420p video
    needs even sizes); every pixel keeps its place, where imageio would rescale the whole frame."""
    height, width = image.shape[:2]
    if height % 2 == 0 and width % 2 == 0:
        return image
    return np.pad(image, ((0, height % 2), (0, width % 2), (0, 0)))


class _RotatedSizeNote(logging.Filter):
    """Holds back imageio-ffmpeg's note that a rotated video's frames differ in size from its coded frames:
    ffmpeg turns them upright, as players show them, and the frames are read at that size."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "is different from the source frame size" not in record.getMessage()


def _camera_frames(camera: Any, fps: float) -> Iterator[Frame]:
    """A camera's frames, timed from the first. Its reader always returns the latest frame, flagged `new` in
    its meta data only once: repeats are skipped, so a pipeline faster than the camera waits for it instead
    of estimating copies."""
    start = time.monotonic()
    index = 0
    for image in camera:
        if not image.meta.get("new", True):
            time.sleep(_POLL_S / 10)
            continue
        yield Frame(index, time.monotonic() - start, np.asarray(image))
        index += 1


def _file_frames(timed: Iterable[tuple[float | None, np.ndarray]], fps: float) -> Iterator[Frame]:
    """A file's frames from (listed time, pixels) pairs: at the listed time; one frame interval after the
    previous frame where none is listed or where it does not increase (a damaged file): timestamps always
    increase, as smoothing needs."""
    timestamp = -1.0 / fps
    for index, (listed, image) in enumerate(timed):
        timestamp = listed if listed is not None and listed > timestamp else timestamp + 1.0 / fps
        yield Frame(index, timestamp, image)


class VideoTimeline:
    """Frames with timestamps onto a constant-rate video at `fps`: each frame at the slot of its time, the
    frame before it held over a gap (a variable-frame-rate source keeps its timing and length), a frame
    that falls into a slot already shown left out of the video (its record stays). A constant-rate source
    gets each frame once."""

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self._origin: float | None = None
        self._written = 0  # slots written
        self._last: np.ndarray | None = None

    def place(self, timestamp: float, image: np.ndarray) -> Iterator[np.ndarray]:
        """The images to append for a frame at `timestamp`: the last frame repeated up to its slot, then it."""
        if self._origin is None:
            self._origin = timestamp
        slot = round((timestamp - self._origin) * self.fps)
        previous, self._last = self._last, image
        if slot < self._written:
            return
        if previous is not None:
            yield from itertools.repeat(previous, slot - self._written)
        yield image
        self._written = slot + 1


def mirrored(frames: Iterator[Frame]) -> Iterator[Frame]:
    """The frames flipped left to right (a webcam's selfie view)."""
    for frame in frames:
        yield frame._replace(image=np.ascontiguousarray(frame.image[:, ::-1]))


def run_pipeline(
    frames: Iterator[Frame],
    estimate: Callable[[Frame], Any],
    consume: Callable[[Frame, Any], None],
    *,
    queue_size: int = QUEUE_SIZE,
    interrupted: threading.Event | None = None,
    workers: int = 1,
) -> int:
    """Run `estimate` on each frame in `workers` threads while a reader thread pulls `frames` and a writer
    thread calls `consume(frame, estimate(frame))` in frame order; return the number of frames consumed.

    With one worker, `estimate` runs in the calling thread. With more (for networks of one thread each on
    the CPU: whole frames per core), frames are estimated side by side, at most `workers` in flight, and
    the calling thread hands their results on in order.

    On KeyboardInterrupt (or an error) in the calling thread, reading stops, the frames already estimated
    are consumed, and the exception propagates; errors in the other threads are raised here. `interrupted`
    (a stop request, e.g. set on Ctrl-C) is checked before each frame: once set, the same happens, with a
    KeyboardInterrupt.
    """
    inbox: queue.Queue = queue.Queue(maxsize=queue_size)
    outbox: queue.Queue = queue.Queue(maxsize=queue_size)
    stop = threading.Event()
    reader = threading.Thread(target=_read_stage, args=(frames, inbox, stop), name="posenet-video-reader")
    writer = _WriteStage(consume, outbox)
    in_flight: deque[tuple[Frame, Future]] = deque()
    pool = ThreadPoolExecutor(workers, thread_name_prefix="posenet-video-estimate") if workers > 1 else None
    reader.start()
    writer.start()

    def hand_on(frame: Frame, result: Any) -> None:
        writer.check()
        outbox.put((frame, result))

    try:
        while True:
            item = _get_unless_interrupted(inbox, interrupted)
            if item is _END:
                break
            if isinstance(item, BaseException):
                raise item
            if pool is None:
                hand_on(item, estimate(item))
                continue
            in_flight.append((item, pool.submit(estimate, item)))
            if len(in_flight) >= workers:
                hand_on(*_oldest_done(in_flight, interrupted))
        while in_flight:
            hand_on(*_oldest_done(in_flight, interrupted))
    finally:
        with interrupts_deferred():  # drain: the frames already estimated are written, whatever comes
            stop.set()
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
                _hand_on_done(in_flight, outbox)
            outbox.put(_END)
            writer.join()
            reader.join()
    writer.check()
    return writer.count


def _oldest_done(in_flight: deque[tuple[Frame, Future]], interrupted: threading.Event | None) -> tuple[Frame, Any]:
    """The oldest frame in flight and its result, once estimated; KeyboardInterrupt once `interrupted` is set
    (checked while waiting too), the frame then still in flight, so that no frame is skipped."""
    frame, future = in_flight[0]
    while True:
        if interrupted is not None and interrupted.is_set():
            raise KeyboardInterrupt
        try:
            result = future.result(timeout=_POLL_S)
        except FutureTimeout:
            continue
        in_flight.popleft()
        return frame, result


def _hand_on_done(in_flight: deque[tuple[Frame, Future]], outbox: queue.Queue) -> None:
    """After a stop: the frames estimated in order up to the first that was not (cancelled or failed)."""
    for frame, future in in_flight:
        if future.cancelled() or future.exception() is not None:
            return
        outbox.put((frame, future.result()))


def _read_stage(frames: Iterator[Frame], inbox: queue.Queue, stop: threading.Event) -> None:
    """Reader thread: put frames into `inbox`, then the end marker or the error that ended them, until `stop`."""
    try:
        for frame in frames:
            if not _put_unless_stopped(inbox, frame, stop):
                return
        last: object = _END
    except Exception as exc:  # noqa: BLE001 (re-raised in the calling thread)
        last = exc
    _put_unless_stopped(inbox, last, stop)


def _get_unless_interrupted(box: queue.Queue, interrupted: threading.Event | None) -> object:
    """The next item of `box`; KeyboardInterrupt once `interrupted` is set (checked while waiting too)."""
    while True:
        if interrupted is not None and interrupted.is_set():
            raise KeyboardInterrupt
        try:
            return box.get(timeout=_POLL_S)
        except queue.Empty:
            continue


def _put_unless_stopped(box: queue.Queue, item: object, stop: threading.Event) -> bool:
    """Put `item` into `box`, waiting for room unless `stop` is set first; return whether it was put."""
    while not stop.is_set():
        try:
            box.put(item, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False


class _WriteStage(threading.Thread):
    """Writer thread: consume results in order; after an error keep draining so the producer never blocks."""

    def __init__(self, consume: Callable[[Frame, Any], None], outbox: queue.Queue):
        super().__init__(name="posenet-video-writer")
        self._consume, self._outbox = consume, outbox
        self.count = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        while (item := self._outbox.get()) is not _END:
            if self.error is None:
                try:
                    self._consume(*item)
                    self.count += 1
                except Exception as exc:  # noqa: BLE001 (re-raised in the calling thread)
                    self.error = exc

    def check(self) -> None:
        """Raise the writer's error, if any, in the calling thread."""
        if self.error is not None:
            raise self.error


def frame_record(frame: Frame, poses: list, ids: Sequence[int] | None = None) -> dict:
    """One JSON line: the frame's index, its timestamp in seconds and its poses in the package's JSON shape;
    with `ids` (one per pose, a `PoseTracker`'s), each pose's person ID first, as `"id"`."""
    if ids is None:
        records = [pose.to_dict() for pose in poses]
    else:
        records = [{"id": key, **pose.to_dict()} for key, pose in zip(ids, poses, strict=True)]
    return {"frame": frame.index, "timestamp": round(frame.timestamp, 6), "poses": records}


def annotate_video(
    source: str | int | os.PathLike | VideoOutputs,
    estimate: Callable[[np.ndarray], list],
    *,
    output: str | os.PathLike | None = None,
    jsonl: str | os.PathLike | None = None,
    mirror: bool = False,
    smoother: PoseSmoother | None = None,
    tracker: PoseTracker | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    encoding: Encoding = Encoding(),
    scaled: Callable[[int, int], tuple[int, int]] | None = None,
    workers: int = 1,
) -> int:
    """Estimate the poses in every frame of a video file or camera; return the number of frames done.

    `estimate(image) -> list of Pose` runs on each RGB frame (e.g. a bound `PoseNet.estimate_multiple_poses`).
    `output` receives the video with the skeletons drawn, at the source's frame rate; `jsonl` one line per
    frame (`frame_record`). `source` may instead be the `VideoOutputs` that `check_video_outputs` returned
    (a command checks them before it loads the model). `mirror` flips each frame left to right before
    anything else: the video shows the mirrored frames and the poses are the mirrored person's, like
    upstream's `flip_horizontal` (estimate must then not flip again). `tracker` gives each pose a person
    ID: the JSON lines carry it and the video draws each person in their ID's colour with the ID beside
    them. `smoother` smooths keypoints across frames (per person ID with a tracker). `progress(done, total)`
    is called after each frame is written (total: the source's estimated frame count, None for a camera).
    `encoding` says how `output` is encoded (x264's preset and crf). `scaled(height, width)`, for a job
    with no `output`, gives the size a file's frames are to be read at (the network's input: ffmpeg scales
    them, which costs less than reading them whole); `estimate` is then called as `estimate(image, size)`
    with the frames' full (height, width), in whose pixels it must give the poses (`PoseNet.estimate`'s
    `sizes`). `workers` > 1 estimates that many frames side by side (`run_pipeline`; `estimate` must then be
    safe to call from several threads, as `PoseNet`'s methods are); tracking, smoothing and writing follow
    the frames in order.

    Setting `stop` (e.g. from a Ctrl-C handler) stops after the frame in progress, as does a KeyboardInterrupt,
    and keeps what was done: both files are finalised (further Ctrl-Cs change nothing), renamed into place,
    listed in `plan.kept`, and a KeyboardInterrupt propagates. Signal handlers are the caller's to install.
    """
    job = source if isinstance(source, VideoOutputs) else check_video_outputs(source, output, jsonl)
    if scaled is not None and job.video is not None:
        raise ValueError("Frames read scaled are for JSON lines only: an output video is drawn on whole frames.")
    from posenet_onnx.runtime.draw import draw_poses_on

    full_size: tuple[int, int] | None = None

    def estimate_frame(frame: Frame) -> list:
        return estimate(frame.image) if full_size is None else estimate(frame.image, full_size)

    finalised = False
    with ExitStack() as stack:
        info, frames = stack.enter_context(open_video(job.source, scaled))
        if scaled is not None and info.frame_size is not None:
            full_size = info.frame_size
        frames = mirrored(frames) if mirror else frames
        video_writer = lines = None
        if job.video is not None:
            temp = stack.enter_context(job.video.staged(keep_on_interrupt=lambda _: finalised))
            video_writer = open_video_writer(temp, info.fps, encoding)
        if job.jsonl is not None:
            lines = stack.enter_context(job.jsonl.open(keep_on_interrupt=keep_whole_lines))
        done = 0

        timeline = VideoTimeline(info.fps)

        def consume(frame: Frame, poses: list) -> None:
            nonlocal done
            # Tracking and smoothing follow the frames in order, here, whichever worker estimated them.
            ids = None if tracker is None else tracker(poses)
            poses = poses if smoother is None else smoother(poses, frame.timestamp, ids)
            if video_writer is not None:
                # The frame is this pipeline's own: drawn on in place when it may be (a mirrored one), else on a
                # copy (the timeline may hold it to repeat it over a gap).
                canvas = frame.image if frame.image.flags.writeable else frame.image.copy()
                drawn = even_sized(draw_poses_on(canvas, poses, ids=ids))
                for image in timeline.place(frame.timestamp, drawn):
                    video_writer.append_data(image)
            if lines is not None:
                lines.write((json_text(frame_record(frame, poses, ids)) + "\n").encode())
                lines.flush()
            done += 1
            if progress is not None:
                progress(done, info.frame_count)

        try:
            return run_pipeline(frames, estimate_frame, consume, interrupted=stop, workers=workers)
        finally:
            with interrupts_deferred():  # finalise the container: a Ctrl-C now would leave it unplayable
                if video_writer is not None:
                    video_writer.close()
                finalised = True

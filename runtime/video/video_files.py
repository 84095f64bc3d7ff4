"""Video files through ffmpeg processes: frames decoded straight into NumPy arrays with their presentation
times, and drawn frames encoded straight from them.

Frames cross a pipe and nothing else: each is read into its own array (no bytes objects joined and copied,
as a generic reader makes) and written from the array's memory. The times come from the same decode:
ffmpeg reports each frame's timestamp as it passes it on, so a variable-frame-rate file keeps each frame's
real time without being decoded twice.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import subprocess
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import IO

import numpy as np

DECODE_THREADS = 1  # ffmpeg's decoding threads: the pipeline's stages already share the cores
_PIPE_BYTES = 1 << 20  # a pipe's buffer, where the system allows it: a frame in few system calls
_LOG_LINES = 50  # ffmpeg's last log lines kept for an error message


def ffmpeg_exe() -> str:
    """The ffmpeg that imageio-ffmpeg provides (its own build, or IMAGEIO_FFMPEG_EXE)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@functools.cache
def ffmpeg_version() -> tuple[int, int]:
    """That ffmpeg's version as (major, minor); a build without a release number is taken as recent. Asked once
    per process: imageio-ffmpeg runs `ffmpeg -version` for it each time."""
    import imageio_ffmpeg

    match = re.match(r"n?(\d+)\.(\d+)", imageio_ffmpeg.get_ffmpeg_version())
    return (int(match[1]), int(match[2])) if match else (99, 0)


def passthrough_args() -> list[str]:
    """ffmpeg's output option that passes every decoded frame once, with its own timestamp (by default a
    variable-frame-rate file is made constant-rate: frames repeated or dropped). `-fps_mode` since ffmpeg 5.1."""
    return ["-fps_mode", "passthrough"] if ffmpeg_version() >= (5, 1) else ["-vsync", "passthrough"]


def time_base_args() -> list[str]:
    """ffmpeg's output option that keeps the source's own time base, so that listed times are exact."""
    return ["-enc_time_base", "demux" if ffmpeg_version() >= (7, 0) else "-1"]


def _own_group() -> dict:
    """Popen options for a process group of its own: a Ctrl-C, SIGTERM or SIGHUP sent to the command's group
    stops the command, which then ends its ffmpeg processes itself."""
    return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP} if os.name == "nt" else {"start_new_session": True}


def _widen(pipe: IO[bytes], frame_bytes: int) -> None:
    """Give a pipe a buffer of up to a frame (Linux's F_SETPIPE_SZ), where the system allows it."""
    try:
        import fcntl

        fcntl.fcntl(pipe.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), min(frame_bytes, _PIPE_BYTES))
    except (ImportError, OSError, ValueError):
        pass  # the default buffer: more system calls a frame, same frames


class _Log(threading.Thread):
    """Drains an ffmpeg's log (which would otherwise block it), keeps its last lines and flags the moment its
    header (what it read and will write) is complete."""

    def __init__(self, stream: IO[bytes]):
        super().__init__(name="posenet-ffmpeg-log", daemon=True)
        self._stream = stream
        self.lines: deque[str] = deque(maxlen=_LOG_LINES)
        self.header: list[str] = []
        self.header_done = threading.Event()

    def run(self) -> None:
        in_output = False
        for raw in self._stream:
            line = raw.decode(errors="replace").rstrip()
            self.lines.append(line)
            if not self.header_done.is_set():
                self.header.append(line)
                in_output = in_output or line.startswith("Output #0")
                if in_output and re.match(r"\s*Stream #\d+:\d+.*: Video:", line):
                    self.header_done.set()
        self.header_done.set()

    def problem(self) -> str:
        """ffmpeg's last error line, or its last line."""
        lines = [line.strip() for line in self.lines if line.strip()]
        errors = [line for line in lines if re.search(r"error|invalid|no such|not|denied|fail", line, re.IGNORECASE)]
        return (errors or lines or ["ffmpeg gave no reason"])[-1]


@dataclass(frozen=True)
class Header:
    """What ffmpeg says of a file before decoding it: frame rate, the frames' (height, width) as they are
    read (upright, at the size asked for) and the duration in seconds (None when unknown)."""

    fps: float
    size: tuple[int, int]
    duration: float | None


def parse_header(lines: Iterable[str]) -> Header | None:
    """The header of an ffmpeg log (its input and output stream lines), or None when it has no video output."""
    text = "\n".join(lines)
    output = re.search(r"^Output #0.*?^\s*Stream #\d+:\d+.*?: Video: (.*)$", text, re.MULTILINE | re.DOTALL)
    if output is None:
        return None
    size = re.search(r"(?:^|[ ,])(\d+)x(\d+)(?:[ ,\[]|$)", output[1])
    mapped = re.search(r"^\s*Stream #0:(\d+) -> #0:\d+", text, re.MULTILINE)
    index = mapped[1] if mapped else r"\d+"
    stream = re.search(r"^\s*Stream #0:" + index + r"\b.*?: Video: (.*)$", text, re.MULTILINE)
    rate = stream and (re.search(r"([\d.]+)(k?) fps", stream[1]) or re.search(r"([\d.]+)(k?) tbr", stream[1]))
    duration = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", text)
    if size is None:
        return None
    fps = float(rate[1]) * (1000 if rate[2] else 1) if rate else 0.0
    seconds = int(duration[1]) * 3600 + int(duration[2]) * 60 + float(duration[3]) if duration else None
    return Header(fps, (int(size[2]), int(size[1])), seconds)


def reports_times() -> bool:
    """Whether this ffmpeg reports each frame's time as it passes the frame on (`-stats_mux_pre`, ffmpeg 6.1,
    on systems that can hand it a pipe); else `frame_times` lists them in a second process."""
    return os.name == "posix" and ffmpeg_version() >= (6, 1)


class VideoFileReader:
    """A video file's frames as RGB arrays [H, W, 3], each with its presentation time in seconds.

    ffmpeg decodes in one thread and passes every frame once (a variable frame rate keeps its frames).
    `size` (height, width) reads the frames scaled to it with ffmpeg's fastest bilinear filter (no averaging,
    like the network's own resize). A file ffmpeg cannot read raises RuntimeError naming it.
    """

    def __init__(self, path: str, size: tuple[int, int] | None = None):
        self.path = path
        scale = [] if size is None else ["-s", f"{size[1]}x{size[0]}", "-sws_flags", "fast_bilinear"]
        times_read, times_written = os.pipe() if reports_times() else (None, None)
        times = [] if times_written is None else [
            *time_base_args(), "-stats_mux_pre", f"pipe:{times_written}", "-stats_mux_pre_fmt", "{pts} {tb}"
        ]
        command = [
            ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info", "-threads", str(DECODE_THREADS),
            "-i", path, "-an", "-sn", "-dn", *passthrough_args(), *times, *scale, "-f", "rawvideo", "-pix_fmt", "rgb24", "-",
        ]  # no -map: ffmpeg picks the file's main video stream
        try:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
                pass_fds=() if times_written is None else (times_written,), **_own_group(),
            )
        finally:
            if times_written is not None:
                os.close(times_written)
        self._times = None if times_read is None else open(times_read, "rb")  # noqa: SIM115 (closed in close())
        self._log = _Log(self._process.stderr)
        self._log.start()
        self._log.header_done.wait()
        header = parse_header(self._log.header)
        if header is None:
            self._log.join(timeout=5)
            self.close()
            read_input = any(line.startswith("Input #0") for line in self._log.lines)
            has_video = any(re.match(r"\s*Stream #0:\d+.*: Video:", line) for line in self._log.lines)
            problem = "it has no video stream" if read_input and not has_video else self._log.problem()
            raise RuntimeError(f"Cannot read {path!r} as a video: {problem}")
        self.header = header
        _widen(self._process.stdout, header.size[0] * header.size[1] * 3)

    @property
    def times_in_band(self) -> bool:
        """Whether `frames` gives each frame's time (see `reports_times`)."""
        return self._times is not None

    def frames(self) -> Iterator[tuple[float | None, np.ndarray]]:
        """Each frame's time (None where this ffmpeg cannot tell it in band) and its pixels, in order."""
        height, width = self.header.size
        stream = self._process.stdout
        while True:
            image = np.empty((height, width, 3), np.uint8)
            view = memoryview(image).cast("B")
            filled = 0
            while filled < len(view):
                got = stream.readinto(view[filled:])
                if not got:
                    break
                filled += got
            if filled == 0:
                return
            if filled < len(view):
                raise RuntimeError(f"Cannot read {self.path!r} as a video: it ends inside a frame ({self._log.problem()})")
            yield self._next_time(), image

    def _next_time(self) -> float | None:
        """The next frame's time from ffmpeg's report, written before the frame itself (so never waited for)."""
        if self._times is None:
            return None
        pts, _, time_base = self._times.readline().decode(errors="replace").partition(" ")
        try:
            return float(int(pts) * Fraction(time_base.strip()))
        except (ValueError, ZeroDivisionError):
            return None  # no timestamp: the pipeline places the frame one interval after the last

    def close(self) -> None:
        """Stop ffmpeg (it may be in the middle of the file) and close its pipes."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.stdout.close()
        self._process.wait()
        if self._times is not None:
            self._times.close()

    def __enter__(self) -> VideoFileReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class VideoFileWriter:
    """An H.264 (x264, yuv420p) video file written from RGB frames of one even size at `fps`; `encoding_args`
    are x264's options (preset, crf). ffmpeg starts with the first frame, which sets the size."""

    def __init__(self, path: str | os.PathLike, fps: float, encoding_args: list[str]):
        self.path = os.fspath(path)
        self._fps = Fraction(fps).limit_denominator()
        self._encoding = encoding_args
        self._process: subprocess.Popen | None = None
        self._log: _Log | None = None
        self._size: tuple[int, ...] | None = None
        self._failed = False

    def append_data(self, image: np.ndarray) -> None:
        """Encode one frame (uint8 [H, W, 3], every frame the size of the first)."""
        if self._process is None:
            self._start(image.shape)
        if image.shape != self._size:
            raise ValueError(f"A frame of {image.shape} in a video of {self._size}; every frame has one size.")
        try:
            self._process.stdin.write(memoryview(np.ascontiguousarray(image)).cast("B"))
        except (BrokenPipeError, ValueError):
            self._fail()

    def _start(self, shape: tuple[int, ...]) -> None:
        height, width = shape[:2]
        command = [
            ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(self._fps), "-i", "-",
            "-an", "-sws_flags", "bicubic+full_chroma_inp", "-c:v", "libx264", "-pix_fmt", "yuv420p", *self._encoding, self.path,
        ]  # -y: the file is this writer's own (a staged name), already made empty. full_chroma_inp: swscale's
        # RGB-to-yuv420p conversion with full-resolution chroma input takes about half the CPU time of its
        # default (PSNR against the RGB frames unchanged)
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, bufsize=0, **_own_group()
        )
        self._log = _Log(self._process.stderr)
        self._log.start()
        self._size = tuple(shape)
        _widen(self._process.stdin, height * width * 3)

    def _fail(self) -> None:
        self._failed = True
        self._process.wait()
        self._log.join(timeout=5)
        raise RuntimeError(f"Cannot write the video {self.path}: {self._log.problem()}")

    def close(self) -> None:
        """Finish the file: ffmpeg writes what it holds and the container's index. Raises if ffmpeg failed."""
        if self._process is None or self._failed or self._process.stdin.closed:
            return
        with contextlib.suppress(BrokenPipeError):
            self._process.stdin.close()
        if self._process.wait() != 0:
            self._fail()
        self._log.join(timeout=5)

    def __enter__(self) -> VideoFileWriter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


@contextlib.contextmanager
def frame_times(path: str) -> Iterator[Iterator[float]]:
    """The presentation time in seconds of each frame of a video file, in the order `VideoFileReader` reads
    them, for an ffmpeg that cannot report them in band: a second ffmpeg lists them (framecrc of the decoded
    frames, in the file's own time base) while the frames are read."""
    command = [
        ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-threads", str(DECODE_THREADS), "-i", path,
        "-an", "-sn", "-dn", *passthrough_args(), *time_base_args(), "-c:v", "wrapped_avframe", "-f", "framecrc", "-",
    ]  # no -map: ffmpeg picks the video stream the frames come from, as it does for the reader
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, **_own_group())
    try:
        yield _framecrc_times(process.stdout)
    finally:
        process.kill()
        process.stdout.close()
        process.wait()


def _framecrc_times(lines: Iterable[bytes]) -> Iterator[float]:
    """Seconds per frame from ffmpeg's framecrc listing: `#tb 0: NUM/DEN`, then `stream, dts, pts, ...` lines."""
    time_base = None
    for line in lines:
        text = line.decode(errors="replace").strip()
        if text.startswith("#tb 0:"):
            numerator, _, denominator = text.split(":", 1)[1].strip().partition("/")
            time_base = Fraction(int(numerator), int(denominator))
        elif text and not text.startswith("#") and time_base is not None:
            fields = text.split(",")
            if len(fields) >= 3 and fields[0].strip() == "0":
                yield float(int(fields[2]) * time_base)

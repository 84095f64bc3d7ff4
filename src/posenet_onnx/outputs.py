"""Writing files safely, for every application and command: checked before any work, complete or not at all.

A job first names its inputs and its outputs (`OutputPlan`); the plan refuses, before anything expensive
runs, an output that is one of the inputs, the same path twice, a folder, a missing or read-only folder.
Then each output is written:

- a regular file (or a new one) through a hidden temporary file beside it, renamed into place only when
  complete and removed on every failure path;
- through a symlink: the link stays, its target gets the new content;
- a FIFO, a character device (a terminal, /dev/null), a socket or `-` (standard output): directly, with
  no temporary file (a reader is waiting on the other end).

On Ctrl-C a writer may keep what is complete (a JSON lines file cut after its last whole line, a video
whose container was finalised); the rename then runs with a further Ctrl-C held back until it is done
(`interrupts_deferred`, which then hands it to the caller's handler: how Ctrl-C is handled stays the
application's choice), and the plan records what was kept so the caller can say so. `json_text` writes
JSON that stays valid when a pose holds NaN.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import re
import secrets
import signal
import socket
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

STDOUT = "-"
# The signals that stop a command as Ctrl-C does (where the system has them: Windows lacks SIGHUP).
STOP_SIGNALS: tuple[int, ...] = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
_NAME_MAX = 255  # bytes in a file name, on the common file systems


class OutputError(ValueError):
    """An output that cannot or must not be written; the message names it and what is valid."""


def temporary_path(path: Path) -> Path:
    """A fresh hidden name beside `path` with the same suffix (so that tools that go by it still work), naming
    the writer (process id and host) so that a later run can tell a killed writer's file from a live one's."""
    stem, suffix = _staged_parts(path)
    return path.with_name(f".{stem}.{os.getpid()}-{_HOST}-{secrets.token_hex(4)}.partial{suffix}")


def _staged_parts(path: Path) -> tuple[str, str]:
    """The stem and suffix a temporary name of `path` carries: its own, or where the temporary name would
    be longer than a file name may be, a hash of the stem (and no suffix if that is long too)."""
    stem, suffix = path.stem, path.suffix
    overhead = len(".." + "0" * 10 + f"-{_HOST}-" + "0" * 8 + ".partial")  # the pid at its longest
    if len(os.fsencode(stem + suffix)) + overhead <= _NAME_MAX:
        return stem, suffix
    suffix = suffix if len(os.fsencode(suffix)) <= 16 else ""
    return hashlib.sha256(os.fsencode(path.name)).hexdigest()[:16], suffix


def _host_tag() -> str:
    """Six hex digits of this machine's name: a process id only identifies a writer on its own host."""
    return hashlib.sha256(socket.gethostname().encode(errors="replace")).hexdigest()[:6]


_HOST = _host_tag()


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove the hidden temporary files of `path` that killed writers left beside it (SIGKILL, a power cut:
    nothing could clean up), and return them. Only names `temporary_path(path)` makes, only regular files,
    and only those whose writer, named in the file name, is a process of this host that no longer runs."""
    stem, suffix = _staged_parts(path)
    pattern = re.compile(rf"\.{re.escape(stem)}\.(\d{{1,10}})-{_HOST}-[0-9a-f]{{8}}\.partial{re.escape(suffix)}")
    removed: list[Path] = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match and entry.is_file(follow_symlinks=False) and not _process_runs(int(match[1])):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _process_runs(pid: int) -> bool:
    """Whether process `pid` runs (on Windows, where os.kill would end it, every process is taken to run)."""
    if os.name == "nt" or pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # another user's process, say, or no process id this system has
        return True
    return True


def is_temporary_name(name: str) -> bool:
    """Whether a file name is one `temporary_path` makes (for cleaning up after a killed process)."""
    return name.startswith(".") and ".partial" in name


def _identity(path: str | os.PathLike) -> tuple[int, int] | None:
    """(device, inode) of what `path` names after following links, or None if nothing is there."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _is_special(path: str | os.PathLike) -> bool:
    """True for what must be written directly: FIFOs, character and block devices, sockets."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISSOCK(mode)


@dataclass(frozen=True)
class Output:
    """One checked output: where its bytes land and how they are written."""

    name: str  # as the user gave it, for messages
    path: Path  # the file written: a symlink's target, resolved
    special: bool  # written directly (standard output, a FIFO, a device)
    plan: OutputPlan

    @property
    def is_stdout(self) -> bool:
        return self.name == STDOUT

    @contextlib.contextmanager
    def open(self, *, keep_on_interrupt: Callable[[Path], bool] | None = None) -> Iterator[BinaryIO]:
        """A binary file for the block to write; it replaces the output only if the block completes.

        `keep_on_interrupt(temp)` decides, on Ctrl-C, whether what was written so far is complete (it may
        trim it first); a kept file is renamed into place and recorded in the plan.
        """
        if self.special:
            if self.is_stdout:
                sys.stdout.flush()
                yield sys.stdout.buffer
                sys.stdout.buffer.flush()
            else:
                with open(self.path, "wb") as handle:
                    yield handle
            return
        with self.staged(keep_on_interrupt=keep_on_interrupt) as temp:
            # O_EXCL: never write into another writer's file; mode 0o666 is reduced by the umask, as usual.
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
            with os.fdopen(os.open(temp, flags, 0o666), "wb") as handle:
                yield handle

    @contextlib.contextmanager
    def staged(self, *, keep_on_interrupt: Callable[[Path], bool] | None = None) -> Iterator[Path]:
        """A temporary path for the block (or another program) to write; renamed onto the output afterwards.

        Only for regular files (`OutputPlan.add(..., regular_only=True)`). The temporary file is removed
        whenever the block fails, and on Ctrl-C unless `keep_on_interrupt(temp)` says it is complete; what a
        killed earlier writer of the same output left is removed first.
        """
        remove_stale_temporaries(self.path)
        temp = temporary_path(self.path)
        try:
            yield temp
        except BaseException as exc:
            interrupted = caused_by_interrupt(exc)  # also a Ctrl-C that a C extension reported as its error
            if interrupted and keep_on_interrupt is not None and temp.is_file() and keep_on_interrupt(temp):
                self._commit(temp)
                self.plan.kept.append(self.name)
            else:
                temp.unlink(missing_ok=True)
            raise
        if temp.exists():
            self._commit(temp)

    def _commit(self, temp: Path) -> None:
        """Rename the complete temporary file onto the output, with Ctrl-C held back until it is done."""
        with interrupts_deferred():
            try:
                os.replace(temp, self.path)
            except BaseException:
                temp.unlink(missing_ok=True)
                raise


class OutputPlan:
    """The outputs of one command, checked against its inputs and each other before any work."""

    def __init__(self, inputs: Iterable[str | os.PathLike] = ()) -> None:
        self._inputs: dict[tuple[int, int], str] = {}
        for path in inputs:
            identity = _identity(path)
            if identity is not None:
                self._inputs[identity] = os.fspath(path)
        self._outputs: dict[object, str] = {}
        self.kept: list[str] = []  # outputs kept complete after an interruption

    def add(self, name: str | os.PathLike, what: str, *, regular_only: bool = False) -> Output:
        """Check one output (`what` names it in messages, e.g. "JSON output") and return how to write it.

        `regular_only` refuses standard output and special files (for writers that seek, such as video).
        """
        text = os.fspath(name)
        if text == STDOUT:
            if regular_only:
                raise OutputError(f"The {what} must be a file; '-' (standard output) is not valid here.")
            return self._claim(STDOUT, Output(STDOUT, Path(STDOUT), True, self))
        if text == "":
            raise OutputError(f"The {what} path is empty; give a file name.")
        path = Path(text)
        if path.is_dir():
            raise OutputError(f"The {what} {text} is a folder; give a file name.")
        if _is_special(path):
            if regular_only:
                raise OutputError(f"The {what} {text} is not a regular file (a pipe or device); give a file name.")
            return self._claim(_identity(path), Output(text, path, True, self))
        target = Path(os.path.realpath(path))  # through symlinks, to the file that gets the content
        if target.is_dir():
            raise OutputError(f"The {what} {text} points to a folder; give a file name.")
        _check_folder(target.parent, what, text)
        key: object = _identity(target) or ("new", str(target))
        return self._claim(key, Output(text, target, False, self))

    def _claim(self, key: object, output: Output) -> Output:
        if key in self._inputs:
            raise OutputError(
                f"The output {output.name} is the input {self._inputs[key]}; write to another file."  # type: ignore[index]
            )
        if key in self._outputs:
            raise OutputError(f"Two outputs write to {output.name} (also given as {self._outputs[key]}); name different files.")
        self._outputs[key] = output.name
        return output


def check_writable_folder(folder: str | os.PathLike, what: str) -> Path:
    """An existing folder that files can be written into (created if missing), checked before any work."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"The {what} {folder} is a file, not a folder; give a folder.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"Cannot create the {what} {folder}: {exc.strerror}.") from None
    _check_folder(folder, what, str(folder))
    return folder


def _check_folder(folder: Path, what: str, name: str) -> None:
    """Refuse a missing, non-folder or unwritable parent folder of an output (a file is created and removed
    there to find out: permissions, read-only mounts and pseudo file systems all answer the same way)."""
    if not folder.exists():
        raise OutputError(f"No folder {folder} for the {what} {name}; create it first or give another path.")
    if not folder.is_dir():
        raise OutputError(f"The {what} {name} cannot be written: {folder} is a file, not a folder.")
    try:
        handle, probe = tempfile.mkstemp(prefix=".posenet-onnx-probe.", suffix=".partial", dir=folder)
    except OSError as exc:
        where = "is on a read-only file system" if exc.errno == errno.EROFS else f"does not take files ({os_error_reason(exc)})"
        raise OutputError(f"The {what} {name} cannot be written: the folder {folder} {where}.") from None
    os.close(handle)
    os.unlink(probe)


def keep_whole_lines(temp: Path) -> bool:
    """For `keep_on_interrupt`: cut a text file after its last complete line; keep it if any line is left."""
    with open(temp, "rb+") as handle:
        data = handle.read()
        end = data.rfind(b"\n") + 1
        handle.truncate(end)
    return end > 0


def write_bytes(output: Output, data: bytes) -> None:
    """Write `data` to a checked output (complete or not at all)."""
    with output.open() as handle:
        handle.write(data)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary file that replaces `path` only if the block completes; creates missing folders first.

    For files the package itself owns (caches, exported graphs); commands write user outputs through a plan.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with OutputPlan().add(path, "file").open() as handle:
        yield handle


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` with `atomic_file` and return the path."""
    with atomic_file(path) as handle:
        handle.write(data)
    return Path(path)


def json_text(value: object, indent: int | None = None) -> str:
    """`value` as valid JSON: NaN and infinite numbers (a pose may hold them) are written as null."""
    return json.dumps(_finite(value), indent=indent, allow_nan=False)


def _finite(value: object) -> object:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def os_error_reason(exc: OSError) -> str:
    """Why an operating-system call failed, in words (a full disk said plainly)."""
    return "no space left on the device" if exc.errno == errno.ENOSPC else exc.strerror or str(exc)


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold back SIGINT for the block (main thread only), and SIGTERM and SIGHUP where the application handles
    them in Python, then deliver what came to the handler before: a rename is never cut short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {
        signum: handler for signum in STOP_SIGNALS
        if (handler := signal.getsignal(signum)) is not None and (signum == signal.SIGINT or callable(handler))
    }
    for signum in previous:
        signal.signal(signum, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if pending:
        handler = previous[pending[0]]
        if callable(handler):
            handler(pending[0], None)
        elif handler != signal.SIG_IGN:
            raise KeyboardInterrupt


def caused_by_interrupt(exc: BaseException) -> bool:
    """True for a KeyboardInterrupt, or an error raised while one was being handled or because of one (a C
    extension that got Ctrl-C mid-call reports a SystemError caused by it)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def lock_path(path: Path) -> Path:
    """The hidden lock file beside an output that `exclusive` holds while a job writes it: `.NAME.posenet-onnx.lock`,
    or, where that would be too long a file name, one made of a hash of NAME."""
    name = f".{path.name}.posenet-onnx.lock"
    if len(os.fsencode(name)) > _NAME_MAX:
        name = f".{hashlib.sha256(os.fsencode(path.name)).hexdigest()[:16]}.posenet-onnx.lock"
    return path.with_name(name)


@contextlib.contextmanager
def exclusive(output: Output) -> Iterator[None]:
    """Hold `output` for this process for the block: a second job that would write the same file is refused
    (OutputError naming the process that holds it) instead of mixing its writes into the first one's.

    The lock is an flock on a hidden file beside the output (`lock_path`, holding the holder's process id),
    removed when the block ends. One left by a killed process holds no lock any more (the kernel drops it
    with the process): the next job takes it over and removes it. Standard output, pipes and devices are
    not locked; nor is anything where the system has no flock (Windows).
    """
    try:
        import fcntl
    except ImportError:  # Windows: no flock
        fcntl = None
    if output.special or fcntl is None:
        yield
        return
    lock = lock_path(output.path)
    descriptor = _take_lock(fcntl, lock, output.name)
    try:
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()}\n".encode())
        yield
    finally:
        if _identity(lock) == _fd_identity(descriptor):
            lock.unlink(missing_ok=True)  # while still held: a job waiting on this file tries again
        os.close(descriptor)


def _take_lock(fcntl: object, lock: Path, name: str) -> int:
    """An open descriptor of `lock` with the exclusive flock on it, or OutputError when another process holds it."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    while True:
        try:
            descriptor = os.open(lock, flags, 0o666)
        except OSError as exc:
            raise OutputError(f"Cannot lock the output {name}: {lock} {os_error_reason(exc)}.") from None
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            os.close(descriptor)
            raise OutputError(f"Cannot lock the output {name}: {lock} is not a regular file; remove it.")
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)  # type: ignore[attr-defined]
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(descriptor)
            raise OutputError(
                f"The output {name} is being written by another job (process {holder}); wait for it to end or "
                "write to another file."
            ) from None
        if _identity(lock) != _fd_identity(descriptor):
            os.close(descriptor)  # its holder removed it between our open and our lock: take the new one
            continue
        if not os.pread(descriptor, 32, 0).rstrip(b"\n").isdigit() and os.fstat(descriptor).st_size:
            os.close(descriptor)  # a file of the user's that happens to have the name: leave it alone
            raise OutputError(f"Cannot lock the output {name}: {lock} is in the way (not a lock file); move it.")
        return descriptor


def _fd_identity(descriptor: int) -> tuple[int, int]:
    info = os.fstat(descriptor)
    return info.st_dev, info.st_ino

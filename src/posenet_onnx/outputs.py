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
import json
import math
import os
import secrets
import signal
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

STDOUT = "-"


class OutputError(ValueError):
    """An output that cannot or must not be written; the message names it and what is valid."""


def temporary_path(path: Path) -> Path:
    """A fresh hidden name beside `path` with the same suffix (so that tools that go by it still work)."""
    return path.with_name(f".{path.stem}.{secrets.token_hex(4)}.partial{path.suffix}")


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
        whenever the block fails, and on Ctrl-C unless `keep_on_interrupt(temp)` says it is complete.
        """
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
    """Hold back SIGINT for the block (main thread only), then deliver it to the handler before: a rename is
    never cut short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending:
        if callable(previous):
            previous(signal.SIGINT, None)
        elif previous != signal.SIG_IGN:
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

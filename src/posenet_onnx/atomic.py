"""Atomic file writes: a hidden temporary file beside the destination, renamed into place when complete.

An interrupted or failed write leaves no file under the final name, and no temporary file either. The
final file gets the mode any program's new file gets (0o666 less the umask), not a private temporary mode.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


def temporary_path(path: Path) -> Path:
    """A fresh hidden name beside `path` with the same suffix (so that tools that go by it still work)."""
    return path.with_name(f".{path.stem}.{secrets.token_hex(4)}.partial{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, keep_on_interrupt: bool = False) -> Iterator[Path]:
    """A temporary path for the block to write (e.g. by another program) that replaces `path` afterwards.

    When the block completes, the file written there (if any) takes the final name; when it raises, the file
    is removed. With `keep_on_interrupt`, Ctrl-C (KeyboardInterrupt) keeps what was written so far, unless
    that is nothing: for writers whose output stays valid when cut short, such as a video being encoded.
    """
    path = Path(path)
    temp = temporary_path(path)
    try:
        yield temp
    except KeyboardInterrupt:
        if keep_on_interrupt and temp.is_file() and temp.stat().st_size > 0:
            os.replace(temp, path)
        else:
            temp.unlink(missing_ok=True)
        raise
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if temp.exists():
        os.replace(temp, path)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary file to write that replaces `path` only if the block completes; creates missing folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temp:
        # O_EXCL: never write into another writer's file; mode 0o666 is reduced by the umask, as usual.
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        with os.fdopen(os.open(temp, flags, 0o666), "wb") as handle:
            yield handle


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically and return the path."""
    with atomic_file(path) as handle:
        handle.write(data)
    return Path(path)

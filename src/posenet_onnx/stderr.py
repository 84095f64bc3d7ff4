"""Capture file descriptor 2, where C++ libraries (TensorFlow, onnxruntime) log past Python's sys.stderr.

Their native loggers write to the descriptor directly, so neither `warnings` nor `logging` can hold them
back; the block runs with descriptor 2 pointed at a temporary file whose text the caller can read, show
or drop.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

from posenet_onnx.outputs import caused_by_interrupt


@dataclass
class CapturedStderr:
    """What was written to file descriptor 2 during a `captured_stderr()` block; filled when the block ends."""

    text: str = ""


@contextlib.contextmanager
def captured_stderr(*, replay_on_error: bool = False) -> Iterator[CapturedStderr]:
    """Send file descriptor 2 to a temporary file for the block; its text is in the yielded object afterwards.

    With `replay_on_error`, a block that raises writes the captured text to sys.stderr, where it may
    explain the failure; a block that completes, or is interrupted (Ctrl-C, a stop signal), shows nothing.
    """
    captured, failed = CapturedStderr(), False
    with tempfile.TemporaryFile() as handle:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(handle.fileno(), 2)
        try:
            yield captured
        except BaseException as exc:
            failed = not caused_by_interrupt(exc)
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            handle.seek(0)
            captured.text = handle.read().decode(errors="replace")
            if failed and replay_on_error:
                sys.stderr.write(captured.text)

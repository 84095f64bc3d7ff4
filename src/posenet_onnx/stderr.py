"""Capture file descriptor 2, where C++ libraries (TensorFlow, onnxruntime) log past Python's sys.stderr.

Their native loggers write to the descriptor directly, so neither `warnings` nor `logging` can hold them
back; the block runs with descriptor 2 pointed at a temporary file whose text the caller can read, or have
an error carry as a note.
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
def captured_stderr(*, note_on_error: bool = False) -> Iterator[CapturedStderr]:
    """Send file descriptor 2 to a temporary file for the block; its text is in the yielded object afterwards.

    With `note_on_error`, an error raised by the block carries the captured text as a note (it may explain
    the failure; a traceback shows it, and the CLI prints it above its one line unless the command was being
    stopped); an interruption (Ctrl-C, a stop signal) carries nothing.
    """
    captured, error = CapturedStderr(), None
    with tempfile.TemporaryFile() as handle:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(handle.fileno(), 2)
        try:
            yield captured
        except BaseException as exc:
            error = exc
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            handle.seek(0)
            captured.text = handle.read().decode(errors="replace")
            if note_on_error and error is not None and captured.text and not caused_by_interrupt(error):
                # add_note(), also before Python 3.11
                error.__notes__ = [*getattr(error, "__notes__", ()), captured.text.rstrip("\n")]

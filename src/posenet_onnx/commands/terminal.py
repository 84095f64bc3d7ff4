"""What the command line does for the person at the terminal: OS errors as one line, Ctrl-C as a request.

The library never touches signals beyond holding one back over a rename (`outputs.interrupts_deferred`);
the commands decide how Ctrl-C stops a long job, here.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

from posenet_onnx.outputs import os_error_reason


def describe_os_error(exc: OSError) -> str:
    """One line for a failed write or read: what failed and why (no traceback)."""
    reason = os_error_reason(exc)
    return f"{reason}: {exc.filename}" if exc.filename else reason


@contextlib.contextmanager
def interrupts_as_requests() -> Iterator[threading.Event]:
    """For the block (main thread only), SIGINT sets the yielded event instead of raising KeyboardInterrupt.

    A long job checks the event between its steps and stops there: a Ctrl-C then never lands inside
    native code (where Numba turns it into a SystemError), and a second one cannot cut the stop short.
    """
    requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield requested
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: requested.set())
    try:
        yield requested
    finally:
        signal.signal(signal.SIGINT, previous)

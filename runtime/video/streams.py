"""One stateful video object (a tracker, a smoother) follows one stream of frames, in order, in one thread
at a time: `OneStream` turns a second thread's call during the first's into a clear error instead of
silently mixed state."""

from __future__ import annotations

import threading
from types import TracebackType


class OneStream:
    """A context manager around each frame's call: entered while another thread is inside, it raises
    RuntimeError naming the object (`what`) instead of waiting, because two threads feeding one object are
    two streams mixed into one, which no lock can make right."""

    def __init__(self, what: str):
        self._what = what
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        if not self._lock.acquire(blocking=False):
            raise RuntimeError(
                f"A {self._what} was called from a second thread while busy with a frame; one {self._what} "
                "follows one stream of frames, in order: give each stream its own."
            )

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self._lock.release()

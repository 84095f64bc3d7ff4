"""What the command line does for the person at the terminal: OS errors as one line, Ctrl-C as a request.

The library never touches signals beyond holding one back over a rename (`outputs.interrupts_deferred`);
the commands decide how Ctrl-C stops a long job, here. SIGTERM (a service manager, `kill`) and SIGHUP (a
closed terminal) stop a command the same way as Ctrl-C: its outputs are finished or removed, never left
half-written under a hidden name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator

from posenet_onnx.outputs import STOP_SIGNALS, os_error_reason

_received: list[int] = []  # the stop signals received by this command, in order


class Interrupted(KeyboardInterrupt):
    """A command stopped by a signal (SIGINT, SIGTERM, SIGHUP): a KeyboardInterrupt, so that every writer
    treats it as Ctrl-C; `signum` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def stop_signal() -> int:
    """The signal that stopped the command: the first one received, else SIGINT (a KeyboardInterrupt)."""
    return _received[0] if _received else signal.SIGINT


def _stop(signum: int, frame: object) -> None:
    _received.append(signum)
    raise Interrupted(signum)


def stop_received() -> bool:
    """True once a stop signal has arrived, even if a finalizer swallowed the `Interrupted` it raised."""
    return bool(_received)


def _resend_swallowed(hook: Callable[[object], None]) -> Callable[[object], None]:
    """An unraisable hook: an `Interrupted` raised inside a finalizer (`__del__`, which Python only reports) is
    sent again from another thread, so it lands in ordinary code. Once the command is stopping, other
    finalizer errors are dropped: they come from objects whose construction the stop cut short (a module
    interrupted while it imports), up to the interpreter's exit, and say nothing to the user. Anything else
    goes to `hook`."""

    def handle(unraisable: object) -> None:
        exc = getattr(unraisable, "exc_value", None)
        if isinstance(exc, Interrupted):
            threading.Thread(target=os.kill, args=(os.getpid(), exc.signum), daemon=True).start()
            return
        if stop_received():
            return
        hook(unraisable)

    return handle


@contextlib.contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """For the block (a whole command; main thread only), SIGINT, SIGTERM and SIGHUP raise `Interrupted`.

    A signal the process was started ignoring (`nohup`'s SIGHUP, a background job's SIGINT) stays ignored.
    """
    _received.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    hook = sys.unraisablehook
    sys.unraisablehook = _resend_swallowed(hook)
    try:
        with _stop_signals_handled(_stop):
            yield
    finally:
        if not stop_received():  # a stopped command keeps it to the exit (see `_resend_swallowed`)
            sys.unraisablehook = hook


@contextlib.contextmanager
def _stop_signals_handled(handler: Callable[[int, object], None]) -> Iterator[None]:
    """`handler` for each stop signal the process does not ignore, for the block; the previous handlers back
    afterwards, unless the command has set its own since (a stopped command ignores them to the end)."""
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    for signum, old in previous.items():
        if old != signal.SIG_IGN:
            signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            if old is not None and signal.getsignal(signum) is handler:
                signal.signal(signum, old)


def describe_os_error(exc: OSError) -> str:
    """One line for a failed write or read: what failed and why (no traceback)."""
    reason = os_error_reason(exc)
    return f"{reason}: {exc.filename}" if exc.filename else reason


@contextlib.contextmanager
def interrupts_as_requests() -> Iterator[threading.Event]:
    """For the block (main thread only), SIGINT, SIGTERM and SIGHUP set the yielded event instead of raising
    KeyboardInterrupt (those the process ignores stay ignored).

    A long job checks the event between its steps and stops there: a Ctrl-C then never lands inside
    native code (where Numba turns it into a SystemError), and a second one cannot cut the stop short.
    """
    requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield requested
        return

    calls: list[int] = []

    def request(signum: int, frame: object) -> None:
        _received.append(signum)
        calls.append(signum)
        # Only the first call sets the event: a second signal can land while the first handler is inside
        # Event.set, holding its lock, and setting it again there would wait on that lock forever.
        if len(calls) == 1:
            requested.set()

    with _stop_signals_handled(request):
        yield requested

"""SIGTERM and SIGHUP stop a run the way Ctrl-C does.

systemd, Kubernetes, ``timeout`` and a closed terminal stop a process with SIGTERM or
SIGHUP, whose default action ends it on the spot: the history would say ``running``
until the next run calls it lost. Here they raise ``Interrupted`` in the main thread
instead, so the engine closes the run as ``interrupted`` and the CLI exits with
128 + the signal's number (143 for SIGTERM, 129 for SIGHUP), the shell's convention.
SIGINT keeps Python's KeyboardInterrupt (exit 130).
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from .._runtime import Interrupted

STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def exit_code(signal_name: str) -> int:
    """128 + the signal's number: what a shell reports for a process the signal ended."""
    number = getattr(signal, signal_name, None)
    return 128 + int(number) if number is not None else 130


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """While the block runs, SIGTERM/SIGHUP raise Interrupted in the main thread.

    Only the first signal raises: later ones are ignored so that closing the run in the
    history is not itself interrupted (a supervisor that wants the process gone now
    sends SIGKILL, and the run is then shown as lost).
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    fired = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal fired
        if fired:
            return
        fired = True
        _quiet_unraisable()
        raise Interrupted(signal.Signals(signum).name)

    def interrupt(signum: int, frame: FrameType | None) -> None:
        _quiet_unraisable()
        raise KeyboardInterrupt

    previous: dict[int, Any] = {}
    for sig in STOP_SIGNALS:
        previous[sig] = signal.signal(sig, handler)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _quiet_unraisable() -> None:
    """After an interruption, say nothing of errors in finalizers. The exception can land
    inside a constructor (an ``http.client.HTTPResponse`` half built, with no ``fp`` yet);
    when such an object is collected, its finalizer fails and Python prints "Exception
    ignored in ..." under the run's last line, a traceback the user can do nothing with."""
    sys.unraisablehook = lambda unraisable: None

"""Ctrl-C (and SIGTERM) as a flag, for loops whose every step must be counted whole.

A ``KeyboardInterrupt`` lands between any two bytecodes: between a push and its count, or
between a stimulation sent and its line in the session log. A loop that counts what it does
reads the flag :func:`interrupt_as_flag` yields once per step instead, and ends after the
step it is in.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def interrupt_as_flag(*signums: int) -> Iterator[threading.Event]:
    """While inside, the signals ``signums`` (default SIGINT) set the event it yields instead of
    running their handlers (Ctrl-C's raises ``KeyboardInterrupt``); the handlers are restored
    on exit. Off the main thread, where Python runs no signal handler, nothing is changed and
    the event stays clear.

    Examples
    --------
    >>> import os, signal
    >>> with interrupt_as_flag() as stop:
    ...     os.kill(os.getpid(), signal.SIGINT)  # no KeyboardInterrupt
    ...     while not stop.is_set():
    ...         pass
    >>> stop.is_set()
    True
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {s: signal.signal(s, lambda signum, frame: stop.set()) for s in (signums or (signal.SIGINT,))}
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)

"""SIGTERM and SIGINT as a request to stop, not a kill: they set a threading.Event
that senders and jobs check between messages."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def stop_on_signals(stop: threading.Event,
                    on_signal: Callable[[str, bool], None]) -> Iterator[None]:
    """For the block, SIGTERM/SIGINT call `on_signal(name, again)` then set `stop`.
    `on_signal` may raise (e.g. KeyboardInterrupt on a second Ctrl-C) to abort."""

    def handler(signum: int, frame: Any) -> None:
        on_signal(signal.Signals(signum).name, stop.is_set())
        stop.set()

    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach only the main thread; the caller owns stopping then
        return
    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)

"""Logging for `digest serve`: uvicorn's, asyncio's and digest's lines through one
handler on stderr, each with the time, the level, the logger and the message, as text
or (with `[log] format = "json"`) one JSON object a line. Addresses never appear in
clear (each becomes `<address a1b2c3d4e5>`, a short keyed hash: the same address, the
same tag), and running out of file descriptors logs one line a minute with a count,
not a traceback per accept."""

from __future__ import annotations

import errno
import logging
import re
import time
from collections.abc import Callable
from typing import TextIO

from digest.logs import attach, log_handler
from digest.web.middleware import client_tag

HANDLER_NAME = "digest-serve"
LOGGERS = ("uvicorn", "asyncio", "digest")
RESOURCE_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_ADDRESS = re.compile(r"[\w.+'-]+@(?:[\w-]+\.)+[\w-]+")


class ResourceErrors(logging.Filter):
    """Lets one "out of file descriptors" line through every `every` seconds, saying
    how many it held back, without its traceback; other records pass untouched."""

    def __init__(self, every: float = 60.0, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        super().__init__()
        self.every, self.clock = every, clock
        self.last: float | None = None
        self.held = 0

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not (isinstance(error, OSError) and error.errno in RESOURCE_ERRORS) and \
                "out of system resource" not in str(record.msg) and \
                "Too many open files" not in str(record.msg):
            return True
        now = self.clock()
        if self.last is not None and now - self.last < self.every:
            self.held += 1
            return False
        reason = (error.strerror if isinstance(error, OSError) else None) or "out of resources"
        first = str(record.getMessage()).splitlines()[0]
        record.msg = f"{first}: {reason}; raise the open-file limit (ulimit -n) or lower " \
                     "[web] max_connections"
        if self.held:
            since = now - self.last if self.last is not None else 0.0
            record.msg += f" ({self.held} more like it in the last {since:.0f} s)"
        record.args, record.exc_info, record.exc_text = (), None, None
        record.levelname, record.levelno = "WARNING", logging.WARNING
        self.last, self.held = now, 0
        return True


def configure(fmt: str, secret: bytes, level: str = "INFO", *,
              stream: TextIO | None = None) -> logging.Handler:
    """Route uvicorn's, asyncio's and digest's loggers to digest's one handler (see
    digest.logs) on `stream`, addresses as keyed tags, descriptor floods held back."""
    handler = log_handler(fmt, stream=stream, tag=lambda address: client_tag(secret, address))
    handler.addFilter(ResourceErrors())
    for name in LOGGERS:
        logger = logging.getLogger(name)
        attach(logger, handler, level if name != "asyncio" else "WARNING")
        logger.propagate = False
    for name in ("uvicorn.error", "uvicorn.access"):  # uvicorn's own dictConfig is off
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate, logger.disabled = True, False
        logger.setLevel(logging.NOTSET)
    return handler

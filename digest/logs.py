"""One logging setup for the CLI and the daemon: each line has the time, the level, the
logger and the message, as text (`2026-11-30T08:00:00+00:00 INFO digest.run collect:
...`) or, with `[log] format = "json"`, one JSON object a line for a log collector.

Addresses never reach a log in clear: every record's message passes through `redact`,
which keeps the domain and the first character of the local part
(`r***@example.net`), enough to tell readers apart in a bounce storm and no more.
`digest serve`, which logs strangers' addresses, passes its secret instead: each address
becomes a short keyed hash (`<address a1b2c3d4e5>`, the same address the same tag; see
digest.web.serverlog, which adds uvicorn's loggers to the same handler).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import TextIO, get_args

from digest.config.schema import LogFormat

FORMATS: tuple[str, ...] = get_args(LogFormat)
# An address as it may appear in a message: local@domain, the local part at least one
# character from the dot-atom set, the domain dotted labels.
_ADDRESS = re.compile(r"(?<![\w.+-])([\w.+'-])[\w.+'-]*@((?:[\w-]+\.)+[\w-]+)")
HANDLER_NAME = "digest"


def redact(text: str) -> str:
    """`text` with each email address cut to its first character and its domain."""
    return _ADDRESS.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)


class _Redacting(logging.Formatter):
    def __init__(self, fmt: str, tz: tzinfo | None,
                 tag: Callable[[str], str] | None = None) -> None:
        super().__init__()
        self.fmt, self.tz = fmt, tz
        self.redact = (lambda text: _ADDRESS.sub(lambda m: f"<address {tag(m.group())}>",
                                                 text)) if tag else redact

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        when = datetime.fromtimestamp(record.created, self.tz)
        return (when if self.tz else when.astimezone()).isoformat(timespec="seconds")

    def format(self, record: logging.LogRecord) -> str:
        message = self.redact(record.getMessage())
        if record.exc_info:
            message += "\n" + self.redact(self.formatException(record.exc_info))
        when = self.formatTime(record)
        if self.fmt == "json":
            return json.dumps({"time": when, "level": record.levelname,
                               "logger": record.name, "message": message},
                              ensure_ascii=False)
        return f"{when} {record.levelname} {record.name} {message}"


def configure_logging(fmt: str, level: str = "INFO", *, tz: tzinfo | None = None,
                      stream: TextIO | None = None) -> None:
    """Log `digest.*` (and APScheduler's warnings) to `stream` (stderr) in `fmt`
    ("text" or "json") from `level` up, the times in `tz` (default: the machine's
    zone), always with their UTC offset. Calling it again replaces the handler, so a
    command run twice in one process (the tests) logs each line once."""
    handler = log_handler(fmt, tz=tz, stream=stream)
    for name, at in (("digest", level), ("apscheduler", "WARNING")):
        attach(logging.getLogger(name), handler, at)
        # Propagating stays on: the root logger has no handler unless an embedding
        # program (or pytest's caplog) adds one, and then it sees the records too.


def log_handler(fmt: str, *, tz: tzinfo | None = None, stream: TextIO | None = None,
                tag: Callable[[str], str] | None = None) -> logging.Handler:
    """The one handler: lines in `fmt` on `stream` (stderr); addresses cut to
    `r***@domain`, or replaced by `tag(address)` when given."""
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r}: use 'text' or 'json'")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(_Redacting(fmt, tz, tag))
    return handler


def attach(logger: logging.Logger, handler: logging.Handler, level: str | int) -> None:
    """`handler` on `logger` in place of one attached before (a command run twice in one
    process, or `serve` after the CLI's setup, logs each line once)."""
    for old in [h for h in logger.handlers if h.get_name() == HANDLER_NAME]:
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(level)


__all__ = ["FORMATS", "HANDLER_NAME", "attach", "configure_logging", "log_handler", "redact"]

"""The server's log lines (digest.web.serverlog, digest.web.middleware): tokens and
addresses never in clear, one line a minute for running out of descriptors, JSON for
log collectors."""

from __future__ import annotations

import errno
import io
import json
import logging

from digest.logs import log_handler
from digest.tokens import make_token
from digest.web.middleware import client_tag, redact_target
from digest.web.serverlog import ResourceErrors, configure

SECRET = b"test-secret-0123456789-0123456789-0123456789"


def test_tokens_in_paths_and_queries_are_redacted_and_slugs_are_not() -> None:
    token = make_token(SECRET, "ann@example.com")
    assert redact_target(f"/unsubscribe/{token}", f"token={token}&page=2") == \
        "/unsubscribe/[redacted]?token=[redacted]&page=2"
    assert redact_target("/x", "csrf=1700000000.abc") == "/x?csrf=[redacted]"
    slug = "/issues/2026-12-09-the-china-connection-3/index.html"
    assert redact_target(slug, "") == slug
    assert redact_target("/a\r\nb\x00", "q=\t") == "/a%0D%0Ab%00?q=%09"


def test_json_lines_carry_time_level_logger_and_a_hashed_address() -> None:
    stream = io.StringIO()
    handler = log_handler("json", stream=stream, tag=lambda address: client_tag(SECRET, address))
    logger = logging.getLogger("tests.serverlog.json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.error("confirmation to %s not sent", "Ann.Lee@example.com")
        logger.error("again %s", "Ann.Lee@example.com")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert set(first) == {"time", "level", "logger", "message"}
    assert first["level"] == "ERROR" and first["logger"] == "tests.serverlog.json"
    assert "example.com" not in first["message"]
    assert first["message"].split("<address ")[1][:11] == \
        second["message"].split("<address ")[1][:11]  # the same address, the same tag


def test_descriptor_exhaustion_lets_one_line_through_a_minute_with_a_count() -> None:
    now = [0.0]
    stream = io.StringIO()
    levels = {name: logging.getLogger(name).level for name in ("uvicorn", "asyncio", "digest")}
    handler = configure("text", SECRET, stream=stream)
    handler.filters[:] = [ResourceErrors(60, lambda: now[0])]
    logger = logging.getLogger("asyncio")
    error = OSError(errno.EMFILE, "Too many open files")
    try:
        for second in range(130):
            now[0] = float(second)
            logger.error("socket.accept() out of system resource\nsocket: <s>",
                         exc_info=(OSError, error, None))
        logging.getLogger("uvicorn.error").info("still serving")
    finally:
        for name, level in levels.items():  # as they were, for the other tests
            logging.getLogger(name).removeHandler(handler)
            logging.getLogger(name).propagate = True
            logging.getLogger(name).setLevel(level)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4, lines
    assert all(" WARNING asyncio socket.accept() out of system resource: Too many open "
               "files" in line for line in lines[:3])
    assert "(59 more like it in the last 60 s)" in lines[1]
    assert "Traceback" not in stream.getvalue()
    assert lines[3].endswith(" INFO uvicorn.error still serving")

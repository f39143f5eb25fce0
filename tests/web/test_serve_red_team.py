"""The red team's second pass at `digest serve` (issue 18 readers' side): what still
gave way after the fixes, each against the real server (`python -m digest serve`,
uvicorn on 127.0.0.1) through a raw socket."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from pathlib import Path

import httpx

from tests.helpers import secret, wait_for  # noqa: F401 - secret: DIGEST_SECRET for the server
from tests.web.test_serve_hardening import CSP, form_token, raw, serve  # noqa: F401 - the fixture


def head_of(answer: bytes) -> str:
    return answer.partition(b"\r\n\r\n")[0].decode("latin-1").lower()


def held_open(port: int, held: list[socket.socket], source: str = "") -> None:
    """A kept-alive connection (from `source`, default the loopback address) the server
    has surely counted (one request answered), added to `held`."""
    s = socket.socket()
    held.append(s)
    s.settimeout(10)
    if source:
        s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = b""
    while not answer.endswith(b"ok"):
        chunk = s.recv(65536)
        assert chunk, answer
        answer += chunk


def test_a_connection_past_the_cap_gets_a_503_with_the_headers_and_one_log_line(serve) -> None:  # noqa: F811
    """uvicorn's own cap answered 503 without the security headers and logged a WARNING
    for every refused request (a log flood for whoever holds the connections)."""
    served = serve(web="max_connections = 4\nkeep_alive = 60")
    held: list[socket.socket] = []
    try:
        for _ in range(4):
            held_open(served.port, held)
        answers = [raw(served.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                   for _ in range(30)]
    finally:
        for s in held:
            s.close()
    for answer in answers:
        head = head_of(answer)
        assert head.startswith("http/1.1 503 "), head
        assert f"content-security-policy: {CSP}".lower() in head.replace(" https:", "")
        assert "x-content-type-options: nosniff" in head
    served.stop()
    assert "Exceeded concurrency limit" not in served.log
    assert served.log.count("max_connections cap") == 1, served.log


def test_a_request_uvicorn_cannot_parse_gets_the_security_headers(serve) -> None:  # noqa: F811
    served = serve()
    for request in (b"GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
                    b"POST /subscribe HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"):
        head = head_of(raw(served.port, request))
        assert head.startswith("http/1.1 400 "), head
        assert "content-security-policy: default-src 'none'" in head
        assert "x-frame-options: deny" in head and "referrer-policy: no-referrer" in head


def test_a_writer_holding_the_database_does_not_freeze_the_other_pages(
        serve, tmp_path: Path) -> None:  # noqa: F811
    """The rate limit's row was written on the event loop, waiting up to its 2 s busy
    timeout for a writer (a send, an import): six sign-ups during a long write froze
    every page of the server for about 10 s."""
    served = serve()
    with served.client() as client:
        csrf = form_token(client)
    writer = sqlite3.connect(tmp_path / ".digest" / "state.db",
                             isolation_level=None)
    posts: list[threading.Thread] = []
    try:
        writer.execute("BEGIN IMMEDIATE")
        for i in range(6):
            posts.append(threading.Thread(target=httpx.post, args=(
                f"{served.base}/subscribe",), kwargs={
                    "data": {"csrf": csrf, "email": f"r{i}@example.com"}, "timeout": 60,
                    "headers": {"X-Forwarded-For": f"192.0.2.{i + 1}"}}))
            posts[-1].start()
        # One limit has waited out its busy timeout: the others are waiting too.
        served.digest.wait_for(lambda lines: any("rate limit not counted" in line
                                                 for line in lines))
        start = time.monotonic()
        page = httpx.get(f"{served.base}/subscribe", timeout=60)
        took = time.monotonic() - start
        assert page.status_code == 200
        assert took < 3.0, f"a page took {took:.1f} s while sign-ups waited for the database"
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        for post in posts:
            post.join(60)


def test_a_client_that_hangs_up_mid_body_is_no_500(serve) -> None:  # noqa: F811
    """A request abandoned before its body came was logged and counted as a 500: anyone
    could make /metrics show server errors."""
    served = serve(web="metrics = true")
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as s:
        s.sendall(b"POST /subscribe HTTP/1.1\r\nHost: x\r\nContent-Type: "
                  b"application/x-www-form-urlencoded\r\nContent-Length: 50\r\n\r\ncsrf=")
    served.digest.wait_for(lambda lines: any('"POST /subscribe HTTP/1.1"' in line
                                             for line in lines))
    with served.client() as client:
        assert 'status="500"' not in client.get("/metrics").text
    line = next(x for x in served.digest.lines if '"POST /subscribe HTTP/1.1"' in x)
    assert '" 499 ' in line and '" 500 ' not in line


def test_a_percent_encoded_address_in_a_url_never_reaches_the_log(serve) -> None:  # noqa: F811
    """The log handler tags `bob@example.com`, but `bob%40example.com` (a GET form on
    another site, a link rewriter) was logged in clear."""
    served = serve()
    with served.client() as client:
        client.get("/subscribe?email=bob%40example.com")
        client.get("/carol%40example.net/")
        client.get("/unsubscribe?dave%2540example.org")
    served.stop()
    log = served.log.lower()
    assert log.count('"get /') >= 3, served.log
    for name in ("bob", "carol", "dave"):
        assert name not in log, served.log


def test_upgrade_requests_are_plain_http_and_log_no_warning(serve) -> None:  # noqa: F811
    """uvicorn logged two WARNINGs for each `Upgrade: websocket` request: anyone could
    write the log two lines at a time."""
    served = serve()
    for _ in range(10):
        answer = raw(served.port, b"GET /subscribe HTTP/1.1\r\nHost: x\r\nConnection: "
                     b"Upgrade, close\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 200 ")
    served.stop()
    assert "WARNING" not in served.log, served.log
    assert served.log.count('"GET /subscribe HTTP/1.1" 200') == 10


def from_peer(port: int, source: str, request: bytes = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
              b"Connection: close\r\n\r\n") -> bytes:
    """`raw`, from the loopback address `source` (127.0.0.2 is no trusted proxy)."""
    with socket.socket() as s:
        s.settimeout(10)
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(request)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
        return answer


def test_one_client_cannot_hold_every_connection(serve) -> None:  # noqa: F811
    """200 idle connections from one address (reopened every 9 s) made every other
    reader's request a 503: one client now holds at most an eighth of the cap."""
    served = serve(web="max_connections = 64\nkeep_alive = 60")
    held: list[socket.socket] = []
    try:
        for _ in range(8):  # 64 / 8
            held_open(served.port, held, "127.0.0.2")
        refused = from_peer(served.port, "127.0.0.2")
        assert refused.startswith(b"HTTP/1.1 503 ") and b"nosniff" in refused
        assert from_peer(served.port, "127.0.0.3").startswith(b"HTTP/1.1 200 ")
        # The trusted proxy (127.0.0.1 by default) carries many readers: not capped so.
        assert raw(served.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close"
                   b"\r\n\r\n").startswith(b"HTTP/1.1 200 ")
    finally:
        for s in held:
            s.close()
    assert wait_for(lambda: from_peer(served.port, "127.0.0.2").startswith(b"HTTP/1.1 200 "))
    served.stop()
    assert served.log.count("one client holds 8 connections") == 1, served.log

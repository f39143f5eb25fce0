"""Shared fixtures: a real HTTP server for feeds, configs written to tmp folders."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "digest" / "samples"


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml"
    etag: str | None = None
    last_modified: str | None = None
    delay: float = 0.0  # seconds before answering (timeouts)
    headers: dict[str, str] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    # The backlog is fixed when the socket binds: socketserver's 5 drops the SYNs of a
    # client opening many connections at once, and each retry waits a second.
    daemon_threads = True
    request_queue_size = 128


class FeedServer:
    """A real HTTP server on 127.0.0.1 serving programmable routes; logs requests."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.static: Path | None = None  # serve files below this folder too
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK wait per response

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                server.requests.append((self.path, dict(self.headers)))
                route = server.routes.get(self.path) or server.static_route(self.path)
                if route is None:
                    self._send(404, b"not found", {"Content-Type": "text/plain"})
                    return
                if route.delay:
                    time.sleep(route.delay)
                validators: dict[str, str] = {}
                if route.etag:
                    validators["ETag"] = route.etag
                if route.last_modified:
                    validators["Last-Modified"] = route.last_modified
                fresh = (route.etag and self.headers.get("If-None-Match") == route.etag) or (
                    route.last_modified
                    and self.headers.get("If-Modified-Since") == route.last_modified
                )
                if fresh and route.status == 200:
                    self._send(304, b"", validators)
                    return
                headers = {"Content-Type": route.content_type, **validators, **route.headers}
                self._send(route.status, route.body, headers)

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if body:
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def static_route(self, path: str) -> Route | None:
        if self.static is None:
            return None
        file = (self.static / path.split("?")[0].lstrip("/")).resolve()
        if not file.is_file() or self.static.resolve() not in file.parents:
            return None
        types = {".xml": "application/rss+xml", ".atom": "application/atom+xml",
                 ".jpg": "image/jpeg", ".png": "image/png", ".html": "text/html; charset=utf-8"}
        return Route(file.read_bytes(), content_type=types.get(file.suffix, "text/plain"))

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def hits(self, path: str) -> list[dict[str, str]]:
        return [h for p, h in self.requests if p == path]


TEST_SECRET = "tests-only-secret-0123456789abcdef0123456789"


@pytest.fixture(autouse=True)
def token_secret(monkeypatch: pytest.MonkeyPatch) -> str:
    """BASE_CONFIG's unsubscribe_url has {token}, which needs a secret of 32+ bytes."""
    monkeypatch.setenv("DIGEST_SECRET", TEST_SECRET)
    return TEST_SECRET


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Issue #1 built once per test module from the bundled samples; send tests copy
    it (tests/send_project.py). The secret at send time is the test's own."""
    from .send_project import build_issue

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DIGEST_SECRET", TEST_SECRET)
        yield build_issue(tmp_path_factory.mktemp("built"))


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def http_date(ts: float) -> str:
    return formatdate(ts, usegmt=True)


BASE_CONFIG = """
[newsletter]
name = "The China Connection"
dek = "Insights and analysis on what's driving the world's second-largest economy"
intro = "This report is from this week's {name} newsletter. You can [subscribe here](https://example.com/subscribe)."
language = "en"
timezone = "Asia/Shanghai"
web_url = "https://example.com/newsletter"
subscribe_url = "https://example.com/subscribe"
postal_address = "Digest Sample Media, 1 Example Road, Singapore 000000"

[editor]
max_age_days = 0
boost = ["tariff", "yuan"]

[[coming_up]]
date = 2026-12-07
event = "China November trade data"

[[coming_up]]
date = 2026-11-01
event = "Already past: never shown"

[schedule]
min_new_items = 3

[enrich]
pages = "never"  # tests of enrichment turn it on; no test reads pages from the internet

[delivery]
from = "The China Connection <digest@example.com>"
recipients = ["editor@example.com"]
unsubscribe_url = "https://example.com/unsubscribe?token={token}"
"""


def feeds_toml(feeds: list[dict[str, Any]]) -> str:
    out = []
    for feed in feeds:
        out.append("[[feeds]]")
        for key, value in feed.items():
            out.append(f"{key} = {value!r}".replace("'", '"'))
        out.append("")
    return "\n".join(out)


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """write_config(feeds=[{"url": ..., "name": ...}], extra="...") -> config path."""

    def write(feeds: list[dict[str, Any]] | None = None, extra: str = "",
              base: str = BASE_CONFIG) -> Path:
        path = tmp_path / "config.toml"
        path.write_text(base + "\n" + extra + "\n" + feeds_toml(feeds or []), "utf-8")
        return path

    return write


@pytest.fixture
def sample_project(tmp_path: Path, write_config: Callable[..., Path]) -> Path:
    """A copy of the bundled samples in tmp_path with a config that reads them."""
    shutil.copytree(SAMPLES, tmp_path / "samples")
    feeds = [
        {"url": f"samples/feeds/{p.name}", "name": p.stem.title()}
        for p in sorted((tmp_path / "samples" / "feeds").iterdir())
    ]
    return write_config(feeds)

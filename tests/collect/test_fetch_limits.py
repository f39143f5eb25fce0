"""Fetch limits against real servers on 127.0.0.1: one deadline per feed, however slowly
a server drips; gzip and redirect caps; no redirect from a public feed to an internal
address (SSRF)."""

from __future__ import annotations

import gzip
import ipaddress
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from digest import pipeline
from digest.collect.feeds import FeedResult, collect_feeds
from digest.collect.hosts import Address, address_kind, system_resolve
from digest.config.load import load_config
from digest.state.store import open_store
from tests.helpers import FeedServer, Route, rss

MARGIN = 5.0  # seconds: generous on a loaded 2-core machine


class DripServer:
    """A raw TCP server on 127.0.0.1: reads what the client sends first, answers with
    `opening`, then sends `drip` every `interval` seconds until the client hangs up."""

    def __init__(self, opening: bytes, drip: bytes = b"a", interval: float = 0.2) -> None:
        self.opening, self.drip, self.interval = opening, drip, interval
        self.stop = threading.Event()
        self.hung_up = threading.Event()  # the client closed a connection
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(2)
                conn.recv(65536)  # the request, or a TLS ClientHello
                conn.sendall(self.opening)
                give_up = time.monotonic() + 60
                while not self.stop.is_set() and time.monotonic() < give_up:
                    readable, _, _ = select.select([conn], [], [], self.interval)
                    if readable and not conn.recv(65536):
                        self.hung_up.set()
                        return
                    conn.sendall(self.drip)
            except OSError:
                self.hung_up.set()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture
def drip_server() -> Iterator[Callable[..., DripServer]]:
    servers: list[DripServer] = []

    def start(opening: bytes, drip: bytes = b"a") -> DripServer:
        servers.append(DripServer(opening, drip))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


DRIPS = {
    # Headers one byte at a time: every read returns in time, so httpx's per-read
    # timeout never fires; only an overall deadline stops it.
    "headers": ("http", b"HTTP/1.0 200 OK\r\n", b"X"),
    "body": ("http", b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
                     b"Content-Length: 100000\r\n\r\n<?xml version='1.0'?><rss>", b" "),
    # A TLS record header announcing 16 KB, then the record a byte at a time.
    "tls": ("https", b"\x16\x03\x03\x40\x00", b"\x00"),
}


@pytest.mark.parametrize("stage", sorted(DRIPS))
def test_a_dripping_server_cannot_outlast_the_deadline(
    stage: str, drip_server, feed_server: FeedServer, write_config, tmp_path: Path
):
    scheme, opening, drip = DRIPS[stage]
    slow = drip_server(opening, drip)
    feed_server.routes["/good.xml"] = Route(rss(3, "Good"))
    path = write_config([{"url": f"{scheme}://127.0.0.1:{slow.port}/feed.xml", "name": "Drip"},
                         {"url": feed_server.url("/good.xml"), "name": "Good"}],
                        extra="[collect]\ntimeout = 1\n")

    started = time.monotonic()
    report = pipeline.collect_locked(load_config(path))
    elapsed = time.monotonic() - started

    assert elapsed < 1 + MARGIN, f"collect took {elapsed:.1f}s with timeout = 1"
    drip, good = report.feeds
    assert (good.name, good.status, good.new) == ("Good", "ok", 3)
    assert drip.status == "error"
    assert drip.error.startswith(f"feed 'Drip' ({scheme}://127.0.0.1:{slow.port}/feed.xml): "
                                 "no complete response within 1 s")
    assert "[collect] timeout" in drip.error
    # The failure is stored, and the connection was closed, not left to the server.
    store = open_store(tmp_path / ".digest" / "state.db")
    try:
        state = store.feed_states()[f"{scheme}://127.0.0.1:{slow.port}/feed.xml"]
        assert (state.failures, state.last_error) == (1, drip.error)
    finally:
        store.close()
    assert slow.hung_up.wait(MARGIN)


def test_a_hanging_name_lookup_is_cut_off_by_the_deadline(write_config):
    released = threading.Event()

    def resolve(host: str, port: int) -> list[Address]:
        released.wait(60)  # a DNS server that never answers
        return [Address("127.0.0.1", "public")]

    config = load_config(write_config([{"url": "http://stuck.test/feed.xml", "name": "Stuck"}],
                                      extra="[collect]\ntimeout = 1\n"))
    started = time.monotonic()
    try:
        [result] = collect_feeds(config.feeds, {}, None, config.collect, config.base_dir,
                                 resolve=resolve)
    finally:
        released.set()
    assert time.monotonic() - started < 1 + MARGIN
    assert result.status == "error"
    assert "feed 'Stuck'" in result.error and "no complete response within 1 s" in result.error


def test_gzip_is_unzipped_and_the_size_cap_counts_unzipped_bytes(feed_server: FeedServer,
                                                                  write_config):
    zipped = {"Content-Encoding": "gzip"}
    feed_server.routes["/small.xml"] = Route(gzip.compress(rss(3, "Zip")), headers=zipped)
    bomb = gzip.compress(rss(400, "Bomb"))
    assert len(bomb) < 50_000 < len(rss(400, "Bomb"))
    feed_server.routes["/bomb.xml"] = Route(bomb, headers=zipped)
    path = write_config([{"url": feed_server.url("/small.xml"), "name": "Small"},
                         {"url": feed_server.url("/bomb.xml"), "name": "Bomb"}],
                        extra="[collect]\nmax_bytes = 50000\n")
    small, big = pipeline.collect_locked(load_config(path)).feeds
    assert (small.status, small.new) == ("ok", 3)
    assert feed_server.hits("/small.xml")[0]["Accept-Encoding"].startswith("gzip")
    assert big.status == "error" and "larger than 50000 bytes" in big.error


def test_a_response_compressed_twice_is_refused_before_it_is_unpacked(
        feed_server: FeedServer, write_config):
    """Two layers of gzip multiply: 5 KB became 3 GB in memory before the cap counted it."""
    import resource

    layered = gzip.compress(gzip.compress(b"\0" * 50_000_000))  # 50 MB in ~100 bytes
    feed_server.routes["/layers.xml"] = Route(layered,
                                              headers={"Content-Encoding": "gzip, gzip"})
    feed_server.routes["/ok.xml"] = Route(rss(2, "Fine"))
    path = write_config([{"url": feed_server.url("/layers.xml"), "name": "Layers"},
                         {"url": feed_server.url("/ok.xml"), "name": "Fine"}])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    layers, fine = pipeline.collect_locked(load_config(path)).feeds
    assert layers.status == "error" and "compressed the response 2 times" in layers.error
    assert (fine.status, fine.new) == ("ok", 2)
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 40_000  # nothing near the 50 MB inside was ever unpacked


def test_redirects_are_followed_up_to_the_cap(feed_server: FeedServer, write_config):
    feed_server.routes["/feed.xml"] = Route(rss(2, "Moved"))
    for i in range(3):
        target = "/feed.xml" if i == 0 else f"/r{i - 1}"
        feed_server.routes[f"/r{i}"] = Route(status=302, headers={"Location": target})
    path = write_config([{"url": feed_server.url("/r1"), "name": "Two hops"},
                         {"url": feed_server.url("/r2"), "name": "Three hops"}],
                        extra="[collect]\nmax_redirects = 2\n")
    two, three = pipeline.collect_locked(load_config(path)).feeds
    assert (two.status, two.new) == ("ok", 2)
    assert three.status == "error"
    assert "'Three hops'" in three.error and "more than 2 redirects" in three.error
    assert len(feed_server.hits("/feed.xml")) == 1  # only the two-hop feed got there


# --- SSRF: a public feed may not lead collect to internal addresses ----------------------

def public_test(calls: list[str] | None = None):
    """A resolver that makes `public.test` a public host living on 127.0.0.1."""

    def resolve(host: str, port: int) -> list[Address]:
        if calls is not None:
            calls.append(host)
        if host == "public.test":
            return [Address("127.0.0.1", "public")]
        return system_resolve(host, port)

    return resolve


def collect_with(resolve, path: Path, client: httpx.AsyncClient | None = None
                 ) -> list[FeedResult]:
    config = load_config(path)
    return collect_feeds(config.feeds, {}, client, config.collect, config.base_dir,
                         resolve=resolve)


@pytest.mark.parametrize(("location", "refused"), [
    ("http://127.0.0.1:{port}/secret", "127.0.0.1 (loopback)"),
    ("http://localhost:{port}/secret", "(loopback)"),
    ("http://[::1]:{port}/secret", "::1 (loopback)"),
    ("http://[::ffff:127.0.0.1]:{port}/secret", "::ffff:7f00:1 (loopback)"),
    ("http://0.0.0.0:{port}/secret", "0.0.0.0 (unspecified)"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 (link-local)"),
    ("http://10.1.2.3/admin", "10.1.2.3 (private)"),
    ("http://[fd00::1]/admin", "fd00::1 (private)"),
    ("http://224.0.0.1/", "224.0.0.1 (multicast)"),
])
def test_a_public_feed_may_not_redirect_to_an_internal_address(
    location: str, refused: str, feed_server: FeedServer, write_config
):
    port = feed_server.httpd.server_address[1]
    target = location.format(port=port)
    feed_server.routes["/feed.xml"] = Route(status=302, headers={"Location": target})
    feed_server.routes["/secret"] = Route(rss(1, "Secret"))
    path = write_config([{"url": f"http://public.test:{port}/feed.xml", "name": "Public"}])

    [result] = collect_with(public_test(), path)

    assert result.status == "error" and result.articles == ()
    assert result.error.startswith(
        f"feed 'Public' (http://public.test:{port}/feed.xml): redirected to {target}")
    assert refused in result.error and "refused" in result.error
    assert feed_server.hits("/secret") == []
    # The first hop did reach the server, by the checked address, under its own name.
    assert feed_server.hits("/feed.xml")[0]["Host"] == f"public.test:{port}"


def test_a_public_feed_may_redirect_to_its_own_public_host(feed_server: FeedServer,
                                                           write_config):
    port = feed_server.httpd.server_address[1]
    feed_server.routes["/feed.xml"] = Route(status=301, headers={"Location": "/moved.xml"})
    feed_server.routes["/moved.xml"] = Route(rss(2, "Moved"))
    calls: list[str] = []
    path = write_config([{"url": f"http://public.test:{port}/feed.xml", "name": "Public"}])

    [result] = collect_with(public_test(calls), path)

    assert (result.status, len(result.articles)) == ("ok", 2)
    # public.test has no real DNS: the fetch worked because it went to the address the
    # resolver gave, once per hop, never resolved again behind the check's back.
    assert calls == ["public.test", "public.test"]
    assert feed_server.hits("/moved.xml")[0]["Host"] == f"public.test:{port}"


def test_a_host_with_any_internal_address_is_refused_for_a_public_feed(
    feed_server: FeedServer, write_config
):
    port = feed_server.httpd.server_address[1]
    feed_server.routes["/feed.xml"] = Route(rss(1, "Mixed"))

    def resolve(host: str, port: int) -> list[Address]:
        return [Address("127.0.0.1", "public"), Address("10.0.0.7", "private")]

    path = write_config([{"url": f"http://mixed.test:{port}/feed.xml", "name": "Mixed"}])
    [result] = collect_with(resolve, path)
    assert result.status == "error"
    assert "'mixed.test' resolves to 10.0.0.7 (private); refused" in result.error
    assert feed_server.hits("/feed.xml") == []


def test_a_feed_on_an_internal_address_may_redirect_internally(feed_server: FeedServer,
                                                               write_config):
    feed_server.routes["/feed.xml"] = Route(
        status=302, headers={"Location": feed_server.url("/moved.xml")})
    feed_server.routes["/moved.xml"] = Route(rss(3, "Internal"))
    path = write_config([{"url": feed_server.url("/feed.xml"), "name": "Intranet"}])
    [feed] = pipeline.collect_locked(load_config(path)).feeds
    assert (feed.status, feed.new) == ("ok", 3)
    assert len(feed_server.hits("/moved.xml")) == 1


def test_the_client_seam_takes_a_mock_transport(write_config):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=rss(2, "Mock"),
                              headers={"Content-Type": "application/rss+xml"})

    def resolve(host: str, port: int) -> list[Address]:
        return [Address("203.0.113.9", "public")]

    path = write_config([{"url": "https://news.test/feed.xml", "name": "Mock"}])
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    [result] = collect_with(resolve, path, client)
    assert (result.status, len(result.articles)) == ("ok", 2)
    [request] = seen
    assert (str(request.url), request.headers["Host"]) == ("https://203.0.113.9/feed.xml",
                                                          "news.test")
    assert request.extensions["sni_hostname"] == "news.test"


@pytest.mark.parametrize(("ip", "kind"), [
    ("93.184.216.34", "public"),
    ("2606:4700::1111", "public"),
    ("::ffff:93.184.216.34", "public"),
    ("127.0.0.1", "loopback"),
    ("127.1.2.3", "loopback"),
    ("::1", "loopback"),
    ("::ffff:127.0.0.1", "loopback"),
    ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
    ("64:ff9b::7f00:1", "loopback"),  # NAT64 around 127.0.0.1
    ("64:ff9b::5db8:d822", "public"),  # NAT64 around 93.184.216.34
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("::ffff:192.168.1.1", "private"),
    ("fc00::1", "private"),
    ("169.254.169.254", "link-local"),
    ("fe80::1", "link-local"),
    ("224.0.0.251", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("100.64.0.1", "reserved"),
])
def test_address_kinds(ip: str, kind: str):
    assert address_kind(ipaddress.ip_address(ip)) == kind
    assert [a.kind for a in system_resolve(ip, 80)] == [kind]  # a literal needs no DNS

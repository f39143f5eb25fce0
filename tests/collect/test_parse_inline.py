"""Small feeds the fast parser takes are read in the collecting process (no worker
round trip); everything else still goes to the worker pool, where the per-feed deadline
([collect] timeout) stops a reading that runs too long. Feeds come from a real HTTP
server on 127.0.0.1; the pool is the real one, with one worker."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx
import pytest

from digest.collect.feeds import INLINE_MAX_BYTES, FeedResult, collect_feed, parse_pool
from digest.collect.hosts import system_resolve
from digest.collect.parse import ParsedFeed, read_feed, read_feed_fast
from digest.config.schema import CollectConfig, FeedConfig
from tests.helpers import FeedServer, Route

GATE_LIMIT = 120.0  # seconds a blocked reader waits at most (a test that died)


def _outlet(items: int, words: int = 120) -> bytes:
    """RSS the fast parser takes: permalink guids, a body, a picture."""
    body = "<p>" + " ".join(["grid"] * words) + ".</p>"
    entries = "".join(
        f"<item><title>Regulators weigh grid reform {i}</title>"
        f"<link>https://outlet.example/news/{i}.html</link>"
        f'<guid isPermaLink="true">https://outlet.example/news/{i}.html</guid>'
        f"<pubDate>Sun, 29 Nov 2026 {i % 24:02d}:31:42 GMT</pubDate>"
        f"<description>Summary {i}.</description>"
        f"<content:encoded><![CDATA[{body}]]></content:encoded>"
        f'<media:content url="https://pictures.example/{i}.jpg" medium="image" '
        f'width="1200" height="675"/></item>' for i in range(items))
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
            'xmlns:media="http://search.yahoo.com/mrss/" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
            f"<title>Outlet</title><link>https://outlet.example/</link>{entries}"
            "</channel></rss>").encode()


def _blocked_until(gate: Path, started: Path, data: bytes, feed: FeedConfig, base_url: str,
                   headers: Mapping[str, str] | None = None) -> ParsedFeed:
    """read_feed in the worker, once the test has created `gate` (after saying, by
    creating `started`, that the worker is busy with it)."""
    started.touch()
    until = time.monotonic() + GATE_LIMIT
    while not gate.exists() and time.monotonic() < until:
        time.sleep(0.01)
    return read_feed(data, feed, base_url, headers)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    served = FeedServer()
    served.thread.start()
    yield served
    served.httpd.shutdown()
    served.httpd.server_close()


def _collect(feed: FeedConfig, client: httpx.AsyncClient, pool: ProcessPoolExecutor,
             timeout: float, **kwargs: object):  # noqa: ANN202 - a coroutine
    return collect_feed(feed, None, client, CollectConfig(timeout=timeout), Path("."),
                        system_resolve, pool, **kwargs)  # type: ignore[arg-type]


def test_a_small_feed_the_fast_parser_takes_is_read_while_the_worker_is_busy(
        server: FeedServer, tmp_path: Path) -> None:
    """The pool's only worker is held by another feed until the test lets it go; the
    small feed is read all the same (with the pool alone it waited behind the other
    one until its own deadline passed)."""
    server.routes["/busy.xml"] = Route(_outlet(2))
    server.routes["/small.xml"] = Route(_outlet(20))
    busy = FeedConfig(url=server.url("/busy.xml"), name="busy")
    small = FeedConfig(url=server.url("/small.xml"), name="small")
    gate, started = tmp_path / "gate", tmp_path / "started"

    async def both(pool: ProcessPoolExecutor) -> tuple[FeedResult, FeedResult, bool]:
        async with httpx.AsyncClient() as client:
            held = asyncio.create_task(_collect(
                busy, client, pool, 600, inline=None,
                read=functools.partial(_blocked_until, gate, started)))
            try:
                until = time.monotonic() + GATE_LIMIT
                while not started.exists() and time.monotonic() < until:
                    await asyncio.sleep(0.01)
                read = await _collect(small, client, pool, 20)
                still_held = not held.done()
            finally:
                gate.touch()
            return read, await held, still_held

    with parse_pool(1) as pool:  # one worker, held by the busy feed
        assert pool is not None
        small_result, busy_result, still_held = asyncio.run(both(pool))
    assert small_result.status == "ok", small_result.error
    assert still_held  # read while the other feed still held the worker
    expected = read_feed(_outlet(20), small, small.url, {"content-type": "application/rss+xml"})
    assert list(small_result.articles) == expected.articles
    assert busy_result.status == "ok"


def test_a_feed_over_the_inline_size_is_read_in_a_worker_under_its_deadline(
        server: FeedServer, tmp_path: Path) -> None:
    """A big feed (over INLINE_MAX_BYTES) is never read in this process, even one the
    fast parser would take: in the worker, its reading (held here until the test lets
    it go, so there is no race with the machine's load) is stopped at its deadline."""
    big = _outlet(400, words=150)
    assert len(big) > INLINE_MAX_BYTES and read_feed_fast(big, FeedConfig(url="u", name="n"),
                                                          "https://outlet.example/") is not None
    server.routes["/big.xml"] = Route(big)
    feed = FeedConfig(url=server.url("/big.xml"), name="big")
    gate, started = tmp_path / "gate", tmp_path / "started"
    offered: list[int] = []

    def spy(data: bytes, *args: object) -> ParsedFeed | None:
        offered.append(len(data))
        return read_feed_fast(data, *args)  # type: ignore[arg-type]

    async def read(pool: ProcessPoolExecutor) -> FeedResult:
        async with httpx.AsyncClient() as client:
            try:
                return await _collect(feed, client, pool, 3, inline=spy,
                                      read=functools.partial(_blocked_until, gate, started))
            finally:
                gate.touch()

    with parse_pool(1) as pool:
        assert pool is not None
        result = asyncio.run(read(pool))
    assert offered == []
    assert result.status == "error"
    assert "reading it took over 3 s" in (result.error or "")


def test_a_small_feed_feedparser_must_read_goes_to_a_worker_under_its_deadline(
        server: FeedServer, tmp_path: Path) -> None:
    """feedparser's reading is not bounded by a feed's size (hostile markup): a feed
    the fast parser hands over is read in the worker, under the deadline, never here."""
    data = _outlet(5).replace(b'encoding="utf-8"', b'encoding="windows-1252"')
    server.routes["/legacy.xml"] = Route(data)
    feed = FeedConfig(url=server.url("/legacy.xml"), name="legacy")
    assert read_feed_fast(data, feed, feed.url) is None
    gate, started = tmp_path / "gate", tmp_path / "started"

    async def read(pool: ProcessPoolExecutor) -> FeedResult:
        async with httpx.AsyncClient() as client:
            try:
                return await _collect(feed, client, pool, 3,
                                      read=functools.partial(_blocked_until, gate, started))
            finally:
                gate.touch()

    with parse_pool(1) as pool:
        assert pool is not None
        result = asyncio.run(read(pool))
    assert result.status == "error"
    assert "reading it took over 3 s" in (result.error or "")


def _slow_inline(seconds: float, data: bytes, feed: FeedConfig, base_url: str,
                 headers: Mapping[str, str] | None = None) -> ParsedFeed | None:
    time.sleep(seconds)  # at least this long: a reading that outlasts the deadline
    return read_feed_fast(data, feed, base_url, headers)


def test_a_feed_read_here_past_its_deadline_is_left_out_as_in_a_worker(
        server: FeedServer) -> None:
    server.routes["/small.xml"] = Route(_outlet(3))
    feed = FeedConfig(url=server.url("/small.xml"), name="small")

    async def read(pool: ProcessPoolExecutor) -> FeedResult:
        async with httpx.AsyncClient() as client:
            return await _collect(feed, client, pool, 2,
                                  inline=functools.partial(_slow_inline, 2.5))

    with parse_pool(1) as pool:
        assert pool is not None
        result = asyncio.run(read(pool))
    assert result.status == "error"
    assert "reading it took over 2 s" in (result.error or "")

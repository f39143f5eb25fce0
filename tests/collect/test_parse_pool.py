"""Parsing in worker processes gives the same articles, and the same errors, as parsing
one feed at a time in this process (issue 9: the pool is only about speed)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from digest.collect.feeds import (
    POOL_MIN_FEEDS,
    FeedResult,
    _cpus,
    collect_feed,
    collect_feeds,
    parse_pool,
)
from digest.config.schema import CollectConfig, FeedConfig
from tests.helpers import CORPUS

SLOW = {"xml-billion-laughs.xml", "xml-quadratic-blowup.xml"}  # seconds each, serially


def _feeds(limit: int | None = None) -> list[FeedConfig]:
    paths = sorted(p for p in CORPUS.iterdir()
                   if p.suffix != ".md" and p.name != "index.json" and p.name not in SLOW)
    return [FeedConfig(url=p.as_uri(), name=p.name) for p in paths[:limit]]


def _comparable(result: FeedResult) -> FeedResult:
    return replace(result, seconds=0.0)


def _one_by_one(feeds: list[FeedConfig]) -> list[FeedResult]:
    """Each feed read in this process (collect_feed without a pool parses in a thread)."""
    settings = CollectConfig()

    async def all_of_them() -> list[FeedResult]:
        async with httpx.AsyncClient() as client:  # file feeds: never used
            return [await collect_feed(feed, None, client, settings, CORPUS) for feed in feeds]

    return [_comparable(r) for r in asyncio.run(all_of_them())]


@pytest.mark.slow
def test_the_pool_parses_the_corpus_as_one_feed_at_a_time_does() -> None:
    feeds = _feeds()
    assert len(feeds) >= POOL_MIN_FEEDS
    together = [_comparable(r) for r in collect_feeds(feeds, {}, None, CollectConfig(), CORPUS)]
    alone = _one_by_one(feeds)
    assert [r.status for r in together] == [r.status for r in alone]
    assert sum(len(r.articles) for r in together) > 1000
    for a, b in zip(together, alone, strict=True):
        assert a == b, a.feed.name


def test_every_feed_is_parsed_in_a_worker_process() -> None:
    with parse_pool(POOL_MIN_FEEDS) as pool:
        assert pool is not None
        assert pool._max_workers == 1  # noqa: SLF001 - one feed, one worker
    with parse_pool(100) as pool:
        assert pool is not None and pool._max_workers == min(_cpus(), 8)  # noqa: SLF001
    with parse_pool(0) as pool:
        assert pool is None


def test_a_feed_that_takes_too_long_to_read_is_left_out(tmp_path: Path) -> None:
    """Tens of thousands of attributes on one element: feedparser's time grows with the
    square of their number (about 40 s here). The deadline ([collect] timeout) covers
    reading too: 5 s, which the small feeds beside it meet on a loaded machine."""
    attributes = " ".join(f'a{i}="x"' for i in range(60_000))
    hostile = tmp_path / "hostile.xml"
    hostile.write_text(f'<?xml version="1.0"?><rss version="2.0"><channel><title {attributes}>'
                       "T</title><item><title>x</title></item></channel></rss>", "utf-8")
    fine = _feeds(3)
    feeds = [FeedConfig(url=hostile.as_uri(), name="hostile"), *fine]
    results = collect_feeds(feeds, {}, None, CollectConfig(timeout=5.0), CORPUS)
    assert results[0].status == "error"
    assert "reading it took over 5 s" in (results[0].error or "")
    assert [r.status for r in results[1:]] == [r.status for r in _one_by_one(fine)]


@pytest.fixture
def another_thread() -> Iterator[None]:
    """A thread running alongside, as in the daemon: the pool may not fork then."""
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()


def test_with_other_threads_running_workers_are_spawned_and_agree(another_thread: None) -> None:
    feeds = _feeds(POOL_MIN_FEEDS + 4)
    with parse_pool(len(feeds)) as pool:
        if pool is not None:
            assert pool._mp_context.get_start_method() == "spawn"  # noqa: SLF001
    together = [_comparable(r) for r in collect_feeds(feeds, {}, None, CollectConfig(), CORPUS)]
    assert together == _one_by_one(feeds)


def test_a_sink_gets_every_article_and_the_results_keep_none() -> None:
    feeds = _feeds(POOL_MIN_FEEDS + 4)
    got: dict[str, int] = {}
    results = collect_feeds(feeds, {}, None, CollectConfig(), CORPUS,
                            sink=lambda r: got.__setitem__(r.feed.url, len(r.articles)))
    assert all(not r.articles for r in results)
    assert got == {r.feed.url: len(r.articles) for r in _one_by_one(feeds)}
    assert sum(got.values()) > 0

"""Parsing in worker processes gives the same articles, and the same errors, as parsing
one feed at a time in this process (issue 9: the pool is only about speed)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from digest.collect import POOL_MIN_FEEDS, FeedResult, _cpus, collect_feeds, parse_pool
from digest.config import CollectConfig, FeedConfig

CORPUS = Path(__file__).resolve().parent / "corpus"
SLOW = {"xml-billion-laughs.xml", "xml-quadratic-blowup.xml"}  # seconds each, serially


def _feeds(limit: int | None = None) -> list[FeedConfig]:
    paths = sorted(p for p in CORPUS.iterdir()
                   if p.suffix != ".md" and p.name != "index.json" and p.name not in SLOW)
    return [FeedConfig(url=p.as_uri(), name=p.name) for p in paths[:limit]]


def _comparable(result: FeedResult) -> FeedResult:
    return replace(result, seconds=0.0)


def _one_by_one(feeds: list[FeedConfig]) -> list[FeedResult]:
    settings = CollectConfig()
    return [_comparable(collect_feeds([feed], {}, None, settings, CORPUS)[0]) for feed in feeds]


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


def test_a_pool_is_used_for_many_feeds_when_there_are_cpus_for_it() -> None:
    with parse_pool(POOL_MIN_FEEDS) as pool:
        assert (pool is not None) == (_cpus() >= 2)
    with parse_pool(POOL_MIN_FEEDS - 1) as pool:
        assert pool is None


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

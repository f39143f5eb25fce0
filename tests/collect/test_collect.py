"""collect against a real local HTTP server: validators, failures, isolation."""

from __future__ import annotations

import time
from pathlib import Path

from digest import pipeline
from digest.config.load import load_config
from digest.state.store import open_store
from tests.helpers import FeedServer, Route, http_date, rss


def collect(config_path: Path) -> pipeline.CollectReport:
    return pipeline.collect_locked(load_config(config_path))


def test_etag_and_last_modified_answered_with_304(feed_server: FeedServer, write_config):
    feed_server.routes["/etag.xml"] = Route(rss(3, "Etag"), etag='"v1"')
    feed_server.routes["/lm.xml"] = Route(rss(2, "Lm"), last_modified=http_date(1_790_000_000))
    path = write_config([{"url": feed_server.url("/etag.xml"), "name": "Etag feed"},
                         {"url": feed_server.url("/lm.xml"), "name": "LM feed"}])

    first = collect(path)
    assert [(f.name, f.status, f.new, f.seen) for f in first.feeds] == [
        ("Etag feed", "ok", 3, 0), ("LM feed", "ok", 2, 0)]

    second = collect(path)
    assert [(f.status, f.new) for f in second.feeds] == [("not_modified", 0), ("not_modified", 0)]
    assert feed_server.hits("/etag.xml")[-1]["If-None-Match"] == '"v1"'
    assert feed_server.hits("/lm.xml")[-1]["If-Modified-Since"] == http_date(1_790_000_000)

    # A changed feed is fetched and parsed again; only the new item counts as new.
    feed_server.routes["/etag.xml"] = Route(rss(4, "Etag"), etag='"v2"')
    third = collect(path)
    assert (third.feeds[0].status, third.feeds[0].new, third.feeds[0].seen) == ("ok", 1, 3)


def test_failures_are_isolated_and_recorded(feed_server: FeedServer, write_config, tmp_path):
    feed_server.routes["/good.xml"] = Route(rss(3, "Good"))
    feed_server.routes["/500.xml"] = Route(b"oops", status=500, content_type="text/plain")
    feed_server.routes["/slow.xml"] = Route(rss(1, "Slow"), delay=20)
    feed_server.routes["/page.html"] = Route(
        b"<!doctype html><html><head><title>Home</title></head><body><p>Welcome</p></body></html>",
        content_type="text/html; charset=utf-8")
    feed_server.routes["/huge.xml"] = Route(rss(400, "Huge"))
    path = write_config(
        [{"url": feed_server.url("/good.xml"), "name": "Good"},
         {"url": feed_server.url("/500.xml"), "name": "Broken"},
         {"url": feed_server.url("/slow.xml"), "name": "Slow"},
         {"url": feed_server.url("/page.html"), "name": "Homepage"},
         {"url": feed_server.url("/huge.xml"), "name": "Huge"},
         {"url": "missing/feed.xml", "name": "Missing file"}],
        extra="[collect]\ntimeout = 4\nmax_bytes = 50000\n",
    )
    started = time.monotonic()
    report = collect(path)
    assert time.monotonic() - started < 15  # the slow feed (20 s) is cut off by the 4 s timeout

    by_name = {f.name: f for f in report.feeds}
    assert (by_name["Good"].status, by_name["Good"].new) == ("ok", 3)
    assert by_name["Broken"].status == "error"
    assert "HTTP 500" in by_name["Broken"].error and "'Broken'" in by_name["Broken"].error
    assert "timed out" in by_name["Slow"].error
    assert "not an RSS or Atom feed" in by_name["Homepage"].error
    assert "text/html" in by_name["Homepage"].error
    assert "larger than 50000 bytes" in by_name["Huge"].error
    assert "max_bytes" in by_name["Huge"].error
    assert "not found" in by_name["Missing file"].error

    again = collect(path)
    states = _feed_states(tmp_path)
    assert states[feed_server.url("/500.xml")].failures == 2
    assert states[feed_server.url("/500.xml")].last_error.startswith("feed 'Broken'")
    assert states[feed_server.url("/good.xml")].failures == 0
    assert {f.name: f.failures for f in again.feeds}["Broken"] == 2

    # Recovery resets the streak.
    feed_server.routes["/500.xml"] = Route(rss(2, "Fixed"))
    collect(path)
    assert _feed_states(tmp_path)[feed_server.url("/500.xml")].failures == 0


def test_articles_persist_after_leaving_the_feed(feed_server: FeedServer, write_config,
                                                  tmp_path):
    feed_server.routes["/short.xml"] = Route(rss(3, "Monday"))
    path = write_config([{"url": feed_server.url("/short.xml"), "name": "Short"}])
    collect(path)
    feed_server.routes["/short.xml"] = Route(rss(3, "Friday"))  # Monday's items are gone
    collect(path)
    store = open_store(tmp_path / ".digest" / "state.db")
    titles = sorted(a.title for a in store.unused_articles())
    store.close()
    assert len(titles) == 6
    assert titles[0].startswith("Friday 0") and titles[-1].startswith("Monday 2")


def _feed_states(tmp_path: Path):
    store = open_store(tmp_path / ".digest" / "state.db")
    try:
        return store.feed_states()
    finally:
        store.close()

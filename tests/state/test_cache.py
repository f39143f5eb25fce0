"""The fetch cache file (digest.state.cache) on its own, on real SQLite files: what it
keeps it gives back; a write waits for another process's write instead of failing; it
stays within its row caps and ages; a name that failed to resolve is remembered for
DNS_FOR; a file of another layout is made again."""

from __future__ import annotations

import logging
import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from digest.models import CachedImage, CachedPage
from digest.state.cache import DNS_FOR, KEEP_FOR, MAX_ROWS, Cache
from tests.helpers import NOW_UTC, NOW_UTC_ISO


def stamp(**ago: float) -> str:
    return (NOW_UTC - timedelta(**ago)).isoformat(timespec="seconds")


def image(url: str, slot: str = "big_story", fetched_at: str = NOW_UTC_ISO,
          etag: str | None = '"e"') -> CachedImage:
    return CachedImage(url, slot, etag, None, 1200, 675, "x-hero-0.jpg", 1200, 675,
                       b"\xff\xd8 made", fetched_at)


def page(url: str, fetched_at: str = NOW_UTC_ISO) -> CachedPage:
    return CachedPage(url, None, "Fri, 27 Nov 2026 08:00:00 GMT", "{}", fetched_at)


@pytest.fixture(autouse=True)
def pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_NOW", NOW_UTC_ISO)


def test_what_is_kept_comes_back_and_a_later_fetch_replaces_it(tmp_path: Path):
    path = tmp_path / "cache.db"
    with Cache(path) as cache:
        cache.keep([image("https://a.test/1.jpg"), image("https://a.test/1.jpg", "read_more")],
                   [page("https://a.test/story")])
    with Cache(path) as cache:
        assert set(cache.cached_images("https://a.test/1.jpg")) == {"big_story", "read_more"}
        assert cache.cached_images("https://a.test/1.jpg")["big_story"].data == b"\xff\xd8 made"
        assert cache.cached_page("https://a.test/story") == page("https://a.test/story")
        cache.keep([image("https://a.test/1.jpg", etag='"f"')])
        assert cache.cached_images("https://a.test/1.jpg")["big_story"].etag == '"f"'
        assert cache.cached_page("https://b.test/") is None


def test_a_write_waits_for_another_processs_write(tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture):
    path = tmp_path / "cache.db"
    Cache(path).close()
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # a build's write, in progress
    other.execute("INSERT INTO pages (url, facts, fetched_at) VALUES ('https://o.test/', '{}', ?)",
                  (NOW_UTC_ISO,))
    done = threading.Timer(0.5, lambda: other.execute("COMMIT"))  # well within BUSY_MS
    with caplog.at_level(logging.WARNING, "digest.state.cache"), Cache(path) as cache:
        done.start()
        cache.keep(pages=[page("https://p.test/")])
        assert cache.cached_page("https://p.test/") is not None
        assert cache.cached_page("https://o.test/") is not None
    done.join()
    other.close()
    assert caplog.records == []


def test_rows_past_their_age_or_over_the_cap_go_the_least_lately_fetched_first(
        tmp_path: Path):
    path = tmp_path / "cache.db"
    cap = MAX_ROWS["pages"]
    with Cache(path) as cache:
        cache.keep(pages=[page(f"https://a.test/{i}", stamp(minutes=i)) for i in range(cap + 50)])
        cache.keep(images=[image("https://a.test/old.jpg", fetched_at=stamp(
            days=KEEP_FOR.days + 1)), image("https://a.test/new.jpg")])
        cache.lookups.add("gone.test", "Name or service not known")
    conn = sqlite3.connect(path)
    try:
        urls = {r[0] for r in conn.execute("SELECT url FROM pages")}
        assert len(urls) == cap
        assert f"https://a.test/{cap - 1}" in urls and f"https://a.test/{cap}" not in urls
        assert [r[0] for r in conn.execute("SELECT url FROM images")] == [
            "https://a.test/new.jpg"]
        # The age goes by an index, not a pass over every row.
        plan = " ".join(str(r[-1]) for r in conn.execute(
            "EXPLAIN QUERY PLAN DELETE FROM pages WHERE fetched_at < ?", (NOW_UTC_ISO,)))
        assert "pages_fetched" in plan
    finally:
        conn.close()


def test_a_name_that_failed_is_remembered_for_dns_for(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "cache.db"
    with Cache(path) as cache:
        assert cache.lookups.failed("down.test") is None
        cache.lookups.add("Down.Test", "Name or service not known")
        cache.keep()
    with Cache(path) as cache:
        assert cache.lookups.failed("down.test") == ("Name or service not known", NOW_UTC_ISO)
    later = NOW_UTC + DNS_FOR + timedelta(seconds=1)
    monkeypatch.setenv("DIGEST_NOW", later.isoformat())
    with Cache(path) as cache:
        assert cache.lookups.failed("down.test") is None
        cache.lookups.add("other.test", "Temporary failure in name resolution")
        cache.keep()  # and the expired row goes
    conn = sqlite3.connect(path)
    try:
        assert [r[0] for r in conn.execute("SELECT host FROM dns_failures")] == ["other.test"]
    finally:
        conn.close()


def test_a_file_of_another_layout_is_made_again(tmp_path: Path):
    path = tmp_path / "cache.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE pages (url TEXT, something_else TEXT)")
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    with Cache(path) as cache:
        cache.keep(pages=[page("https://a.test/")])
        assert cache.cached_page("https://a.test/") == page("https://a.test/")


def test_no_file_is_a_cache_that_misses(tmp_path: Path):
    cache = Cache(None)
    cache.keep([image("https://a.test/1.jpg")], [page("https://a.test/")])
    assert cache.cached_images("https://a.test/1.jpg") == {}
    assert cache.cached_page("https://a.test/") is None

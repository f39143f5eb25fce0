"""The fetch cache (digest.state.cache): a preview writes what it fetched into cache.db
beside the state database, never the state; a second preview asks no picture or page
host again; a damaged cache is made again with a warning; two previews at once agree."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from tests.enrich.test_images import ASSETS, jpeg
from tests.helpers import NOW_UTC_ENV, FeedServer, Route, run

PAGE = b"""<html><head><title>Story</title>
<meta property="og:image" content="/og.jpg"></head>
<body><article><p>The page says rather more than the feed did, in two sentences.
It is a page.</p></article></body></html>"""


def linked_feed(server: FeedServer, n: int = 4) -> bytes:
    entries = "".join(
        f"""<item><title>Story {i}</title><link>{server.url(f"/page/{i}")}</link>
        <guid>s{i}</guid><pubDate>{28 - i} Nov 2026 08:00:00 +0800</pubDate>
        <description>About story {i}. It has two sentences.</description>
        <media:content url="{server.url(f"/p/{i}.jpg")}" medium="image"/></item>"""
        for i in range(n))
    return ('<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">'
            f"<channel><title>T</title><link>{server.url('/')}</link>{entries}"
            "</channel></rss>").encode()


def project(feed_server: FeedServer, write_config) -> Path:
    feed_server.routes["/f.xml"] = Route(linked_feed(feed_server))
    for i in range(4):
        feed_server.routes[f"/p/{i}.jpg"] = Route(jpeg(1200, 675), content_type="image/jpeg",
                                                  etag=f'"p{i}"')
        feed_server.routes[f"/page/{i}"] = Route(PAGE, content_type="text/html")
    feed_server.routes["/og.jpg"] = Route(jpeg(1200, 675), content_type="image/jpeg")
    return write_config([{"url": feed_server.url("/f.xml"), "name": "Wire"}],
                        extra='[enrich]\npages = "always"\n', base=ASSETS)


def linked_hits(feed_server: FeedServer) -> list[str]:
    return [p for p, _ in feed_server.requests if p.startswith(("/p/", "/page/", "/og"))]


def state_files(tmp_path: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((tmp_path / ".digest").glob("state.db*"))}


def test_a_second_preview_asks_no_picture_or_page_host_and_leaves_the_state(
        feed_server: FeedServer, write_config, tmp_path: Path):
    path = project(feed_server, write_config)
    assert run(path, "collect", env=NOW_UTC_ENV).exit_code == 0
    before = state_files(tmp_path)
    assert before
    first = run(path, "build", "--preview", env=NOW_UTC_ENV)
    assert first.exit_code == 0, first.output
    asked = linked_hits(feed_server)
    assert any(p.startswith("/p/") for p in asked) and any(p.startswith("/page/") for p in asked)
    html = (tmp_path / "outbox" / "preview" / "email.html").read_text("utf-8")
    assert (tmp_path / ".digest" / "cache.db").is_file()

    second = run(path, "build", "--preview", env=NOW_UTC_ENV)
    assert second.exit_code == 0, second.output
    assert linked_hits(feed_server) == asked  # not one request more
    assert (tmp_path / "outbox" / "preview" / "email.html").read_text("utf-8") == html
    assert state_files(tmp_path) == before  # the state's bytes, untouched


def test_a_build_fills_the_cache_and_the_state_stays_free_of_it(
        feed_server: FeedServer, write_config, tmp_path: Path):
    path = project(feed_server, write_config)
    assert run(path, "build", "--preview", env=NOW_UTC_ENV).exit_code == 0
    asked = linked_hits(feed_server)
    # A real build revalidates (conditional GETs), from what the preview cached.
    result = run(path, "build", env=NOW_UTC_ENV)
    assert result.exit_code == 0, result.output
    again = [h for p, h in feed_server.requests[len(feed_server.requests) - 100:]
             if p.startswith("/p/")]
    assert len(linked_hits(feed_server)) > len(asked)
    assert any(h.get("If-None-Match", "").startswith('"p') for h in again)


def test_a_damaged_cache_is_made_again_with_a_one_line_warning(
        feed_server: FeedServer, write_config, tmp_path: Path):
    path = project(feed_server, write_config)
    cache = tmp_path / ".digest" / "cache.db"
    cache.parent.mkdir(exist_ok=True)
    cache.write_bytes(b"this is not a database, not at all" * 200)
    result = run(path, "build", "--preview", env=NOW_UTC_ENV)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if "cache" in line and
                "damaged" in line]
    assert len(warnings) == 1, result.output
    assert "Traceback" not in result.output
    asked = len(linked_hits(feed_server))
    second = run(path, "build", "--preview", env=NOW_UTC_ENV)
    assert second.exit_code == 0, second.output
    assert "damaged" not in second.output
    assert len(linked_hits(feed_server)) == asked  # the remade cache serves


def test_two_previews_at_once_leave_a_sound_cache(
        feed_server: FeedServer, write_config, tmp_path: Path):
    path = project(feed_server, write_config)
    env = {**os.environ, **NOW_UTC_ENV}
    procs = [subprocess.Popen([sys.executable, "-m", "digest", "--config", str(path), "build",
                               "--preview"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT) for _ in range(2)]
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out.decode()
        assert b"cache" not in out, out.decode()
    import sqlite3
    conn = sqlite3.connect(tmp_path / ".digest" / "cache.db")
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
    asked = len(linked_hits(feed_server))
    assert run(path, "build", "--preview", env=NOW_UTC_ENV).exit_code == 0
    assert len(linked_hits(feed_server)) == asked

"""The fetch cache through the front door (issue 19, item 4): `build --preview` keeps
what it fetched for pictures and pages in `.digest/cache.db`, never in the state
database, so a second preview asks no picture or page host again; past FRESH_FOR it
asks conditionally; a build always asks conditionally. Served by a real HTTP server on
127.0.0.1 that logs every request; a real SQLite file; real subprocesses."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from digest.state.cache import FRESH_FOR
from tests.enrich.test_images import ASSETS, jpeg
from tests.helpers import NOW_UTC, NOW_UTC_ENV, FeedServer, Route, run

PAGE = b"""<html><head><title>Story</title>
<meta property="og:image" content="/og.jpg"></head>
<body><article><p>The page says rather more than the feed did, in two sentences.
It is a page.</p></article></body></html>"""
STORIES = 10  # 1 big story and 6 cards with pictures, 3 need-to-know
LATER = {"DIGEST_NOW": (NOW_UTC + FRESH_FOR + timedelta(hours=1)).isoformat()}
LATER_STILL = {"DIGEST_NOW": (NOW_UTC + FRESH_FOR + timedelta(hours=2)).isoformat()}


def linked_feed(server: FeedServer) -> bytes:
    entries = "".join(
        f"""<item><title>Story {i}</title><link>{server.url(f"/page/{i}")}</link>
        <guid>s{i}</guid><pubDate>{28 - i} Nov 2026 08:00:00 +0800</pubDate>
        <description>About story {i}. It has two sentences.</description>
        <media:content url="{server.url(f"/p/{i}.jpg")}" medium="image"/></item>"""
        for i in range(STORIES))
    return ('<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">'
            f"<channel><title>T</title><link>{server.url('/')}</link>{entries}"
            "</channel></rss>").encode()


def project(feed_server: FeedServer, write_config) -> Path:
    """Stories, each with a picture (ETag) and an article page (Last-Modified), and
    collected once (a preview makes no state folder, and so no cache, where none is)."""
    feed_server.routes["/f.xml"] = Route(linked_feed(feed_server))
    for i in range(STORIES):
        feed_server.routes[f"/p/{i}.jpg"] = Route(jpeg(1200, 675), content_type="image/jpeg",
                                                  etag=f'"p{i}"')
        feed_server.routes[f"/page/{i}"] = Route(
            PAGE, content_type="text/html", last_modified="Fri, 27 Nov 2026 08:00:00 GMT")
    base = ASSETS.replace('pages = "never"', 'pages = "always"')
    path = write_config([{"url": feed_server.url("/f.xml"), "name": "Wire"}], base=base)
    assert run(path, "collect", env=NOW_UTC_ENV).exit_code == 0
    return path


def linked(feed_server: FeedServer, start: int = 0) -> list[tuple[str, dict[str, str]]]:
    """The picture and page requests, from the `start`th request on."""
    return [(p, h) for p, h in feed_server.requests[start:] if p.startswith(("/p/", "/page/"))]


def state(tmp_path: Path) -> tuple[tuple[str, int], dict[str, int]]:
    """The state database file's hash and mtime, and every table's row count. (A
    read-only SQLite connection to a WAL database may leave an empty -wal and a -shm
    index beside it: those must hold no write.)"""
    folder = tmp_path / ".digest"
    db = folder / "state.db"
    wal = folder / "state.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    file = (hashlib.sha256(db.read_bytes()).hexdigest(), db.stat().st_mtime_ns)
    # immutable: this look itself takes no lock and makes no -shm file
    conn = sqlite3.connect(f"file:{folder / 'state.db'}?immutable=1", uri=True)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        counts = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        conn.close()
    return file, counts


def preview(path: Path, env: dict[str, str] = NOW_UTC_ENV) -> str:
    result = run(path, "build", "--preview", env=env)
    assert result.exit_code == 0, result.output
    assert "WARNING" not in result.output and "Traceback" not in result.output, result.output
    return (path.parent / "outbox" / "preview" / "email.html").read_text("utf-8")


def test_a_second_preview_asks_no_picture_or_page_host_and_leaves_the_state(
        feed_server: FeedServer, write_config, tmp_path: Path):
    path = project(feed_server, write_config)
    before = state(tmp_path)
    assert before[1]["articles"] == STORIES

    html = preview(path)
    asked = {p for p, _ in linked(feed_server)}
    assert len([p for p in asked if p.startswith("/p/")]) == 7  # the big story, the cards
    assert len([p for p in asked if p.startswith("/page/")]) == STORIES  # every placed one
    assert (tmp_path / ".digest" / "cache.db").is_file()

    mark = len(feed_server.requests)
    assert preview(path) == html  # the same issue, from the cache
    assert linked(feed_server, mark) == []  # not one picture or page request more
    assert state(tmp_path) == before  # the state's bytes, mtimes and rows, untouched


def test_past_fresh_for_a_preview_asks_conditionally_and_a_build_always_does(
        feed_server: FeedServer, write_config, tmp_path: Path):
    path = project(feed_server, write_config)
    html = preview(path)

    first = sorted(p for p, _ in linked(feed_server))
    mark = len(feed_server.requests)
    assert preview(path, LATER) == html  # hours later: asked again, with the validators
    again = linked(feed_server, mark)
    assert sorted(p for p, _ in again) == first
    for p, headers in again:
        if p.startswith("/p/"):  # /p/3.jpg has the ETag "p3"
            assert headers.get("If-None-Match") == f'"p{p[3:-4]}"', (p, headers)
        else:
            assert headers.get("If-Modified-Since") == "Fri, 27 Nov 2026 08:00:00 GMT", p

    # The 304s count as fetched now: the next preview asks nothing.
    mark = len(feed_server.requests)
    assert preview(path, LATER) == html
    assert linked(feed_server, mark) == []

    # A build revalidates all the same, from what the previews cached.
    mark = len(feed_server.requests)
    result = run(path, "build", env=LATER_STILL)
    assert result.exit_code == 0, result.output
    built = linked(feed_server, mark)
    assert built and all(h.get("If-None-Match") or h.get("If-Modified-Since")
                         for _, h in built), built


# A cache that cannot be used never stops a build: one WARNING line, exit status 0 ----


def warnings_in(output: str) -> list[str]:
    assert "Traceback" not in output, output
    return [line for line in output.splitlines() if "WARNING" in line]


def test_a_damaged_cache_is_made_again_with_one_warning(
        feed_server: FeedServer, write_config, tmp_path: Path):
    path = project(feed_server, write_config)
    cache = tmp_path / ".digest" / "cache.db"
    cache.write_bytes(b"this is not a database, not at all. " * 300)
    result = run(path, "build", env=NOW_UTC_ENV)
    assert result.exit_code == 0, result.output
    [warning] = warnings_in(result.output)
    assert "fetch cache" in warning and str(cache) in warning and "damaged" in warning
    assert "made again" in warning
    assert next((tmp_path / "outbox").glob("*-1")).is_dir()
    conn = sqlite3.connect(cache)  # made again, and filled by the build
    try:
        assert conn.execute("SELECT count(*) FROM images").fetchone()[0] == 7
        assert conn.execute("SELECT count(*) FROM pages").fetchone()[0] == STORIES
    finally:
        conn.close()


def test_a_locked_cache_is_skipped_with_one_warning(
        feed_server: FeedServer, write_config, tmp_path: Path):
    path = project(feed_server, write_config)
    preview(path)
    holder = sqlite3.connect(tmp_path / ".digest" / "cache.db", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # another process writing, for ever
        holder.execute("DELETE FROM dns_failures")
        mark = len(feed_server.requests)
        result = run(path, "build", env=LATER)  # revalidates: 304s to keep
        assert result.exit_code == 0, result.output
    finally:
        holder.close()
    [warning] = warnings_in(result.output)
    assert "could not be written (database is locked)" in warning, warning
    assert all(h.get("If-None-Match") or h.get("If-Modified-Since")
               for _, h in linked(feed_server, mark))  # it was read all the same
    assert next((tmp_path / "outbox").glob("*-1")).is_dir()


def test_an_unwritable_cache_is_skipped_with_one_warning(
        feed_server: FeedServer, write_config, tmp_path: Path):
    path = project(feed_server, write_config)
    preview(path)
    cache = tmp_path / ".digest" / "cache.db"
    # Root ignores permission bits: an immutable file is one even root cannot write.
    if subprocess.run(["chattr", "+i", str(cache)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i does not work on this file system")
    try:
        before = cache.read_bytes()
        result = run(path, "build", env=LATER)
    finally:
        subprocess.run(["chattr", "-i", str(cache)], check=True)
    assert result.exit_code == 0, result.output
    [warning] = warnings_in(result.output)
    assert "fetch cache" in warning and str(cache) in warning
    assert cache.read_bytes() == before
    assert next((tmp_path / "outbox").glob("*-1")).is_dir()


def test_a_cache_that_cannot_be_opened_is_skipped_with_one_warning(
        feed_server: FeedServer, write_config, tmp_path: Path):
    path = project(feed_server, write_config)
    cache = tmp_path / ".digest" / "cache.db"
    cache.mkdir()  # a folder where the file should be
    result = run(path, "build", "--preview", env=NOW_UTC_ENV)
    assert result.exit_code == 0, result.output
    [warning] = warnings_in(result.output)
    assert "cannot be used" in warning and "fetches without it" in warning
    assert cache.is_dir()  # left as it was: not ours to remove


def test_a_preview_while_a_build_runs_leaves_both_whole(
        feed_server: FeedServer, write_config, tmp_path: Path):
    path = project(feed_server, write_config)
    env = {**os.environ, **NOW_UTC_ENV}
    procs = [subprocess.Popen([sys.executable, "-m", "digest", "--config", str(path), *args],
                              env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
             for args in (["build"], ["build", "--preview"], ["build", "--preview"])]
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out.decode()
        assert warnings_in(out.decode()) == []
    conn = sqlite3.connect(tmp_path / ".digest" / "cache.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()

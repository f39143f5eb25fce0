"""A host whose name did not resolve is remembered in the fetch cache for DNS_FOR (issue
19, item 4): the next preview or build within it does not look the name up again, and
one after it does. The DNS failure is made through the resolver seam the pipeline takes
(digest.collect.hosts.Resolver); everything else is real: the pipeline, a loopback HTTP
server for the feed, its pictures and pages, and the cache file."""

from __future__ import annotations

import socket
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from digest import pipeline
from digest.collect.hosts import Address, system_resolve
from digest.config.load import load_config
from digest.state.cache import DNS_FOR
from tests.enrich.test_images import ASSETS, jpeg
from tests.helpers import NOW_UTC, FeedServer, Route

DOWN = "down.test"
PAGE = b"<html><body><article><p>A page with a sentence or two. And one more.</p>" \
       b"</article></body></html>"


def feed(server: FeedServer, port: int) -> bytes:
    """Ten stories on the test server; the first three's pictures and pages on DOWN."""
    def host(i: int) -> str:
        return f"http://{DOWN}:{port}" if i < 3 else server.base
    entries = "".join(
        f"""<item><title>Story {i}</title><link>{host(i)}/page/{i}</link>
        <guid>s{i}</guid><pubDate>{28 - i} Nov 2026 08:00:00 +0800</pubDate>
        <description>About story {i}. It has two sentences.</description>
        <media:content url="{host(i)}/p/{i}.jpg" medium="image"/></item>"""
        for i in range(10))
    return ('<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">'
            f"<channel><title>T</title><link>{server.url('/')}</link>{entries}"
            "</channel></rss>").encode()


def test_a_name_that_did_not_resolve_is_not_looked_up_again_until_dns_for_passes(
        feed_server: FeedServer, write_config, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch):
    port = feed_server.httpd.server_address[1]
    feed_server.routes["/f.xml"] = Route(feed(feed_server, port))
    for i in range(10):
        feed_server.routes[f"/p/{i}.jpg"] = Route(jpeg(1200, 675), content_type="image/jpeg")
        feed_server.routes[f"/page/{i}"] = Route(PAGE, content_type="text/html")
    base = ASSETS.replace('pages = "never"', 'pages = "always"')
    config = load_config(write_config([{"url": feed_server.url("/f.xml"), "name": "Wire"}],
                                      base=base))
    lookups: Counter[str] = Counter()

    def resolve(host: str, port: int) -> list[Address]:  # a name no DNS server knows
        lookups[host] += 1
        if host == DOWN:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return system_resolve(host, port)

    def at(minutes: float) -> None:
        monkeypatch.setenv("DIGEST_NOW", (NOW_UTC + timedelta(minutes=minutes)).isoformat())

    def preview() -> list[str]:
        result = pipeline.preview(config, resolve=resolve)
        assert result.status == "preview", result.message
        return [n for n in result.notes if f"cannot resolve '{DOWN}'" in n]

    at(0)
    pipeline.collect_locked(config)  # a preview keeps its cache in the state's folder
    notes = preview()
    assert lookups[DOWN] >= 1 and notes  # looked up, failed, said so
    assert any("/p/" in n and "hot-linked as it is" in n for n in notes)
    assert any("/page/" in n and "keeps its feed's text" in n for n in notes)
    assert (tmp_path / ".digest" / "cache.db").is_file()

    asked = lookups[DOWN]
    at(1)
    again = preview()
    assert lookups[DOWN] == asked  # not looked up again
    assert len(again) == len(notes)  # and the same pictures and pages said why
    assert all("not looked up again" in n for n in again)
    assert any(p.startswith("/p/") for p, _ in feed_server.requests)  # the other host's

    at(DNS_FOR.total_seconds() / 60 + 1)
    preview()
    assert lookups[DOWN] > asked  # past DNS_FOR: asked again (it may be back)

    asked = lookups[DOWN]
    at(DNS_FOR.total_seconds() / 60 + 2)  # a build reads the same cache
    result = pipeline.build(config, resolve=resolve)
    assert result.status == "built", result.message
    assert lookups[DOWN] == asked
    assert any(f"cannot resolve '{DOWN}'" in n for n in result.notes)

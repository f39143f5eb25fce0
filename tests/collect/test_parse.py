"""Feed bytes -> Articles: images, captions, credits, sanitizing, dates, ids."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from digest.collect.parse import canonical_url, parse_feed
from digest.config.schema import FeedConfig
from digest.errors import FeedError

FEED = FeedConfig(url="https://feeds.example.com/rss", name="Example", category="")
BASE = "https://feeds.example.com/rss"

RSS = b"""<?xml version="1.0"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"
     xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>X</title><link>https://news.example.com/</link>
<item><title>Ports &amp; harbours</title><link>https://news.example.com/a?utm_source=rss#top</link>
  <guid isPermaLink="false">a-1</guid><dc:creator>Mei Chen</dc:creator>
  <pubDate>Mon, 16 Nov 2026 08:00:00 +0800</pubDate><category>Trade</category>
  <description>Short summary.</description>
  <content:encoded><![CDATA[<p onclick="x()">First <script>alert(1)</script>para.</p>
    <p>Second <a href="/rel">link</a>.</p>]]></content:encoded>
  <media:content url="/img/port.jpg" medium="image"><media:title>Cranes at dusk</media:title>
    <media:description>Cranes load ships.</media:description>
    <media:credit role="photographer">Lin Wei | Harbour Pictures</media:credit></media:content>
</item>
<item><title>Enclosed</title><link>https://news.example.com/b</link>
  <enclosure url="https://cdn.example.com/b.png" type="image/png" length="1"/>
  <media:credit>Ana Ruiz | Sample Photos</media:credit><media:description>A chart.</media:description>
</item>
<item><title>Inline image</title><link>https://news.example.com/c</link>
  <description>&lt;p&gt;Look &lt;img src="https://cdn.example.com/c.jpg" alt="A train"&gt;&lt;/p&gt;</description>
</item>
<item><title>No image, no date</title><link>https://news.example.com/d</link></item>
<item><title>Sneaky</title><link>javascript:alert(1)</link></item>
</channel></rss>"""


def test_rss_media_fields_and_sanitizing():
    a, b, c, d, sneaky = parse_feed(RSS, FEED, BASE)
    assert sneaky.url == ""  # never a javascript: link in the email
    assert a.title == "Ports & harbours"
    assert a.url == "https://news.example.com/a"  # tracking and fragment dropped
    assert a.author == "Mei Chen" and a.category == "Trade"
    assert a.published == datetime(2026, 11, 16, 0, 0, tzinfo=UTC)
    assert a.summary == "Short summary."
    assert "script" not in a.body_html and "onclick" not in a.body_html
    assert 'href="https://feeds.example.com/rel"' in a.body_html
    assert a.image is not None
    assert (a.image.url, a.image.alt, a.image.caption, a.image.credit) == (
        "https://feeds.example.com/img/port.jpg", "Cranes at dusk", "Cranes load ships.",
        "Lin Wei | Harbour Pictures")
    assert b.image and b.image.url == "https://cdn.example.com/b.png"
    assert (b.image.caption, b.image.credit) == ("A chart.", "Ana Ruiz | Sample Photos")
    assert b.summary == ""  # feedparser's copy of media:description is not a summary
    assert c.image and (c.image.url, c.image.alt) == ("https://cdn.example.com/c.jpg", "A train")
    assert d.image is None and d.published is None
    assert len({a.id, b.id, c.id, d.id}) == 4
    assert parse_feed(RSS, FEED, BASE)[0].id == a.id  # stable across runs


def test_atom_thumbnail_and_plain_text_content():
    atom = b"""<?xml version="1.0" encoding="utf-8"?>
    <feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/">
      <title>T</title><id>tag:example.com,2026:feed</id><updated>2026-11-20T10:00:00+08:00</updated>
      <entry><id>tag:example.com,2026:1</id><title type="text">Chips &lt;up&gt;</title>
        <link rel="alternate" href="https://news.example.com/chips"/>
        <updated>2026-11-20T10:00:00+08:00</updated><author><name>Kai Zhou</name></author>
        <content type="text">Line &lt;b&gt;one&lt;/b&gt;.

Second paragraph.</content>
        <media:thumbnail url="https://cdn.example.com/chip.jpg"/>
      </entry></feed>"""
    (a,) = parse_feed(atom, FEED, BASE)
    assert a.title == "Chips <up>"
    assert a.published == datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    assert a.body_html == "<p>Line &lt;b&gt;one&lt;/b&gt;.</p><p>Second paragraph.</p>"
    assert a.image and a.image.url == "https://cdn.example.com/chip.jpg"
    assert a.author == "Kai Zhou"


def test_html_page_is_not_a_feed():
    with pytest.raises(FeedError, match="'Example'.*not an RSS or Atom feed: got text/html"):
        parse_feed(b"<html><body><p>hi</p></body></html>", FEED, BASE,
                   {"Content-Type": "text/html"})


def test_canonical_url():
    assert canonical_url("HTTPS://News.Example.com:443/a?b=1&utm_medium=x#frag") == \
        "https://news.example.com/a?b=1"

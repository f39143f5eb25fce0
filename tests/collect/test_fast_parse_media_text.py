"""Media text (<media:title>, <media:description>) and the fast parser: feedparser files
it as the item's title, summary or content depending on where it comes, so the fast
path takes only the shape where feedparser keeps the item's own text (the media text
after it, inside a media:content or media:group, with a <content> of its own), and
the Articles must be the ones feedparser's reading gives, in every order tried here.
Also: categories with entities (Atom attributes, RSS text) and Atom text without a
type=, which the fast path now reads instead of handing to feedparser."""

from __future__ import annotations

import itertools
import random

import pytest

from digest.collect import fastparse
from digest.collect.parse import read_feed
from digest.config.schema import FeedConfig

FEED = FeedConfig(url="https://feeds.example/media.xml", name="media")

OWN = {
    "title": ["<title>Grid operators weigh offshore wind auctions</title>",
              "<title>Oil &amp; gas &lt;b&gt;up&lt;/b&gt;</title>",
              "<title><![CDATA[Caf&eacute; <i>news</i> here]]></title>"],
    "desc": ["<description>The item's own summary of the story.</description>",
             "<description>&lt;p&gt;Summary &lt;b&gt;html&lt;/b&gt;&lt;/p&gt;</description>",
             "<description><![CDATA[<p>A photo caption</p>]]></description>"],
    "content": ["<content:encoded><![CDATA[<p>Body one.</p><p>Body two.</p>]]></content:encoded>",
                "<content:encoded><![CDATA[A photo caption]]></content:encoded>"],
}
MEDIA = {
    "nested": ['<media:content url="https://p.example/a.jpg" medium="image" width="1200" '
               'height="800"><media:description>A photo caption</media:description>'
               "<media:credit>Ann | Wire</media:credit></media:content>",
               '<media:content url="https://p.example/b.jpg"><media:title>&lt;iframe src="https:'
               '//evil.example/"&gt;&lt;/iframe&gt;</media:title><media:description>&lt;script'
               "&gt;alert(1)&lt;/script&gt; cap</media:description></media:content>",
               '<media:content url="https://p.example/c.jpg"><media:description type="plain">'
               "Plain &lt;caption&gt;</media:description></media:content>"],
    "group": ['<media:group><media:content url="https://p.example/g.jpg" width="1200"/>'
              "<media:description>Group caption</media:description>"
              "<media:title>Group title</media:title></media:group>"],
    "item": ["<media:description>&lt;img src=x onerror=alert(1)&gt;</media:description>",
             "<media:title>Item level media title</media:title>"],
}


def _rss(items: list[str]) -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
            'xmlns:media="http://search.yahoo.com/mrss/" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>C'
            "</title><link>https://c.example/</link><description>d</description>"
            + "".join(items) + "</channel></rss>").encode()


def _atom(items: list[str]) -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
            'xmlns:media="http://search.yahoo.com/mrss/"><title>C</title><id>urn:c</id>'
            "<updated>2026-11-29T10:00:00Z</updated>" + "".join(items) + "</feed>").encode()


def _to_atom(piece: str) -> str:
    return (piece.replace("<description>", '<summary type="html">')
            .replace("</description>", "</summary>")
            .replace("<content:encoded>", '<content type="html">')
            .replace("</content:encoded>", "</content>"))


def _documents(count: int) -> list[bytes]:
    """Items of own and media elements in many orders, half with the own text first."""
    rnd = random.Random(19)
    out = []
    for n in range(count):
        atom = n % 3 == 2
        keys = [k for k in OWN if rnd.random() < 0.8] + rnd.sample(list(MEDIA), rnd.randint(1, 2))
        rnd.shuffle(keys)
        if n % 2:
            keys.sort(key=lambda k: k not in OWN)
        pieces = [rnd.choice(OWN[k]) if k in OWN else rnd.choice(MEDIA[k]) for k in keys]
        if atom:
            pieces = [_to_atom(p) for p in pieces if not ("CDATA" in p and "content" in p)]
            out.append(_atom([f'<entry><link rel="alternate" href="https://c.example/{n}"/>'
                              f"<id>urn:{n}</id><updated>2026-11-29T10:00:00Z</updated>"
                              + "".join(pieces) + "</entry>"]))
        else:
            out.append(_rss([f"<item><link>https://c.example/{n}</link>" + "".join(pieces)
                             + "</item>"]))
    return out


DOCUMENTS = _documents(300)


def test_media_text_in_any_order_gives_the_articles_feedparser_gives() -> None:
    fast = 0
    for data in DOCUMENTS:
        if fastparse.parse_with_reason(data, {})[1] is None:
            fast += 1
        assert read_feed(data, FEED, FEED.url, {}) == \
            read_feed(data, FEED, FEED.url, {}, fast=False), data.decode()
    assert fast >= len(DOCUMENTS) // 10  # the common order is read fast


def _outlet_item(n: int, category: str = "Energy") -> str:
    return (f"<item><title>Regulators weigh grid reform {n}</title>"
            f"<link>https://outlet.example/news/{n}</link>"
            f'<guid isPermaLink="false">outlet-{n}</guid>'
            "<pubDate>Sun, 29 Nov 2026 20:31:42 GMT</pubDate>"
            f"<category>{category}</category>"
            "<description>The story's own summary.</description>"
            "<content:encoded><![CDATA[<p>Body of the story.</p>]]></content:encoded>"
            '<media:content url="https://pictures.example/1.jpg" medium="image" '
            'type="image/jpeg" width="1200" height="800"><media:description>Wind turbines '
            "off the coast at dusk</media:description><media:credit>Ana Costa | Wire Photo"
            "</media:credit></media:content></item>")


def test_a_news_outlet_feed_with_captions_and_ampersands_reads_fast() -> None:
    # The shape of bench/feeds.py (and of many outlets): a captioned media:content after
    # the item's own text, and "Oil & Gas" as a category. feedparser read it before.
    data = _rss([_outlet_item(n, "Oil &amp; Gas") for n in range(5)])
    parsed, reason = fastparse.parse_with_reason(data, {})
    assert reason is None
    assert [t["term"] for t in parsed.entries[0]["tags"]] == ["Oil & Gas"]
    assert read_feed(data, FEED, FEED.url, {}) == read_feed(data, FEED, FEED.url, {}, fast=False)


@pytest.mark.parametrize("term, label", itertools.product(
    ["Oil &amp; Gas", "&lt;b&gt;x", "Caf&#233; &#x26; co", "plain"], ["", ' label="A &amp; B"']))
def test_an_atom_category_attribute_is_unescaped_as_feedparser_does(term: str, label: str) -> None:
    data = _atom(['<entry><title>t</title><link rel="alternate" href="https://c.example/1"/>'
                  f'<id>urn:1</id><updated>2026-11-29T10:00:00Z</updated><category term="{term}"'
                  f"{label}/></entry>"])
    fast, reason = fastparse.parse_with_reason(data, {})
    assert reason is None
    reference = fastparse.reference(data, {})
    assert [(t["term"], t["label"]) for t in fast.entries[0]["tags"]] == \
        [(t["term"], t["label"]) for t in reference.entries[0]["tags"]]


def test_an_atom_title_without_type_is_text_as_feedparser_reads_it() -> None:
    data = _atom(['<entry><title>Caf&amp;eacute; &lt;i&gt;news&lt;/i&gt;</title>'
                  '<link rel="alternate" href="https://c.example/1"/><id>urn:1</id>'
                  "<updated>2026-11-29T10:00:00Z</updated></entry>"])
    fast, reason = fastparse.parse_with_reason(data, {})
    assert reason is None
    assert fast.entries[0]["title_detail"]["type"] == "text/plain"
    assert read_feed(data, FEED, FEED.url, {}) == read_feed(data, FEED, FEED.url, {}, fast=False)

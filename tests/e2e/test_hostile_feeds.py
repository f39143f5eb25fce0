"""Hostile feeds (issue 8): characters that break XML/HTML, bidi overrides, non-web
images and links, tracking pixels, and one feed listed twice under two spellings."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from digest.collect.parse import parse_feed
from digest.config.load import load_config
from digest.config.schema import FeedConfig
from digest.errors import ConfigError
from digest.models import Article
from tests.helpers import FeedServer, Route, run

REMOTE = FeedConfig(url="https://feeds.example.com/rss", name="Remote", category="")
BASE = "https://feeds.example.com/rss"

# Characters XML 1.0 or HTML refuse (C0 but tab/LF/CR, DEL, C1, surrogates,
# noncharacters), and the bidi overrides/isolates that may not reach a title.
INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
                     + "".join(chr(p << 16 | 0xFFFE) + chr(p << 16 | 0xFFFF) for p in range(17))
                     + "]")
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")

# (case id, how the character is written in the feed bytes)
POISON = [
    ("bel", b"\x07"), ("vt", b"\x0b"), ("ff", b"\x0c"), ("esc", b"\x1b"), ("del", b"\x7f"),
    ("nul-ref", b"&#x0;"), ("bel-ref", b"&#7;"), ("esc-ref", b"&#x1B;"),
    ("fffe", "\ufffe".encode()), ("fffe-ref", b"&#xFFFE;"), ("ffff-ref", b"&#65535;"),
    ("fdd0", "\ufdd0".encode()), ("1fffe", "\U0001fffe".encode()),
    ("c1-ref", b"&#x80;"), ("c1", "\x9b".encode()),
    ("surrogate-ref", b"&#xD800;"), ("low-surrogate-ref", b"&#xdfff;"),
    ("surrogate-raw", b"\xed\xa0\x80"),
    ("beyond-unicode-ref", b"&#x110000;"), ("huge-ref", b"&#99999999999999999999;"),
]
WORDS = ["Harbour", "Copper", "Lantern", "Orchard", "Granite", "Meadow", "Falcon", "Quarry",
         "Willow", "Summit", "Cobalt", "Marble", "Juniper", "Tundra", "Saffron", "Beacon",
         "Cedar", "Delta", "Ember", "Fjord"]


def headline(i: int, c: bytes = b"") -> bytes:
    """Titles far enough apart that curate never folds two into one story."""
    other = WORDS[(i * 7 + 3) % len(WORDS)].lower().encode()
    return WORDS[i].encode() + b" poison" + c + b"pill hits " + other + b" markets"


def poison_item(i: int, c: bytes) -> bytes:
    word = WORDS[i].encode()
    return (
        b"<item><title>" + headline(i, c) + b"</title>"
        b"<link>https://news.example.com/" + word + c + b"/story</link>"
        b"<guid>g-" + word + b"</guid><pubDate>Mon, 16 Nov 2026 08:00:00 +0800</pubDate>"
        b"<dc:creator>Mei" + c + b"Chen</dc:creator><category>Trade" + c + b"Talk</category>"
        b"<description>Summary" + c + b"text about " + word + b". It has two sentences."
        b"</description>"
        b"<content:encoded><![CDATA[<p>Body" + c + b"text about " + word + b".</p>"
        b"<p>Second paragraph of the story.</p>]]></content:encoded>"
        b'<media:content url="https://cdn.example.com/' + word + c + b'.jpg" medium="image">'
        b"<media:title>Alt" + c + b"text</media:title>"
        b"<media:description>Caption" + c + b"text</media:description>"
        b"<media:credit>Lin" + c + b"Wei | Harbour Pictures</media:credit></media:content>"
        b"</item>"
    )


def rss_feed(*items: bytes, encoding: bytes = b"utf-8") -> bytes:
    return (
        b'<?xml version="1.0" encoding="' + encoding + b'"?>'
        b'<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"'
        b' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        b' xmlns:dc="http://purl.org/dc/elements/1.1/">'
        b"<channel><title>T</title><link>https://news.example.com/</link>"
        + b"".join(items) + b"</channel></rss>"
    )


def text_fields(article: Article) -> dict[str, str]:
    fields = {"title": article.title, "summary": article.summary,
              "body_html": article.body_html, "category": article.category,
              "author": article.author, "url": article.url}
    if article.image:
        fields.update({"image.url": article.image.url, "image.alt": article.image.alt,
                       "image.caption": article.image.caption,
                       "image.credit": article.image.credit})
    return fields


@pytest.mark.parametrize("case, char", POISON, ids=[c for c, _ in POISON])
def test_every_field_is_stripped_of_invalid_characters(case: str, char: bytes):
    (article,) = parse_feed(rss_feed(poison_item(0, char)), REMOTE, BASE)
    fields = text_fields(article)
    assert {k: v for k, v in fields.items() if INVALID.search(v)} == {}
    # C1 controls in feedparser's fields come back as their windows-1252 letters
    # (feedparser's choice); everywhere else the character is simply gone.
    if not case.startswith("c1"):
        assert article.title == "Harbour poisonpill hits orchard markets"
        assert article.summary == "Summarytext about Harbour. It has two sentences."
        assert article.body_html.startswith("<p>Bodytext about Harbour.</p>")
        assert (article.author, article.category) == ("MeiChen", "TradeTalk")
        assert article.url == "https://news.example.com/Harbour/story"
    assert article.image is not None  # the media pass still reads the entry
    assert (article.image.url, article.image.alt, article.image.caption,
            article.image.credit) == ("https://cdn.example.com/Harbour.jpg", "Alttext",
                                      "Captiontext", "LinWei | Harbour Pictures")


def test_a_poisoned_entry_keeps_the_rest_of_the_feed_intact():
    # A raw surrogate once made feedparser read the whole feed as windows-1252.
    feed = rss_feed(poison_item(0, b"\xed\xa0\x80"),
                    b"<item><title>Caf\xc3\xa9 \xe2\x80\x94 \xe4\xb8\xad\xe5\x9b\xbd</title>"
                    b"<link>https://news.example.com/ok</link></item>")
    first, second = parse_feed(feed, REMOTE, BASE)
    assert first.title == "Harbour poisonpill hits orchard markets"
    assert second.title == "Café — 中国"


@pytest.mark.parametrize("encoding, title", [
    ("big5", "中國經濟 貿易數據"), ("shift_jis", "日本の貿易統計"),
    ("windows-1252", "Caf\u00e9 \x07bell"),  # a raw control char in a non-UTF-8 feed
])
def test_any_encoding_keeps_its_entries_and_pictures(encoding: str, title: str):
    item = f"""<item><title>{title}</title><link>https://news.example.com/e</link>
        <media:content url="https://cdn.example.com/e.jpg" medium="image">
        <media:credit>{title}</media:credit></media:content></item>"""
    (article,) = parse_feed(rss_feed(item.encode(encoding), encoding=encoding.encode()),
                            REMOTE, BASE)
    clean = title.replace("\x07", "")
    assert article.title == clean
    assert article.image is not None
    assert (article.image.url, article.image.credit) == ("https://cdn.example.com/e.jpg", clean)


def test_poison_characters_never_stop_a_build(feed_server: FeedServer, write_config,
                                              tmp_path: Path):
    feeds = []
    for i, (case, char) in enumerate(POISON):
        feed_server.routes[f"/{case}.xml"] = Route(rss_feed(poison_item(i, char)))
        feeds.append({"url": feed_server.url(f"/{case}.xml"), "name": f"Feed {case}"})
    config = write_config(feeds, extra=f"[layout]\nneed_to_know = 3\nread_more = {len(POISON)}"
                                       "\nmax_html_kb = 1000")

    preview = run(config, "build", "--preview")
    assert preview.exit_code == 0, preview.output
    built = run(config, "build")
    assert built.exit_code == 0, built.output
    assert "issue #1 written to" in built.output
    (folder,) = [p for p in (tmp_path / "outbox").iterdir() if p.name != "preview"]
    for where in (tmp_path / "outbox" / "preview", folder):
        manifest = json.loads((where / "issue.json").read_text("utf-8"))
        placed = [a for a in manifest["decisions"]
                  if a["section"] in ("big_story", "need_to_know", "read_more")]
        assert len(placed) == len(POISON)
        text = (where / "email.txt").read_text("utf-8")
        html = (where / "email.html").read_text("utf-8")
        for i, (case, _) in enumerate(POISON):
            if not case.startswith("c1"):
                assert headline(i).decode() in text, case
                assert headline(i).decode() in html, case
        for name, content in (("email.txt", text), ("email.html", html),
                              ("issue.json", json.dumps(manifest, ensure_ascii=False))):
            assert INVALID.findall(content) == [], name
    eml = (folder / "message.eml").read_text("utf-8")
    assert INVALID.findall(eml) == []


# -- Defect 9: bidi overrides, non-web images and links, tracking pixels ------------

def test_bidi_overrides_are_stripped_from_single_line_fields():
    rlo, lri, pdi, lre, pdf = "\u202e", "\u2066", "\u2069", "\u202a", "\u202c"
    feed = rss_feed(
        f"""<item><title>Invoice {rlo}fdp.exe{lri} &#x202D;now{pdi}</title>
        <link>https://news.example.com/bidi</link><dc:creator>{rlo}Kai Zhou</dc:creator>
        <category>{lri}World{pdi}</category><description>Summary.</description>
        <media:content url="https://cdn.example.com/b.jpg" medium="image">
          <media:title>A{rlo}lt</media:title><media:credit>Ana{lre} Ruiz{pdf}
          </media:credit></media:content></item>""".encode())
    (article,) = parse_feed(feed, REMOTE, BASE)
    assert article.title == "Invoice fdp.exe now"
    assert (article.author, article.category) == ("Kai Zhou", "World")
    assert article.image is not None
    assert (article.image.alt, article.image.credit) == ("Alt", "Ana Ruiz")
    for value in text_fields(article).values():
        assert not BIDI.search(value)


NON_WEB = ["file:///etc/passwd", "FILE:///etc/passwd", "data:image/png;base64,AAAA",
           "ftp://ftp.example.com/a.jpg", "javascript:alert(1)//a.jpg", "cid:part1"]


@pytest.mark.parametrize("url", NON_WEB)
def test_remote_feeds_never_give_a_non_web_image(url: str):
    feed = rss_feed(
        f"""<item><title>Media only</title><link>https://news.example.com/m</link>
        <media:content url="{url}" medium="image" /></item>
        <item><title>Thumbnail then a real picture</title><link>https://news.example.com/t</link>
        <media:thumbnail url="{url}"/><enclosure url="https://cdn.example.com/t.jpg"
        type="image/jpeg" length="1"/></item>
        <item><title>Inline</title><link>https://news.example.com/i</link>
        <description>&lt;p&gt;See &lt;img src="{url}" alt="x"&gt;
        &lt;a href="{url}"&gt;here&lt;/a&gt;&lt;/p&gt;</description></item>""".encode())
    media_only, second, inline = parse_feed(feed, REMOTE, BASE)
    assert media_only.image is None
    assert second.image is not None and second.image.url == "https://cdn.example.com/t.jpg"
    assert inline.image is None
    assert "file:" not in inline.body_html.lower() and "data:" not in inline.body_html


def test_local_feeds_keep_their_file_pictures(tmp_path: Path):
    local = FeedConfig(url="feeds/local.xml", name="Local", category="")
    base = (tmp_path / "feeds" / "local.xml").as_uri()
    feed = rss_feed(b"""<item><title>Local picture</title><link>https://news.example.com/l</link>
        <media:content url="../images/port.jpg" medium="image"/></item>""")
    (article,) = parse_feed(feed, local, base)
    assert article.image is not None
    assert article.image.url == (tmp_path / "images" / "port.jpg").as_uri()


@pytest.mark.parametrize("link, expected", [
    ("file:///etc/passwd", ""), ("javascript:alert(1)", ""), ("data:text/html,hi", ""),
    ("ftp://ftp.example.com/x", ""), ("mailto:a@example.com", ""), ("http://", ""),
    ("HTTPS://News.Example.com/Up", "https://news.example.com/Up"),
    ("/relative/path", "https://feeds.example.com/relative/path"),
])
def test_article_links_are_http_only(link: str, expected: str):
    feed = rss_feed(f"<item><title>Link</title><link>{link}</link></item>".encode())
    (article,) = parse_feed(feed, REMOTE, BASE)
    assert article.url == expected


def test_a_relative_link_in_a_local_feed_is_no_link(tmp_path: Path):
    local = FeedConfig(url="local.xml", name="Local", category="")
    feed = rss_feed(b"<item><title>Link</title><link>story.html</link></item>")
    (article,) = parse_feed(feed, local, (tmp_path / "local.xml").as_uri())
    assert article.url == ""


def test_tracking_pixels_never_become_the_picture():
    feed = rss_feed(b"""
        <item><title>Pixel thumbnail first</title><link>https://news.example.com/1</link>
          <media:thumbnail url="https://t.example.com/p.gif" width="1" height="1"/>
          <media:content url="https://cdn.example.com/real.jpg" medium="image" width="600"
            height="400"><media:credit>Real | Photos</media:credit></media:content></item>
        <item><title>Only a pixel</title><link>https://news.example.com/2</link>
          <media:content url="https://t.example.com/p.gif" medium="image" width="1"
            height="1"><media:credit>Nobody</media:credit></media:content></item>
        <item><title>Inline pixel first</title><link>https://news.example.com/3</link>
          <description>&lt;p&gt;&lt;img src="https://t.example.com/p.gif" width="1"
          height="1"&gt;Text &lt;img src="https://cdn.example.com/in.jpg" alt="Real"
          width="640"&gt;&lt;/p&gt;</description></item>
        <item><title>Only an inline pixel</title><link>https://news.example.com/4</link>
          <description>&lt;img src="https://t.example.com/p.gif" width="1px" height="1px"
          alt=""&gt;Words.</description></item>
        <item><title>A thin banner</title><link>https://news.example.com/5</link>
          <media:thumbnail url="https://t.example.com/banner.gif" width="600" height="20"/>
        </item>
        <item><title>Sizes unknown</title><link>https://news.example.com/6</link>
          <media:thumbnail url="https://cdn.example.com/unknown.jpg" width="100%"/></item>
    """)
    first, pixel, inline, inline_pixel, banner, unknown = parse_feed(feed, REMOTE, BASE)
    assert first.image is not None
    assert (first.image.url, first.image.credit) == ("https://cdn.example.com/real.jpg",
                                                     "Real | Photos")
    assert pixel.image is None
    assert inline.image is not None and inline.image.url == "https://cdn.example.com/in.jpg"
    assert inline_pixel.image is None
    assert banner.image is None
    assert unknown.image is not None and unknown.image.url == "https://cdn.example.com/unknown.jpg"


def test_no_pixel_or_file_picture_reaches_the_email(feed_server: FeedServer, write_config,
                                                    tmp_path: Path):
    items = [
        f"""<item><title>{word} story with a tracking pixel</title>
        <link>https://news.example.com/{word}</link><description>About {word}.</description>
        <media:content url="https://t.example.com/{word}-pixel.gif" medium="image"
          width="1" height="1"/>
        <media:thumbnail url="file:///etc/{word}.jpg"/></item>""".encode()
        for word in WORDS[:5]
    ]
    feed_server.routes["/pixels.xml"] = Route(rss_feed(*items))
    config = write_config([{"url": feed_server.url("/pixels.xml"), "name": "Pixels"}])
    result = run(config, "build", "--preview")
    assert result.exit_code == 0, result.output
    html = (tmp_path / "outbox" / "preview" / "email.html").read_text("utf-8")
    assert "Harbour story with a tracking pixel" in html
    assert "pixel.gif" not in html and "file:" not in html and "/etc/" not in html


# -- Defect 10: one feed, two spellings -----------------------------------------------

@pytest.mark.parametrize("second", [
    "x.xml", "./feeds/../x.xml", "{dir}/x.xml", "file://{dir}/x.xml", "file:{dir}/x.xml",
])
def test_the_same_local_feed_twice_is_a_config_error(write_config, tmp_path: Path,
                                                     second: str):
    (tmp_path / "x.xml").write_bytes(rss_feed())
    config = write_config([{"url": "./x.xml", "name": "One"},
                           {"url": second.format(dir=tmp_path.as_posix()), "name": "Two"}])
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    message = str(caught.value)
    assert message.startswith("[[feeds]] #2 url: ")
    assert "feed #1" in message and "remove one" in message

    result = run(config, "check")
    assert result.exit_code == 2
    assert "[[feeds]] #2 url" in result.output and "Traceback" not in result.output


def test_the_same_web_feed_in_two_spellings_is_a_config_error(write_config):
    config = write_config([{"url": "https://Feeds.Example.com/rss", "name": "One"},
                           {"url": "HTTPS://feeds.example.com:443/rss", "name": "Two"}])
    with pytest.raises(ConfigError, match=r"^\[\[feeds\]\] #2 url: .*feed #1"):
        load_config(config)


def test_different_feeds_are_fine(write_config, tmp_path: Path):
    (tmp_path / "feeds").mkdir()
    config = write_config([{"url": "x.xml", "name": "One"},
                           {"url": "feeds/x.xml", "name": "Two"},
                           {"url": "https://feeds.example.com/rss", "name": "Three"},
                           {"url": "https://feeds.example.com/rss?page=2", "name": "Four"}])
    assert [f.name for f in load_config(config).feeds] == ["One", "Two", "Three", "Four"]


def test_a_broken_link_or_deep_html_costs_one_story_not_the_feed_or_minutes(
        feed_server, write_config, tmp_path):
    """`http://[::1` made urljoin raise and lost the whole feed; 100,000 nested <div>s
    kept the sanitizer busy for minutes (now it reads the first 50,000 characters)."""
    import time

    from tests.helpers import Route

    deep = "<div>" * 100_000 + "x" + "</div>" * 100_000
    items = [
        "<item><title>Bad link</title><link>http://[::1</link><guid>g1</guid></item>",
        "<item><title>Bad picture</title><link>https://news.example.com/2</link>"
        '<enclosure url="http://[::1/x.jpg" type="image/jpeg"/></item>',
        f"<item><title>Deep</title><link>https://news.example.com/3</link>"
        f"<description><![CDATA[{deep}]]></description></item>",
        "<item><title>Fine</title><link>https://news.example.com/4</link></item>",
    ]
    feed_server.routes["/f.xml"] = Route(
        f"<rss version='2.0'><channel><title>t</title>{''.join(items)}</channel></rss>".encode())
    path = write_config([{"url": feed_server.url("/f.xml"), "name": "Odd"}])
    started = time.monotonic()
    result = run(path, "collect")
    assert result.exit_code == 0, result.output
    assert "4 new article(s) from 1 feed(s)" in result.output
    assert time.monotonic() - started < 60  # minutes before; about a second now

"""Property tests (hypothesis) through the front door, `digest collect` then
`digest build --preview`, on a feed that is

  * arbitrary bytes, or a valid feed cut, spliced or sprinkled with hostile tokens;
  * a valid RSS 2.0 or Atom feed whose every field (title, link, guid, date, author,
    category, description and content HTML, image URL, alt, caption, credit) holds
    arbitrary text: control characters, lone surrogates, bidi controls, markup,
    script URLs, placeholder look-alikes, written escaped, as CDATA or as
    character references.

Whatever it is, both commands exit 0 (a feed that is not a feed is a failed feed), the
preview HTML has no executable markup (test_corpus.executable_markup), and the
message is not personalised by feed text (test_corpus.personalisation_problems).

Deterministic for CI: derandomized, no example database, a fixed number of examples.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.helpers import (
    CORPUS_CONFIG,
    NOW_UTC_ENV,
    executable_markup,
    header_problems,
    personalisation_problems,
    run,
)
from tests.make_corpus import BAITS, HTML_PAYLOADS, URL_PAYLOADS

pytestmark = [pytest.mark.slow]  # about 30 s in all; CI runs it

SETTINGS = settings(
    max_examples=50,
    derandomize=True,
    database=None,
    deadline=None,
    # The autouse DIGEST_SECRET fixture is the same for every example; each example
    # makes its own folder.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
)


def collect_and_preview(feed: bytes) -> None:
    """Run both commands on a project reading `feed` and check what must always hold,
    inside the example's own temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "feed.xml").write_bytes(feed)
        config = folder / "config.toml"
        config.write_text(CORPUS_CONFIG + '\n[[feeds]]\nurl = "feed.xml"\nname = "Fuzzed"\n', "utf-8")
        for args in (["collect"], ["build", "--preview"]):
            result = run(config, *args, env=NOW_UTC_ENV)
            assert result.exit_code == 0 and not (
                result.exception and not isinstance(result.exception, SystemExit)), (
                f"digest {' '.join(args)} exited {result.exit_code}:\n{result.output}")
        preview = folder / "outbox" / "preview"
        if not (preview / "email.html").exists():
            event("nothing to preview")
            return
        event("previewed")
        for name in ("email.html", "email.template.html"):
            assert executable_markup((preview / name).read_text("utf-8")) == [], name
        assert personalisation_problems(preview) == []
        assert header_problems((preview / "message.eml").read_bytes()) == []
        # Each placed story's link is a web link, whatever the feed's link said.
        manifest = json.loads((preview / "issue.json").read_text("utf-8"))
        for section in ("big_story", "need_to_know", "read_more"):
            for story in manifest["sections"][section]:
                assert re.match(r"https?://", story["url"]), story["url"]


# -- arbitrary feed bytes --------------------------------------------------------------

VALID_RSS = ("""<?xml version="1.0" encoding="utf-8"?><rss version="2.0" """
             """xmlns:media="http://search.yahoo.com/mrss/"><channel><title>P</title>"""
             """<link>https://news.example.com/</link>"""
             + "".join(f"""<item><title>Property story {i}</title>"""
                       f"""<link>https://news.example.com/p/{i}</link><guid>p-{i}</guid>"""
                       """<pubDate>Mon, 16 Nov 2026 08:00:00 +0800</pubDate>"""
                       """<description>&lt;p&gt;Body.&lt;/p&gt;</description>"""
                       f"""<media:content url="https://ok.example/{i}.jpg" medium="image"/>"""
                       """</item>""" for i in range(3))
             + "</channel></rss>").encode()
VALID_ATOM = ("""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>"""
              + "".join(f"""<entry><title type="html">Atom property {i}</title>"""
                        f"""<link href="https://news.example.com/a/{i}"/><id>a-{i}</id>"""
                        """<updated>2026-11-16T08:00:00Z</updated>"""
                        """<content type="html">&lt;p&gt;x&lt;/p&gt;</content></entry>"""
                        for i in range(3)) + "</feed>").encode()
TOKENS = [t.encode() for _, t in HTML_PAYLOADS[:20]] + [
    b"<![CDATA[", b"]]>", b"&#x0;", b"&#xD800;", b"&#x1b;", b"\x00", b"\x07", b"\xef\xbb\xbf",
    b"\xff\xfe", b"\xed\xa0\x80", b"<!ENTITY x 'y'>", b"<!DOCTYPE rss [", b"&x;",
    b"javascript:", b"%%digest-email%%", b"{token}", b"{{ recipient.email }}", b"</item>",
    b"<item>", b"</channel>", b'" onerror="alert(1)', b"\xe2\x80\xae", b"&amp;", b"&"]


@st.composite
def feed_bytes(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        return draw(st.binary(max_size=600))
    data = bytearray(draw(st.sampled_from([VALID_RSS, VALID_ATOM])))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["cut", "insert", "replace"]))
        piece = draw(st.one_of(st.binary(min_size=1, max_size=12), st.sampled_from(TOKENS)))
        if op == "cut":
            del data[at:]
        elif op == "insert":
            data[at:at] = piece
        else:
            data[at:at + len(piece)] = piece
    return bytes(data)


@SETTINGS
@given(feed=feed_bytes())
def test_any_feed_bytes(feed: bytes):
    collect_and_preview(feed)


# -- arbitrary text in every field of a valid feed -----------------------------------------

CHARS = st.characters(exclude_categories=())  # surrogates and controls included
FRAGMENT = st.one_of(
    st.text(CHARS, max_size=20),
    st.sampled_from([p for _, p in HTML_PAYLOADS] + [u for _, u in URL_PAYLOADS]
                    + [b for _, b in BAITS]),
    st.sampled_from(["\u202e", "\u2066", "\x00", "\x0b", "\ufffe", "\ud800", "\udfff",
                     "&#x0;", "&#xD800;", "]]>", "<", "&", '"', "'", " "]),
)
TEXT = st.lists(FRAGMENT, max_size=4).map("".join)
URL = st.one_of(TEXT, TEXT.map(lambda t: "https://news.example.com/x/" + t))


@st.composite
def written(draw: st.DrawFn, strategy: st.SearchStrategy[str] = TEXT) -> str:
    """Text as a feed might carry it: XML-escaped, in CDATA, or as character refs
    (surrogates and controls included, so the XML may well be broken)."""
    text = draw(strategy)
    how = draw(st.sampled_from(["escaped", "cdata", "refs"]))
    if how == "cdata":
        return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"
    if how == "refs":
        return "".join(c if c.isascii() and c.isalnum() else f"&#x{ord(c):x};" for c in text)
    return escape(text)


def attr(value: str) -> str:
    return escape(value, {'"': "&quot;"})


@st.composite
def rss_item(draw: st.DrawFn, i: int) -> str:
    f = {k: draw(written()) for k in ("title", "guid", "date", "author", "category", "desc",
                                      "content", "alt", "caption", "credit")}
    # Only the first item's link is arbitrary, and every guid ends in the item's
    # number (one guid is one item), so most examples have stories to place.
    link = draw(written(URL)) if i == 0 else f"https://news.example.com/f/{i}"
    image = attr(draw(URL))
    return (f"<item><title>{f['title']} {i}</title><link>{link}</link>"
            f"<guid>{f['guid']} {i}</guid><pubDate>{f['date']}</pubDate>"
            f"<author>{f['author']}</author><category>{f['category']}</category>"
            f"<description>{f['desc']}</description>"
            f"<content:encoded>{f['content']}</content:encoded>"
            f'<media:content url="{image}" medium="image"><media:title>{f["alt"]}</media:title>'
            f"<media:description>{f['caption']}</media:description>"
            f"<media:credit>{f['credit']}</media:credit></media:content></item>")


@st.composite
def atom_entry(draw: st.DrawFn, i: int) -> str:
    f = {k: draw(written()) for k in ("title", "id", "updated", "author", "summary",
                                      "content")}
    link = attr(draw(URL)) if i == 0 else f"https://news.example.com/e/{i}"
    category = attr(draw(TEXT))
    image = attr(draw(URL))
    kind = draw(st.sampled_from(["text", "html"]))
    return (f'<entry><title type="{kind}">{f["title"]} {i}</title><link href="{link}"/>'
            f"<id>{f['id']} {i}</id><updated>{f['updated']}</updated>"
            f"<author><name>{f['author']}</name></author>"
            f'<category term="{category}"/><summary type="html">{f["summary"]}</summary>'
            f'<content type="html">{f["content"]}</content>'
            f'<link rel="enclosure" type="image/jpeg" href="{image}"/></entry>')


@st.composite
def field_feed(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        items = "".join(draw(rss_item(i)) for i in range(3))
        text = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
                'xmlns:media="http://search.yahoo.com/mrss/" '
                'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
                f"<title>{draw(written())}</title><link>https://news.example.com/</link>"
                f"{items}</channel></rss>")
    else:
        entries = "".join(draw(atom_entry(i)) for i in range(3))
        text = ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/'
                f'Atom"><title>{draw(written())}</title><id>urn:f</id>'
                f"<updated>2026-11-16T08:00:00Z</updated>{entries}</feed>")
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate as CESU bytes


@SETTINGS
@given(feed=field_feed())
def test_any_text_in_any_field(feed: bytes):
    collect_and_preview(feed)

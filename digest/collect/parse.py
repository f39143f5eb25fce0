"""Feed bytes -> Articles: feedparser for the entries, our own pass for media fields.

feedparser folds <media:description> into the summary and drops <media:title>, so
image, alt, caption and credit are read from the XML ourselves, entry by entry.
Everything a feed says is hostile: characters XML/HTML refuse are removed from every
field (digest.collect.textclean), links are http(s) only, and pictures are http(s) (or, for a
feed read from disk, file:) and never a tracking pixel.
"""

from __future__ import annotations

import hashlib
import html
import re
from calendar import timegm
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import feedparser
import nh3

from digest.clock import utcnow
from digest.collect import fastparse
from digest.collect.dates import read_date
from digest.collect.htmltext import html_paragraphs, html_text, plain_text, squash
from digest.collect.language import story_language
from digest.collect.links import WEB, has_scheme, join_url
from digest.collect.media import (
    Media,
    caption_key,
    entry_image,
    media_by_entry,
    plain_caption_key,
)
from digest.collect.textclean import clean_feed_bytes, clean_line, clean_text
from digest.collect.trailers import (
    repeats_headline,
    strip_html_debris,
    strip_outlet_suffix,
    strip_text_debris,
)
from digest.config.load import is_web, web_netloc
from digest.config.schema import FeedConfig
from digest.errors import FeedError
from digest.models import UNTITLED, Article

TRACKING = re.compile(r"^(utm_\w+|fbclid|gclid|mc_cid|mc_eid|ref|cmpid)$", re.I)
# Field caps (characters): far above any real headline or story, far below what an
# entity-expanding feed can produce. A body over MAX_BODY is dropped, not cut mid-tag.
MAX_TITLE, MAX_LINE, MAX_SUMMARY, MAX_BODY = 1_000, 300, 20_000, 500_000
MAX_RAW_HTML = 50_000

ALLOWED_TAGS = {
    "p", "a", "b", "strong", "i", "em", "ul", "ol", "li", "blockquote", "br",
    "h2", "h3", "h4", "img", "figure", "figcaption", "span", "sub", "sup",
}
ALLOWED_ATTRS = {"a": {"href", "title"}, "img": {"src", "srcset", "alt", "width", "height"}}
FUTURE_SLACK = timedelta(days=1)  # a date further ahead than this is not believed
LINK_LIST_SHARE = 0.6  # a description this much link text is a list of links, no excerpt


@dataclass(frozen=True)
class ParsedFeed:
    """What one feed's bytes gave: its articles and, for a feed read despite errors
    (feedparser's bozo), what was wrong."""

    articles: list[Article]
    problem: str | None = None


def parse_feed(
    data: bytes, feed: FeedConfig, base_url: str, headers: Mapping[str, str] | None = None
) -> list[Article]:
    """Parse a fetched feed body. Raises FeedError if it is not a feed at all."""
    return read_feed(data, feed, base_url, headers).articles


def read_feed(
    data: bytes, feed: FeedConfig, base_url: str, headers: Mapping[str, str] | None = None,
    *, fast: bool = True,
) -> ParsedFeed:
    """parse_feed, saying also what was wrong with a feed that parsed with errors.
    `fast=False` reads it with feedparser alone (the reference the fast path is tested
    against)."""
    read = _read(data, feed, base_url, headers,
                 fastparse.parse if fast else fastparse.reference)
    assert read is not None  # both parsers always give a result
    return read


def read_feed_fast(
    data: bytes, feed: FeedConfig, base_url: str, headers: Mapping[str, str] | None = None
) -> ParsedFeed | None:
    """read_feed when the fast parser takes these bytes, else None (without feedparser
    having read them): a read whose time the bytes' size bounds (digest.collect.feeds
    reads such feeds in its own process)."""
    return _read(data, feed, base_url, headers, fastparse.parse_fast)


def _read(data: bytes, feed: FeedConfig, base_url: str, headers: Mapping[str, str] | None,
          parser: Callable[[bytes, Mapping[str, str]], Any]) -> ParsedFeed | None:
    response_headers = {k.lower(): v for k, v in (headers or {}).items()}
    if not data.strip():
        raise FeedError(f"feed {feed.name!r} ({feed.url}) is empty; check its url in [[feeds]]")
    if is_web(base_url):
        response_headers.setdefault("content-location", base_url)
    data = clean_feed_bytes(data, response_headers.get("content-type", "").lower())
    parsed = parser(data, response_headers)
    if parsed is None:
        return None
    if not parsed.get("version") and not parsed.get("entries"):
        kind = response_headers.get("content-type", "").split(";")[0] or "unknown content"
        detail = f" ({parsed.bozo_exception})" if parsed.get("bozo_exception") else ""
        raise FeedError(
            f"feed {feed.name!r} ({feed.url}) is not an RSS or Atom feed: got {kind}{detail}; "
            "check its url in [[feeds]]"
        )
    media = media_by_entry(data, len(parsed.entries), parsed.get("encoding") or "utf-8")
    # file: pictures only from a feed read from disk (the bundled samples); a web feed
    # pointing at file:///etc/... gets nothing.
    local = not has_scheme(feed.url, WEB)
    channel = _Channel.of(parsed.get("feed") or {})
    articles = [
        _article(entry, feed, base_url, media[i] if media else Media(), local, channel, i)
        for i, entry in enumerate(parsed.entries)
    ]
    return ParsedFeed(articles, _problem(parsed, feed, len(articles)))


def parse_bytes(data: bytes, headers: Mapping[str, str], *, fast: bool = True) -> Any:
    """feedparser's result for these bytes (headers lower-case): read by feedparser-rs
    where digest.collect.fastparse trusts it, else by feedparser."""
    return fastparse.parse(data, headers) if fast else fastparse.reference(data, headers)


def _problem(parsed: Any, feed: FeedConfig, count: int) -> str | None:
    """A feed read despite errors: what was wrong, and how much was read anyway.
    feedparser's notes about a declared encoding or content type that it corrected
    are not problems with the feed's content."""
    if not parsed.get("bozo"):
        return None
    error = parsed.get("bozo_exception")
    if isinstance(error, feedparser.CharacterEncodingOverride | feedparser.NonXMLContentType):
        return None
    detail = " ".join(str(error).split())[:200] if error else "malformed XML"
    return (f"feed {feed.name!r} ({feed.url}) is not well-formed ({detail}); read "
            f"{count} item(s) from it anyway, which may be fewer than it has, or cut short; "
            "tell its publisher, or check its url in [[feeds]]")


@dataclass(frozen=True)
class _Channel:
    """What a feed says of itself that its entries need."""

    title: str = ""
    language: str = ""
    updated: datetime | None = None  # lastBuildDate / updated: dates undated items

    @classmethod
    def of(cls, feed: Any) -> _Channel:
        updated = _date_of(feed, "updated") or _date_of(feed, "published")
        return cls(clean_line(plain_text(feed.get("title", "") or "", "text/html")),
                   clean_line(str(feed.get("language", "") or ""))[:20], updated)


def _article(entry: Any, feed: FeedConfig, base: str, media: Media, local: bool,
             channel: _Channel = _Channel(), position: int = 0) -> Article:
    link = clean_line(entry.get("link", "") or "").strip()
    if entry.get("guidislink") and media.guid and not has_scheme(media.guid, WEB):
        link = ""  # feedparser's link from a <guid> that is no web address ("odd-1")
    link = join_url(base, link)
    guid = entry.get("id") or link or hashlib.sha256("\n".join(
        str(dict.get(entry, k) or "") for k in ("title", "published", "updated", "summary")
    ).encode("utf-8", "replace")).hexdigest()
    article_id = hashlib.sha256(f"{feed.url}\n{guid}".encode("utf-8", "replace")).hexdigest()[:20]

    source = entry.get("source") or {}
    source = source if isinstance(source, dict) else {}
    outlets = (str(source.get("title", "") or ""), channel.title,
               _host(str(source.get("href", "") or "")))
    title = strip_outlet_suffix(_INVISIBLE.sub("", clean_line(
        plain_text(entry.get("title", "") or "", _type(entry, "title_detail")))).strip(), outlets)

    body_raw, body_type = _body(entry, media.descriptions)
    summary_raw = clean_text(entry.get("summary", "") or "")
    summary_type = _type(entry, "summary_detail")
    summary_plain = plain_text(summary_raw, summary_type) if summary_raw else ""
    if summary_plain and media.descriptions \
            and plain_caption_key(summary_plain) in media.descriptions:
        # feedparser filed a photo caption (media:description) as the summary; the
        # item's own <description> is the story's, when it has one.
        summary_raw, summary_type = clean_text(media.description), "text/html"
        summary_plain = plain_text(summary_raw, summary_type) if summary_raw else ""
    if summary_raw and body_raw and summary_raw == clean_text(body_raw):
        summary_raw = ""  # feedparser's copy of the body: made from the cleaned body below
    if summary_raw and _link_list(summary_raw):
        summary_raw = ""  # an aggregator's list of links to other outlets' versions
    body_html = sanitize_html(clean_text(body_raw), body_type, base, local) if body_raw else ""
    if not body_html and summary_raw:
        body_html = sanitize_html(summary_raw, summary_type, base, local)
    body_html = strip_html_debris(body_html)
    summary = strip_text_debris(summary_plain) if summary_raw else ""
    if not summary:
        summary = strip_text_debris(html_text(body_html, captions=False))
    if repeats_headline(summary, title, outlets):
        summary = ""

    tags = tuple(_tags(entry))
    category = kicker(tags, feed.category)
    published, undated = _trusted(_published(entry)), False
    if published is None:  # dated by the feed's own date, else by when it was first seen
        published, undated = _trusted(channel.updated), True
    return Article(
        id=article_id,
        feed_url=feed.url,
        feed_name=feed.name,
        # Only web links: a javascript:, data: or file: "link" from a feed never reaches a
        # reader.
        url=clean_line(canonical_url(link)) if has_scheme(link, WEB) else "",
        # Capped: a feed's entities can expand a small file into a huge field.
        title=title[:MAX_TITLE] or UNTITLED,
        summary=clean_text(summary)[:MAX_SUMMARY],
        body_html=clean_text(body_html)[:MAX_BODY] if len(body_html) <= MAX_BODY else "",
        category=clean_line(category).strip()[:MAX_LINE],
        author=clean_line(plain_text(entry.get("author", "") or "", "text/html"))[:MAX_LINE],
        image=entry_image(media, body_html, base, local),
        published=published,
        position=position,
        undated=undated,
        language=story_language(f"{title}. {summary[:600]}", channel.language),
        tags=tuple(clean_line(t)[:MAX_LINE] for t, _ in tags)[:20],
    )


def _tags(entry: Any) -> list[tuple[str, str]]:
    """(term, scheme) of each of the entry's categories, in order."""
    out = []
    for tag in entry.get("tags") or []:
        if not isinstance(tag, dict):
            continue
        term = squash(plain_text(str(tag.get("term") or tag.get("label") or ""), "text/html"))
        if term:
            out.append((term, str(tag.get("scheme") or "")))
    return out


# Categories and title labels of paid content, which a digest never carries.
PAID_LABELS = frozenset({
    "sponsored", "sponsored content", "sponsored post", "sponsored story", "advertisement",
    "advertisement feature", "advertiser content", "advertorial", "paid post",
    "paid content", "paid partnership", "partner content", "promoted", "promoted content",
    "branded content", "brandvoice", "native advertising", "anzeige", "werbung",
    "publireportage", "contenu sponsorisé"})


# Categories that say nothing about a story's section.
_GENERIC = frozenset({"uncategorized", "uncategorised", "news", "top stories", "top news",
                      "latest", "latest news", "home", "homepage", "general", "rss", "feed",
                      "video", "videos", "featured", "all", "misc", "other", "articles",
                      "story", "stories", "nachrichten", "aktuell",
                      # Labels, not sections: how urgent, or that someone paid for it.
                      "breaking", "breaking news", "live", "live updates", "exclusive",
                      "developing", "just in", "update", "updated", "watch", "listen"}
                     ) | PAID_LABELS
# A category scheme (the Guardian's `domain`) of a person's page: a byline, not a section.
_PERSON_SCHEME = re.compile(r"/(?:profile|people|person|author|authors|contributor|by)/")
MAX_KICKER_CHARS = 24


def kicker(tags: tuple[tuple[str, str], ...], fallback: str) -> str:
    """The card's kicker: the first of the entry's categories that reads like a section
    (a word or two: "World", "Asia Markets"), else the feed's [[feeds]] category.
    People ("Marwick, Olan"), keyword-index terms ("Demonstrations, Protests and
    Riots", anything from a `keywords` scheme but places), parentheses, numbers, slugs
    ("china-economy") and long tags are never kickers."""
    for term, scheme in tags:
        if section_like(term, scheme):
            return term
    return fallback


def section_like(term: str, scheme: str = "") -> bool:
    term = squash(term)
    if not term or len(term) > MAX_KICKER_CHARS or len(term.split()) > 2:
        return False
    if re.search(r"[,;:()\[\]/|\\#@\d]", term) or term.casefold() in _GENERIC:
        return False
    first = term[0]
    if first.isascii() and not first.isupper():  # "startup", "china-economy": keyword tags
        return False
    scheme = scheme.lower()
    if _PERSON_SCHEME.search(scheme):
        return False
    return not ("keyword" in scheme and "geo" not in scheme)


def _link_list(raw: str) -> bool:
    """An HTML description that is links (two or more) and hardly anything else."""
    if raw.count("<a") < 2 and "&lt;a" not in raw[:200]:
        return False
    markup = html.unescape(raw) if "&lt;a" in raw[:200] and "<a" not in raw else raw
    links = nh3.clean(markup[:MAX_RAW_HTML], tags={"a"}, attributes={}, link_rel=None)
    inside = sum(len(squash(html.unescape(t))) for t in re.findall(r"<a>(.*?)</a>", links, re.S))
    total = len(html_text(markup))
    return links.count("<a>") >= 2 and total > 0 and inside >= LINK_LIST_SHARE * total


def _published(entry: Any) -> datetime | None:
    """`published`, else `updated`; None when absent, unreadable or out of datetime's
    range. Read without feedparser's deprecated updated->published mapping; a date
    feedparser cannot read (`Mon,30 Nov 2026 ...`, `29/11/2026`) is read by
    digest.collect.dates."""
    return _date_of(entry, "published") or _date_of(entry, "updated")


# Characters that show nothing and join nothing: a headline of them is no headline.
_INVISIBLE = re.compile("[\u200b\u2060\ufeff\u180e]")


def _host(url: str) -> str:
    """The host of a <source url>, without 'www.': how Google News names a site."""
    try:
        return (urlsplit(url).hostname or "").removeprefix("www.")
    except ValueError:
        return ""


def _trusted(when: datetime | None) -> datetime | None:
    """A date, unless it is more than FUTURE_SLACK ahead of now: a date days or years
    ahead is a typo or a placeholder (31 Dec 2099), and the item counts as undated
    rather than as the freshest news. Closer ahead (a wrong zone), `Article.when`
    clamps it to the collect time."""
    return None if when is not None and when > utcnow() + FUTURE_SLACK else when


def _date_of(entry: Any, key: str) -> datetime | None:
    parsed = dict.get(entry, f"{key}_parsed")
    if parsed:
        try:
            return datetime.fromtimestamp(timegm(parsed), UTC)
        except (OverflowError, ValueError, OSError):
            return None
    raw = dict.get(entry, key)
    return read_date(raw) if isinstance(raw, str) else None


def _type(entry: Any, key: str) -> str:
    detail = entry.get(key) or {}
    return detail.get("type", "text/html") if isinstance(detail, dict) else "text/html"


def _body(entry: Any, captions: frozenset[str]) -> tuple[str, str]:
    """The entry's longest HTML content that is not a photo caption."""
    contents = [c for c in entry.get("content") or [] if not captions
                or caption_key(c.get("value", ""), c.get("type", "text/html")) not in captions]
    if contents:
        best = max(contents, key=lambda c: ("html" in c.get("type", ""), len(c.get("value", ""))))
        return best.get("value", ""), best.get("type", "text/html")
    return "", "text/html"


def sanitize_html(raw: str, content_type: str, base: str, local: bool) -> str:
    # The sanitizer's time grows with the square of the nesting depth (100,000 nested
    # <div>s took minutes): only the first MAX_RAW_HTML characters are read, which is far
    # more than an issue ever shows of a story.
    raw = raw[:MAX_RAW_HTML]
    if "html" not in content_type:  # text/plain is not sanitized by feedparser: escape it
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", raw) if p.strip()]
        return "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    pictures = WEB + ("file",) if local else WEB
    links = pictures + ("mailto",)

    def absolute(tag: str, attr: str, value: str) -> str | None:
        if attr == "srcset":  # only absolute picture URLs, each with its width
            kept = []
            for candidate in value.split(",")[:20]:
                parts = candidate.split()
                url = join_url(base, clean_line(parts[0]).strip()) if parts else ""
                if url and has_scheme(url, pictures) and "," not in url:
                    kept.append(" ".join([url, *parts[1:2]]))
            return ", ".join(kept) or None
        if attr in ("href", "src"):
            url = join_url(base, clean_line(value).strip())
            return url if has_scheme(url, links if attr == "href" else pictures) else None
        return value

    return nh3.clean(raw, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRS,
                     attribute_filter=absolute, link_rel="noopener").strip()


def html_to_text(fragment: str) -> str:
    """Sanitized HTML -> one line of plain text."""
    return html_text(fragment)


def html_to_paragraphs(fragment: str) -> list[str]:
    """Sanitized HTML -> its paragraphs as plain text."""
    return html_paragraphs(fragment)


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, drop the fragment and tracking parameters."""
    parts = urlsplit(url.strip())
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if not TRACKING.match(k)])
    return urlunsplit((parts.scheme.lower(), web_netloc(parts.scheme, parts.netloc),
                       parts.path or "/", query, ""))



"""Feed bytes -> Articles: feedparser for the entries, our own pass for media fields.

feedparser folds <media:description> into the summary and drops <media:title>, so
image, alt, caption and credit are read from the XML ourselves, entry by entry.
Everything a feed says is hostile: characters XML/HTML refuse are removed from every
field (digest.textclean), links are http(s) only, and pictures are http(s) (or, for a
feed read from disk, file:) and never a tracking pixel.
"""

from __future__ import annotations

import hashlib
import html
import re
import xml.etree.ElementTree as ET
from calendar import timegm
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import feedparser
import nh3

from .config import FeedConfig, web_netloc
from .errors import FeedError
from .models import Article, Image
from .textclean import XML_INVALID, clean_feed_bytes, clean_line, clean_text

MEDIA = "{http://search.yahoo.com/mrss/}"
ATOM = "{http://www.w3.org/2005/Atom}"
RSS1 = "{http://purl.org/rss/1.0/}"
IMAGE_EXT = re.compile(r"\.(jpe?g|png|gif|webp|avif)(\?|$)", re.I)
TRACKING = re.compile(r"^(utm_\w+|fbclid|gclid|mc_cid|mc_eid|ref|cmpid)$", re.I)
MIN_PICTURE_PX = 100  # a declared width or height below this is a pixel or a rule
WEB = ("http", "https")
# Field caps (characters): far above any real headline or story, far below what an
# entity-expanding feed can produce. A body over MAX_BODY is dropped, not cut mid-tag.
MAX_TITLE, MAX_LINE, MAX_SUMMARY, MAX_BODY = 1_000, 300, 20_000, 500_000
MAX_RAW_HTML = 50_000
_DECLARATION = re.compile(r"^\s*<\?xml\b[^>]*\?>")

ALLOWED_TAGS = {
    "p", "a", "b", "strong", "i", "em", "ul", "ol", "li", "blockquote", "br",
    "h2", "h3", "h4", "img", "figure", "figcaption", "span", "sub", "sup",
}
ALLOWED_ATTRS = {"a": {"href", "title"}, "img": {"src", "alt", "width", "height"}}


def parse_feed(
    data: bytes, feed: FeedConfig, base_url: str, headers: Mapping[str, str] | None = None
) -> list[Article]:
    """Parse a fetched feed body. Raises FeedError if it is not a feed at all."""
    response_headers = {k.lower(): v for k, v in (headers or {}).items()}
    if not data.strip():
        raise FeedError(f"feed {feed.name!r} ({feed.url}) is empty; check its url in [[feeds]]")
    if base_url.startswith(("http://", "https://")):
        response_headers.setdefault("content-location", base_url)
    data = clean_feed_bytes(data, response_headers.get("content-type", "").lower())
    parsed = feedparser.parse(data, response_headers=response_headers, sanitize_html=False,
                              resolve_relative_uris=False)
    if not parsed.get("version") and not parsed.get("entries"):
        kind = response_headers.get("content-type", "").split(";")[0] or "unknown content"
        detail = f" ({parsed.bozo_exception})" if parsed.get("bozo_exception") else ""
        raise FeedError(
            f"feed {feed.name!r} ({feed.url}) is not an RSS or Atom feed: got {kind}{detail}; "
            "check its url in [[feeds]]"
        )
    media = _media_by_entry(data, len(parsed.entries), parsed.get("encoding") or "utf-8")
    # file: pictures only from a feed read from disk (the bundled samples); a web feed
    # pointing at file:///etc/... gets nothing.
    local = not _has_scheme(feed.url, WEB)
    return [
        _article(entry, feed, base_url, media[i] if media else _Media(), local)
        for i, entry in enumerate(parsed.entries)
    ]


def _article(entry: Any, feed: FeedConfig, base: str, media: _Media, local: bool) -> Article:
    link = _join(base, clean_line(entry.get("link", "") or "").strip())
    guid = entry.get("id") or link or hashlib.sha256("\n".join(
        str(dict.get(entry, k) or "") for k in ("title", "published", "updated", "summary")
    ).encode("utf-8", "replace")).hexdigest()
    article_id = hashlib.sha256(f"{feed.url}\n{guid}".encode("utf-8", "replace")).hexdigest()[:20]

    body_raw, body_type = _body(entry)
    summary_raw = clean_text(entry.get("summary", "") or "")
    if summary_raw and _plain(summary_raw, "text/html") in media.descriptions:
        summary_raw = ""  # feedparser put the media:description there
    body_html = _sanitize(clean_text(body_raw), body_type, base, local) if body_raw else ""
    if not body_html and summary_raw:
        body_html = _sanitize(summary_raw, _type(entry, "summary_detail"), base, local)
    summary = _plain(summary_raw, _type(entry, "summary_detail")) if summary_raw else ""
    if not summary:
        summary = html_to_text(body_html)

    tags = entry.get("tags") or []
    category = feed.category or (tags[0].get("term") or tags[0].get("label") or "" if tags else "")
    title = _plain(entry.get("title", "") or "", _type(entry, "title_detail"))
    return Article(
        id=article_id,
        feed_url=feed.url,
        feed_name=feed.name,
        # Only web links: a javascript:, data: or file: "link" from a feed never reaches a
        # reader.
        url=clean_line(canonical_url(link)) if _has_scheme(link, WEB) else "",
        # Capped: a feed's entities can expand a small file into a huge field.
        title=clean_line(title)[:MAX_TITLE] or "(untitled)",
        summary=clean_text(summary)[:MAX_SUMMARY],
        body_html=clean_text(body_html)[:MAX_BODY] if len(body_html) <= MAX_BODY else "",
        category=clean_line(category).strip()[:MAX_LINE],
        author=clean_line(_plain(entry.get("author", "") or "", "text/html"))[:MAX_LINE],
        image=_image(media, body_html, base, local),
        published=_published(entry),
    )


def _join(base: str, link: str) -> str:
    """`link` made absolute; "" for no link, or one urljoin refuses (`http://[::1`),
    which would otherwise cost the whole feed."""
    if not link:
        return ""
    try:
        return urljoin(base, link)
    except ValueError:
        return ""


def _published(entry: Any) -> datetime | None:
    """`published`, else `updated`; None when absent or out of datetime's range (year 0,
    year 10000 in UTC). Read without feedparser's deprecated updated->published mapping."""
    for key in ("published_parsed", "updated_parsed"):
        parsed = dict.get(entry, key)
        if parsed:
            try:
                return datetime.fromtimestamp(timegm(parsed), UTC)
            except (OverflowError, ValueError, OSError):
                return None
    return None


def _has_scheme(url: str, schemes: tuple[str, ...]) -> bool:
    """url is absolute in one of `schemes`; a web URL also names a host."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # e.g. an unbalanced [ in the host
        return False
    return parts.scheme.lower() in schemes and (bool(parts.netloc) or parts.scheme not in WEB)


def _type(entry: Any, key: str) -> str:
    detail = entry.get(key) or {}
    return detail.get("type", "text/html") if isinstance(detail, dict) else "text/html"


def _body(entry: Any) -> tuple[str, str]:
    contents = entry.get("content") or []
    if contents:
        best = max(contents, key=lambda c: ("html" in c.get("type", ""), len(c.get("value", ""))))
        return best.get("value", ""), best.get("type", "text/html")
    return "", "text/html"


def _sanitize(raw: str, content_type: str, base: str, local: bool) -> str:
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
        if attr in ("href", "src"):
            url = _join(base, clean_line(value).strip())
            return url if _has_scheme(url, links if attr == "href" else pictures) else None
        return value

    return nh3.clean(raw, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRS,
                     attribute_filter=absolute, link_rel="noopener").strip()


def _plain(raw: str, content_type: str) -> str:
    raw = clean_text(raw[:MAX_RAW_HTML])  # before nh3, which would turn a NUL into U+FFFD
    if "html" in content_type:
        raw = nh3.clean(raw, tags=set())
        raw = html.unescape(raw)
    return re.sub(r"\s+", " ", raw).strip()


def html_to_text(fragment: str) -> str:
    """Sanitized HTML -> one line of plain text."""
    return " ".join(html_to_paragraphs(fragment))


def html_to_paragraphs(fragment: str) -> list[str]:
    """Sanitized HTML -> its paragraphs as plain text."""
    blocks = re.split(r"</?(?:p|li|h[2-4]|blockquote|br|figure|figcaption)\b[^>]*>", fragment)
    out = []
    for block in blocks:
        text = _plain(block, "text/html")
        if text:
            out.append(text)
    return out


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, drop the fragment and tracking parameters."""
    parts = urlsplit(url.strip())
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if not TRACKING.match(k)])
    return urlunsplit((parts.scheme.lower(), web_netloc(parts.scheme, parts.netloc),
                       parts.path or "/", query, ""))


@dataclass(frozen=True)
class _Picture:
    """One picture an entry offers: media:content/thumbnail, an enclosure or an <img>."""

    url: str
    alt: str = ""
    caption: str = ""
    credit: str = ""
    width: int | None = None  # as declared by the feed, in pixels
    height: int | None = None


@dataclass(frozen=True)
class _Media:
    """What an entry's media elements say, read from the XML ourselves."""

    pictures: tuple[_Picture, ...] = ()
    alt: str = ""  # entry-level media:title / description / credit, for any picture
    caption: str = ""
    credit: str = ""
    descriptions: frozenset[str] = frozenset()  # every media:description, as plain text


def _image(media: _Media, body_html: str, base: str, local: bool) -> Image | None:
    """The entry's first picture that is a real one: a web (or local file) URL, and not
    declared smaller than MIN_PICTURE_PX in either dimension (a tracking pixel)."""
    schemes = WEB + ("file",) if local else WEB
    for picture in (*media.pictures, *_inline_pictures(body_html)):
        url = _join(base, clean_line(picture.url).strip())
        if not _has_scheme(url, schemes) or _tiny(picture):
            continue
        # Plain text only: markup in a media:title (`<!--<script>`) is not an alt text.
        caption = _plain(picture.caption or media.caption, "text/html")
        alt = _plain(picture.alt or media.alt, "text/html") or caption
        return Image(url=clean_line(url), alt=clean_line(alt), caption=caption,
                     credit=clean_line(_plain(picture.credit or media.credit, "text/html")))
    return None


def _tiny(picture: _Picture) -> bool:
    return any(size is not None and size < MIN_PICTURE_PX
               for size in (picture.width, picture.height))


def _pixels(value: str | None) -> int | None:
    """A declared size: '600' or '600px' -> 600; '100%' or nonsense -> unknown."""
    match = re.fullmatch(r"\s*0*(\d{1,6})\s*(?:px)?\s*", value or "", re.I)
    return int(match.group(1)) if match else None


def _inline_pictures(body_html: str) -> Iterator[_Picture]:
    """<img> tags of the sanitized body (nh3 writes every attribute in double quotes)."""
    for tag in re.findall(r"<img\b[^>]*>", body_html):
        attrs = {k: html.unescape(v) for k, v in re.findall(r'\s([a-z]+)="([^"]*)"', tag)}
        if attrs.get("src"):
            yield _Picture(url=attrs["src"], alt=attrs.get("alt", ""),
                           width=_pixels(attrs.get("width")), height=_pixels(attrs.get("height")))


def _media_by_entry(data: bytes, count: int, encoding: str) -> list[_Media] | None:
    """Media of each entry, in document order.

    Returns None when the XML does not parse or the entry count differs from
    feedparser's, so that media is never attached to the wrong entry."""
    root = _xml_root(data, encoding)
    if root is None:
        return None
    items = [el for el in root.iter() if el.tag in ("item", f"{ATOM}entry", f"{RSS1}item")]
    if len(items) != count:
        return None
    return [_media(item) for item in items]


def _xml_root(data: bytes, encoding: str) -> ET.Element | None:
    try:
        return ET.fromstring(data)
    except (ET.ParseError, ValueError, LookupError):  # expat lacks big5, shift_jis, ...
        pass
    # Read the text as feedparser decoded it, without the characters XML refuses (raw in
    # a non-UTF-8 feed) and without the declaration naming an encoding expat lacks.
    try:
        text = data.decode(encoding)
    except (LookupError, UnicodeDecodeError):
        return None
    text = _DECLARATION.sub("", XML_INVALID.sub("", text).lstrip("\ufeff"), count=1)
    try:
        return ET.fromstring(text)
    except (ET.ParseError, ValueError, LookupError):
        return None


def _text(el: ET.Element | None) -> str:
    return re.sub(r"\s+", " ", "".join(el.itertext())).strip() if el is not None else ""


def _media(item: ET.Element) -> _Media:
    groups = [item, *item.findall(f"{MEDIA}group")]
    pictures: list[_Picture] = []
    for group in groups:
        for content in group.findall(f"{MEDIA}content"):
            url = content.get("url", "")
            kind = content.get("medium", "") or content.get("type", "")
            if url and ("image" in kind or IMAGE_EXT.search(url)):
                pictures.append(_Picture(
                    url=url, alt=_text(content.find(f"{MEDIA}title")),
                    caption=_text(content.find(f"{MEDIA}description")),
                    credit=_text(content.find(f"{MEDIA}credit")),
                    width=_pixels(content.get("width")), height=_pixels(content.get("height"))))
        for thumb in group.findall(f"{MEDIA}thumbnail"):
            if thumb.get("url"):
                pictures.append(_Picture(url=thumb.get("url", ""),
                                         width=_pixels(thumb.get("width")),
                                         height=_pixels(thumb.get("height"))))
    for enclosure in item.findall("enclosure"):
        if enclosure.get("type", "").startswith("image/") and enclosure.get("url"):
            pictures.append(_Picture(url=enclosure.get("url", "")))
    for link in item.findall(f"{ATOM}link"):
        if link.get("rel") == "enclosure" and link.get("type", "").startswith("image/"):
            pictures.append(_Picture(url=link.get("href", "")))

    def entry_level(tag: str) -> str:
        for group in groups:
            value = _text(group.find(f"{MEDIA}{tag}"))
            if value:
                return value
        return ""

    return _Media(
        pictures=tuple(pictures), alt=entry_level("title"), caption=entry_level("description"),
        credit=entry_level("credit"),
        descriptions=frozenset(clean_text(_text(el)) for el in item.iter(f"{MEDIA}description")),
    )

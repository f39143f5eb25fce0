"""Feed bytes -> Articles: feedparser for the entries, our own pass for media fields.

feedparser folds <media:description> into the summary and drops <media:title>, so
image, alt, caption and credit are read from the XML ourselves, entry by entry.
"""

from __future__ import annotations

import hashlib
import html
import re
import xml.etree.ElementTree as ET
from calendar import timegm
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import feedparser
import nh3

from .config import FeedConfig
from .errors import FeedError
from .models import Article, Image

MEDIA = "{http://search.yahoo.com/mrss/}"
ATOM = "{http://www.w3.org/2005/Atom}"
RSS1 = "{http://purl.org/rss/1.0/}"
IMAGE_EXT = re.compile(r"\.(jpe?g|png|gif|webp|avif)(\?|$)", re.I)
TRACKING = re.compile(r"^(utm_\w+|fbclid|gclid|mc_cid|mc_eid|ref|cmpid)$", re.I)

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
    if base_url.startswith(("http://", "https://")):
        response_headers.setdefault("content-location", base_url)
    parsed = feedparser.parse(data, response_headers=response_headers, sanitize_html=False,
                              resolve_relative_uris=False)
    if not parsed.version and not parsed.entries:
        kind = response_headers.get("content-type", "").split(";")[0] or "unknown content"
        detail = f" ({parsed.bozo_exception})" if parsed.get("bozo_exception") else ""
        raise FeedError(
            f"feed {feed.name!r} ({feed.url}) is not an RSS or Atom feed: got {kind}{detail}; "
            "check its url in [[feeds]]"
        )
    media = _media_by_entry(data, len(parsed.entries))
    return [
        _article(entry, feed, base_url, media[i] if media else {})
        for i, entry in enumerate(parsed.entries)
    ]


def _article(entry: Any, feed: FeedConfig, base: str, media: dict[str, str]) -> Article:
    link = urljoin(base, entry.get("link", "") or "")
    guid = entry.get("id") or link or hashlib.sha256(
        (entry.get("title", "") + entry.get("published", "")).encode()
    ).hexdigest()
    article_id = hashlib.sha256(f"{feed.url}\n{guid}".encode()).hexdigest()[:20]

    body_raw, body_type = _body(entry)
    caption = media.get("caption", "")
    summary_raw = entry.get("summary", "") or ""
    if caption and _plain(summary_raw, "text/html") == caption:
        summary_raw = ""  # feedparser put the media:description there
    body_html = _sanitize(body_raw, body_type, base) if body_raw else ""
    if not body_html and summary_raw:
        body_html = _sanitize(summary_raw, _type(entry, "summary_detail"), base)
    summary = _plain(summary_raw, _type(entry, "summary_detail")) if summary_raw else ""
    if not summary:
        summary = html_to_text(body_html)

    image = _image(media, body_html, base)
    published = entry.get("published_parsed") or entry.get("updated_parsed")
    tags = entry.get("tags") or []
    category = feed.category or (tags[0].get("term") or tags[0].get("label") or "" if tags else "")
    return Article(
        id=article_id,
        feed_url=feed.url,
        feed_name=feed.name,
        # Only web links: a javascript: or data: "link" from a feed never reaches a reader.
        url=canonical_url(link) if link.startswith(("http://", "https://")) else "",
        title=_plain(entry.get("title", ""), _type(entry, "title_detail")) or "(untitled)",
        summary=summary,
        body_html=body_html,
        category=category.strip(),
        author=_plain(entry.get("author", "") or "", "text/html"),
        image=image,
        published=datetime.fromtimestamp(timegm(published), UTC) if published else None,
    )


def _type(entry: Any, key: str) -> str:
    detail = entry.get(key) or {}
    return detail.get("type", "text/html") if isinstance(detail, dict) else "text/html"


def _body(entry: Any) -> tuple[str, str]:
    contents = entry.get("content") or []
    if contents:
        best = max(contents, key=lambda c: ("html" in c.get("type", ""), len(c.get("value", ""))))
        return best.get("value", ""), best.get("type", "text/html")
    return "", "text/html"


def _sanitize(raw: str, content_type: str, base: str) -> str:
    if "html" not in content_type:  # text/plain is not sanitized by feedparser: escape it
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", raw) if p.strip()]
        return "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)

    def absolute(tag: str, attr: str, value: str) -> str | None:
        if attr in ("href", "src"):
            url = urljoin(base, value.strip())
            if not url.startswith(("http://", "https://", "file:", "mailto:")):
                return None
            return url
        return value

    return nh3.clean(raw, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRS,
                     attribute_filter=absolute, link_rel="noopener").strip()


def _plain(raw: str, content_type: str) -> str:
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
    netloc = parts.netloc.lower()
    if (parts.scheme == "http" and netloc.endswith(":80")) or (
        parts.scheme == "https" and netloc.endswith(":443")
    ):
        netloc = netloc.rsplit(":", 1)[0]
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", query, ""))


def _image(media: dict[str, str], body_html: str, base: str) -> Image | None:
    url = media.get("url", "")
    alt = media.get("alt", "")
    if not url:
        match = re.search(r"<img\b[^>]*>", body_html)
        if match:
            src = re.search(r'\ssrc="([^"]+)"', match.group(0))
            alt_match = re.search(r'\salt="([^"]*)"', match.group(0))
            url = html.unescape(src.group(1)) if src else ""
            alt = html.unescape(alt_match.group(1)) if alt_match and not alt else alt
    if not url:
        return None
    url = urljoin(base, url)
    if not url.startswith(("http://", "https://", "file:")):
        return None
    caption = media.get("caption", "")
    return Image(url=url, alt=alt or caption, caption=caption, credit=media.get("credit", ""))


def _media_by_entry(data: bytes, count: int) -> list[dict[str, str]] | None:
    """Image url/alt/caption/credit of each entry, in document order.

    Returns None when the XML does not parse cleanly or the entry count differs from
    feedparser's, so that media is never attached to the wrong entry."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return None
    items = [el for el in root.iter() if el.tag in ("item", f"{ATOM}entry", f"{RSS1}item")]
    if len(items) != count:
        return None
    return [_media(item) for item in items]


def _text(el: ET.Element | None) -> str:
    return re.sub(r"\s+", " ", "".join(el.itertext())).strip() if el is not None else ""


def _media(item: ET.Element) -> dict[str, str]:
    found: dict[str, str] = {}
    candidates: list[tuple[str, ET.Element | None]] = []
    groups = [item, *item.findall(f"{MEDIA}group")]
    for group in groups:
        for content in group.findall(f"{MEDIA}content"):
            url = content.get("url", "")
            kind = content.get("medium", "") or content.get("type", "")
            if url and ("image" in kind or IMAGE_EXT.search(url)):
                candidates.append((url, content))
        for thumb in group.findall(f"{MEDIA}thumbnail"):
            if thumb.get("url"):
                candidates.append((thumb.get("url", ""), None))
    for enclosure in item.findall("enclosure"):
        if enclosure.get("type", "").startswith("image/") and enclosure.get("url"):
            candidates.append((enclosure.get("url", ""), None))
    for link in item.findall(f"{ATOM}link"):
        if link.get("rel") == "enclosure" and link.get("type", "").startswith("image/"):
            candidates.append((link.get("href", ""), None))
    if candidates:
        url, element = candidates[0]
        found["url"] = url.strip()
        if element is not None:
            found["alt"] = _text(element.find(f"{MEDIA}title"))
            found["caption"] = _text(element.find(f"{MEDIA}description"))
            found["credit"] = _text(element.find(f"{MEDIA}credit"))
    for key, tag in (("alt", "title"), ("caption", "description"), ("credit", "credit")):
        if not found.get(key):
            for group in groups:
                value = _text(group.find(f"{MEDIA}{tag}"))
                if value:
                    found[key] = value
                    break
    return found

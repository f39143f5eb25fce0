"""Feed bytes -> feedparser's result, from feedparser-rs when it can be trusted.

feedparser (pure Python, ~0.3 ms per item) stays the reference; feedparser-rs (Rust,
~20x faster, with resource limits) reads the common case. Its result is converted to
the feedparser shape digest.collect.parse reads (FeedParserDicts with the keys
feedparser would set), and feedparser reads the feed instead whenever the fast result
may differ (tests/collect/test_fast_parse_agrees.py checks every corpus file):

- the fast parser raised, or said the feed is not well-formed (bozo): feedparser's
  recovery and its error message are the ones digest reports;
- the feed is, says it is, or is served as anything but UTF-8 (or ASCII): feedparser's
  encoding detection and legacy codecs;
- it gave no entries, or an entry without a link: feedparser's reading of such a feed
  (a <guid> as the link, Atom links without rel) is the one digest was written for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from xml.parsers import expat

import feedparser
from feedparser.datetimes import _parse_date
from feedparser.mixin import _FeedParserMixin

looks_like_html = _FeedParserMixin.looks_like_html

try:  # an optional speed-up: without it every feed is read by feedparser
    import feedparser_rs
except ImportError:  # pragma: no cover - installed with digest
    feedparser_rs = None  # type: ignore[assignment]

# <?xml version="1.0" encoding="..."?> at the start (after an optional UTF-8 BOM)
_DECLARED = re.compile(
    rb"^(?:\xef\xbb\xbf)?\s*<\?xml[^>]{0,200}?encoding\s*=\s*[\"']([^\"']{1,40})")
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([^\s;\"']+)", re.I)
_UTF8 = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff", b"\x00\x00\x00<", b"<\x00", b"\x00<")


def parse(data: bytes, headers: Mapping[str, str]) -> Any:
    """feedparser.parse(data)'s result (as digest calls it), read by feedparser-rs
    when that is safe. `headers` are the response's, keys lower-case."""
    return parse_with_reason(data, headers)[0]


def parse_with_reason(data: bytes, headers: Mapping[str, str]) -> tuple[Any, str | None]:
    """(result, why feedparser read it): the reason is None when the fast path did."""
    fast, reason = _fast(data, headers)
    return (fast, None) if reason is None else (reference(data, headers), reason)


def parse_fast(data: bytes, headers: Mapping[str, str]) -> Any | None:
    """parse(data, headers) when the fast path reads it, else None (feedparser has not
    been called)."""
    return _fast(data, headers)[0]


def _fast(data: bytes, headers: Mapping[str, str]) -> tuple[Any | None, str | None]:
    """(the fast path's result, None), or (None, why feedparser should read it)."""
    reason = _not_utf8(data, headers) or _distrust_bytes(data)
    if reason is None:
        if feedparser_rs is None:
            reason = "feedparser-rs is not installed"
        else:
            try:
                fast = feedparser_rs.parse(data, sanitize_html=False, resolve_relative_uris=False)
                reason = _distrust(fast, data)
                if reason is None:
                    return _converted(fast, headers, _untyped(data)), None
            except Exception as e:  # a bug in the fast parser is feedparser's to read
                reason = f"exception {type(e).__name__}"
    return None, reason


def _distrust_bytes(data: bytes) -> str | None:
    """Why feedparser would read these bytes differently, told from the bytes alone
    (before the fast parser spends anything on them), or None. Each rule here and in
    _distrust is a difference tests/collect/test_fast_parse_agrees.py found."""
    if not _well_formed(data):
        return "not well-formed XML"  # feedparser-rs reads on; feedparser says bozo
    if _EMPTY_ELEMENT.search(data):
        # feedparser-rs 0.7 reads an empty <description/> as the next element's text
        return "an empty element"
    if _C1.search(data):
        return "C1 controls"  # feedparser reads them as windows-1252
    if _MARKUP_IN_TEXT.search(data):
        return "raw markup inside a title or description"  # feedparser-rs keeps the first text
    if _MEDIA_TEXT.search(data) and not _media_text_last(data):
        # feedparser files <media:title> as the title and <media:description> as the
        # summary or the content, by the order and depth they come in
        return "media:title or media:description before the item's own text"
    return None


def _media_text_last(data: bytes) -> bool:
    """Whether every <media:title> and <media:description> comes after its item's own
    <title>, <description>/<summary> and <content>, inside a media:content or
    media:group, in an item that has a <title> (and a <content>, where there is a
    media:description): there feedparser keeps the
    item's own title, summary and content, as the fast path reads them (it files the
    caption as the summary's type, deeper down, and digest.collect.parse reads the
    caption from the XML itself). tests/collect/test_fast_parse_media_text.py tries
    the orders."""
    if _MEDIA_TEXT_ATTRIBUTES.search(data):
        return False  # a type= of its own: feedparser takes it for the summary's type
    items = [m.start() for m in _ITEM_START.finditer(data)]
    if not items or _MEDIA_TEXT.search(data, 0, items[0]):
        return False  # the channel's own media text: its title
    for start, end in zip(items, [*items[1:], len(data)], strict=True):
        media = _MEDIA_TEXT.search(data, start, end)
        if media is None:
            continue
        if _OWN_TEXT.search(data, media.start(), end) \
                or _OWN_TITLE.search(data, start, media.start()) is None:
            return False
        # Without a <content> of its own before it, feedparser makes the first
        # <media:description> the item's content, read as text/plain or HTML by a guess
        if data.find(b"<media:description", start, end) >= 0 \
                and _OWN_CONTENT.search(data, start, media.start()) is None:
            return False
        # Media text outside a media:content or media:group is at the item's own
        # depth, where feedparser lets it replace the item's summary
        if _MEDIA_TEXT.search(_MEDIA_BLOCK.sub(b"", data[start:end])):
            return False
    return True


def _distrust(fast: Any, data: bytes) -> str | None:
    """Why feedparser's reading of this feed may differ from the fast one, or None."""
    if fast.bozo:
        return "bozo"
    if not fast.entries:
        return "no entries"
    if len(fast.entries) >= MAX_ENTRIES:
        return "at the fast parser's entry limit"
    if not str(fast.version or "").startswith(("rss", "atom1", "atom10")):
        return f"version {str(fast.version)[:20]!r}"  # Atom 0.3 (base64 content), RDF, JSON
    if not str(fast.version).startswith("rss"):
        if _PREFIXED_ATOM.search(data):
            return "the Atom namespace with a prefix"  # the type checks below read <title ...>
        first = _ITEM_START.search(data)
        entries = first.start() if first else 0
        if any(_ATOM_HTML[key].search(data, entries) for key in _untyped(data)):
            # feedparser-rs calls an Atom <title> without type= HTML; feedparser (and
            # RFC 4287) text: only a feed where no such element says html is mapped
            return "Atom text with and without type=html"
    if _PERMALINK_GUID.search(data) and any(not _WEB.match(e.id or "") for e in fast.entries):
        # feedparser's guidislink depends on whether <guid> comes before <link>
        return "a permalink <guid> that is no web address"
    at = 0
    rss = not str(fast.version).startswith("atom")
    media_text = _MEDIA_TEXT.search(data) is not None
    declared = b"<!DOCTYPE" in data or b"<!ENTITY" in data
    for e in fast.entries:
        if not e.link:
            return "an entry without a link"
        if media_text and not e.title:
            return "an entry without a title beside media text"  # feedparser's: media:title
        # feedparser-rs makes a relative or missing link absolute (xml:base, the
        # channel's link); feedparser does it differently: only links the feed spells out
        found = _find_link(data, e.link, at)
        if found < 0:
            return "an entry link that is not in the feed as written"
        at = found
        if not _SCHEME.match(e.link):
            return "a relative link"  # feedparser resolves it against xml:base
        if "&" in e.link and not rss:
            return "an entity in an Atom link"  # feedparser-rs leaves &amp; in an href
        if len(e.tags or ()) >= MAX_TAGS or len(e.content or ()) >= MAX_CONTENT:
            return "at the fast parser's tag or content limit"
        if declared and any("&" in (t.term or "") or "&" in (t.label or "")
                            for t in e.tags or ()):
            # feedparser-rs leaves an attribute's references as written (unescaped in
            # _entry), but not one a DOCTYPE declares
            return "an entity in a category of a feed with a DOCTYPE"
    return None


def _well_formed(data: bytes) -> bool:
    """Whether expat, feedparser's strict parser, reads these bytes without an error
    (namespaces on, as feedparser has them)."""
    parser = expat.ParserCreate(namespace_separator=" ")
    try:
        parser.Parse(data, True)
    except expat.ExpatError:
        return False
    return True


def _find_link(data: bytes, link: str, at: int) -> int:
    """Where `link` is written in `data` (searching from `at` first), or -1."""
    for spelled in {link, link.replace("&", "&amp;")}:
        raw = spelled.encode("utf-8")
        found = data.find(raw, at)
        if found < 0:
            found = data.find(raw)
        if found >= 0:
            return found
    return -1


def reference(data: bytes, headers: Mapping[str, str]) -> Any:
    """feedparser's own reading: the reference the fast path is checked against."""
    return feedparser.parse(data, response_headers=dict(headers), sanitize_html=False,
                            resolve_relative_uris=False)


def _not_utf8(data: bytes, headers: Mapping[str, str]) -> str | None:
    """Why these bytes are not plainly UTF-8, or None."""
    if data.startswith(_BOMS):
        return "UTF-16/32"
    charset = _CHARSET.search(headers.get("content-type", ""))
    if charset and charset[1].lower() not in _UTF8:
        return f"served as {charset[1][:40]}"
    declared = _DECLARED.match(data[:512])
    if declared and declared[1].decode("ascii", "replace").lower() not in _UTF8:
        return f"declared {declared[1][:40].decode('ascii', 'replace')}"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "not valid UTF-8"
    return None


_Dict = feedparser.FeedParserDict
# Dates feedparser-rs and feedparser read alike: RFC 822 and ISO 8601 with every field
# in range (they differ on hour 24, second 60, zones like -2400 or -9959, years < 1900).
_PLAIN_DATE = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(?:0?[1-9]|[12]\d|3[01]) "
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (?:19|20)\d\d "
    r"(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d)? (?:GMT|UTC|[+-](?:0\d|1[0-4])[0-5]\d)\Z"
    r"|(?:19|20)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d"
    r"(?::[0-5]\d(?:\.\d{1,6})?)?(?:Z|[+-](?:0\d|1[0-4]):[0-5]\d)\Z")
# feedparser-rs' default limits (ParserLimits): a feed at one of them may have been cut
MAX_ENTRIES, MAX_TAGS, MAX_CONTENT = 10_000, 100, 10
_MEDIA_TEXT = re.compile(rb"<media:(?:title|description)[\s>/]")
_ITEM_START = re.compile(rb"<(?:item|entry)[\s>/]")
_OWN_TEXT = re.compile(rb"<(?:title|description|summary|content(?::encoded)?)[\s>/]")
_OWN_TITLE = re.compile(rb"<title[\s>/]")
_OWN_CONTENT = re.compile(rb"<content(?::encoded)?[\s>]")
_MEDIA_TEXT_ATTRIBUTES = re.compile(rb"<media:(?:title|description)\s+[^\s>/]")
_MEDIA_BLOCK = re.compile(rb"<media:(content|group)\b[^>]*(?<!/)>.*?</media:\1\s*>", re.S)
_PREFIXED_ATOM = re.compile(rb"xmlns:[\w.-]+\s*=\s*[\"']http://www\.w3\.org/2005/Atom[\"']")
_ATOM_UNTYPED = {k: re.compile(rb"<%s(?:\s(?![^>]*\btype\s*=)[^>]*)?>" % k.encode())
                 for k in ("title", "summary")}
_ATOM_HTML = {k: re.compile(rb"<%s\s[^>]*\btype\s*=\s*[\"'](?:html|text/html)[\"']"
                            % k.encode()) for k in ("title", "summary")}
_REFERENCE = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|lt|gt|amp|quot|apos);")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
_PERMALINK_GUID = re.compile(rb"<guid(?:\s*>|[^>]*ispermalink\s*=\s*[\"']?true)", re.I)
_WEB = re.compile(r"https?://", re.I)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_EMPTY_ELEMENT = re.compile(rb"<([A-Za-z][\w:.-]*)\s*/>|<([A-Za-z][\w:.-]*)\s*>\s*</\2\s*>")
_C1 = re.compile(rb"\xc2[\x80-\x9f]")
_MARKUP_IN_TEXT = re.compile(
    rb"<(?:title|description|summary)(?:\s[^>]*)?>[^<]*<(?![/!])", re.I)


def _attribute(value: str | None) -> str | None:
    """An attribute value as an XML parser gives it: the five named references and
    numeric ones replaced (expat has checked the document: there are no others)."""
    if not value or "&" not in value:
        return value
    return _REFERENCE.sub(_referenced, value)


def _referenced(match: re.Match[str]) -> str:
    name = match[1]
    if name[0] == "#":
        number = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
        return chr(number)
    return _NAMED[name]


def _untyped(data: bytes) -> frozenset[str]:
    """The Atom text elements (title, summary) some entry writes without a type=."""
    first = _ITEM_START.search(data)
    entries = first.start() if first else 0
    return frozenset(k for k, pattern in _ATOM_UNTYPED.items() if pattern.search(data, entries))


def _text(into: dict[str, Any], source: Any, key: str, rss: bool,
          untyped: frozenset[str] = frozenset()) -> None:
    value = getattr(source, key, None)
    if value is not None:
        into[key] = value
    detail = getattr(source, f"{key}_detail", None)
    if detail is not None:
        kind = detail.type or "text/plain"
        if not rss and key in untyped and kind == "text/html":
            kind = "text/plain"  # no type= is type="text" (_distrust: none says html)
        if rss and key == "title":  # RSS says nothing: feedparser guesses, as here
            text = detail.value or ""  # HTML to feedparser needs a close tag or an entity
            html = ("<" in text or "&" in text) and looks_like_html(text)
            kind = "text/html" if html else "text/plain"
        into[f"{key}_detail"] = dict(type=kind, value=detail.value or "")


def _dates(into: dict[str, Any], source: Any) -> None:
    for key in ("published", "updated"):
        raw = getattr(source, key, None)
        if raw is not None:
            into[key] = raw
            # feedparser's own reading of the date, unless it is a plain one (on
            # which the two agree): feedparser's date parsing is a third of the time
            parsed = getattr(source, f"{key}_parsed", None) if _PLAIN_DATE.match(raw) \
                else None
            if parsed is None:  # feedparser rolls 30 Feb over into March
                parsed = _parse_date(raw)
            if parsed is not None:
                into[f"{key}_parsed"] = parsed


def _entry(e: Any, rss: bool, untyped: frozenset[str]) -> Any:
    out: dict[str, Any] = dict(link=e.link, guidislink=bool(e.guidislink))
    if e.id is not None:
        out["id"] = e.id
    _text(out, e, "title", rss, untyped)
    _text(out, e, "summary", rss, untyped)
    _dates(out, e)
    if e.author:
        out["author"] = e.author
    if e.content:
        out["content"] = [dict(type=c.type or "text/plain", value=c.value or "")
                          for c in e.content]
    if e.tags:
        # An RSS <category> is element text, read alike; Atom's term and label, and
        # RSS's domain, are attributes, whose references feedparser-rs leaves as written
        out["tags"] = [dict(term=t.term if rss else _attribute(t.term),
                            scheme=_attribute(t.scheme), label=_attribute(t.label))
                       for t in e.tags]
    source = e.source
    if source is not None:
        out["source"] = dict({k: v for k in ("title", "href", "link")
                               if (v := getattr(source, k, None)) is not None})
    return out


def _converted(fast: Any, headers: Mapping[str, str], untyped: frozenset[str]) -> Any:
    rss = not str(fast.version).startswith("atom")
    feed: dict[str, Any] = {}
    _text(feed, fast.feed, "title", rss)
    if fast.feed.language:
        feed["language"] = fast.feed.language
    _dates(feed, fast.feed)
    return _Dict(version=fast.version, bozo=False, encoding="utf-8", feed=feed,
                 entries=[_entry(e, rss, untyped) for e in fast.entries], headers=dict(headers))

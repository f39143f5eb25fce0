"""A feed entry's pictures, read from the XML ourselves: media:content, media:thumbnail,
media:group, enclosures and the body's <img> and srcset, and the one rendition chosen."""

from __future__ import annotations

import html
import itertools
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from digest.collect.htmltext import plain_text, squash
from digest.collect.links import WEB, has_scheme, join_url
from digest.collect.textclean import XML_INVALID, clean_line, clean_text
from digest.models import Image

MEDIA = "{http://search.yahoo.com/mrss/}"


ATOM = "{http://www.w3.org/2005/Atom}"


RSS1 = "{http://purl.org/rss/1.0/}"


IMAGE_EXT = re.compile(r"\.(jpe?g|png|gif|webp|avif)(\?|$)", re.I)


MIN_PICTURE_PX = 100  # a declared width or height below this is a pixel or a rule


_DECLARATION = re.compile(r"^\s*<\?xml\b[^>]*\?>")


# The rendition a picture is chosen at: the smallest at least this wide (the big story's
# 600 px slot at 2x), else the widest there is.
PICTURE_WIDTH = 1200


SLOT_WIDTH = 600  # the big story's slot at 1x: a declared rendition this wide will do


INLINE_PICTURES = 10  # <img> tags of a body looked at for its picture


@dataclass(frozen=True)
class _Picture:
    """One picture an entry offers: media:content/thumbnail, an enclosure or an <img>."""

    url: str
    alt: str = ""
    caption: str = ""
    credit: str = ""
    width: int | None = None  # as declared by the feed, in pixels
    height: int | None = None
    srcset: tuple[_Picture, ...] = ()  # an <img>'s other renditions
    thumbnail: bool = False  # a media:thumbnail: small unless it says otherwise


@dataclass(frozen=True)
class Media:
    """What an entry's media elements say, read from the XML ourselves."""

    pictures: tuple[_Picture, ...] = ()
    alt: str = ""  # entry-level media:title / description / credit, for any picture
    caption: str = ""
    credit: str = ""
    descriptions: frozenset[str] = frozenset()  # every photo caption, as plain text
    description: str = ""  # the item's own <description> (RSS), raw
    guid: str = ""  # the item's <guid> as written (feedparser resolves it as a link)


def entry_image(media: Media, body_html: str, base: str, local: bool) -> Image | None:
    """The entry's picture: the best rendition (see `best_rendition`) of its media
    pictures (media:content, media:thumbnail, media:group, enclosures), else of the
    body's first <img> and its srcset. Only web (or local file) URLs, never one declared
    smaller than MIN_PICTURE_PX in either dimension (a tracking pixel)."""
    schemes = WEB + ("file",) if local else WEB

    def usable(pictures: Iterator[_Picture] | tuple[_Picture, ...]) -> list[_Picture]:
        out = []
        for picture in pictures:
            url = join_url(base, clean_line(picture.url).strip())
            if has_scheme(url, schemes) and not _tiny(picture):
                out.append(replace(picture, url=clean_line(url)))
        return out

    renditions = usable(media.pictures)
    if not renditions:
        renditions = _first_inline(body_html, usable)
    if not renditions:
        return None
    best = best_rendition(renditions)
    # A caption or credit given on any rendition is the picture's.
    caption = plain_text(best.caption or next((p.caption for p in renditions if p.caption), "")
                     or media.caption, "text/html")
    alt = plain_text(best.alt or next((p.alt for p in renditions if p.alt), "") or media.alt,
                 "text/html") or caption
    credit = plain_text(best.credit or next((p.credit for p in renditions if p.credit), "")
                    or media.credit, "text/html")
    return Image(url=best.url, alt=clean_line(alt), caption=caption, credit=clean_line(credit))


def _first_inline(body_html: str, usable: Callable[[tuple[_Picture, ...]], list[_Picture]]
                  ) -> list[_Picture]:
    """The renditions of the body's picture: its first <img> that declares a size (or
    a srcset), else its first <img> at all. An undeclared first <img> is as often a
    tracking pixel as the story's photo, and a declared one later is a real picture."""
    first: list[_Picture] = []
    for inline in itertools.islice(_inline_pictures(body_html), INLINE_PICTURES):
        renditions = usable((inline, *inline.srcset))
        if not renditions:
            continue
        if inline.srcset or inline.width is not None or inline.height is not None:
            return renditions
        first = first or renditions
    return first


def best_rendition(renditions: list[_Picture]) -> _Picture:
    """The smallest rendition at least PICTURE_WIDTH wide; else the widest declared at
    least SLOT_WIDTH; else one of unknown width that is no thumbnail (often the original,
    beside declared thumbnails); else the widest declared; else the first."""
    known = [p for p in renditions if p.width is not None]
    wide = [p for p in known if p.width is not None and p.width >= PICTURE_WIDTH]
    if wide:
        return min(wide, key=lambda p: p.width or 0)
    if any((p.width or 0) >= SLOT_WIDTH for p in known):
        return max(known, key=lambda p: p.width or 0)
    unknown = [p for p in renditions if p.width is None and not p.thumbnail]
    if unknown:
        return unknown[0]
    if known:
        return max(known, key=lambda p: p.width or 0)
    return renditions[0]


def _tiny(picture: _Picture) -> bool:
    return any(size is not None and size < MIN_PICTURE_PX
               for size in (picture.width, picture.height))


def _pixels(value: str | None) -> int | None:
    """A declared size: '600' or '600px' -> 600; '100%' or nonsense -> unknown."""
    match = re.fullmatch(r"\s*0*(\d{1,6})\s*(?:px)?\s*", value or "", re.I)
    return int(match.group(1)) if match else None


def _inline_pictures(body_html: str) -> Iterator[_Picture]:
    """<img> tags of the sanitized body (nh3 writes every attribute in double quotes)."""
    for tag in re.findall(r"<img\b[^>]{0,4000}>", body_html):
        attrs = {k: html.unescape(v) for k, v in re.findall(r'\s([a-z]+)="([^"]*)"', tag)}
        if attrs.get("src"):
            yield _Picture(url=attrs["src"], alt=attrs.get("alt", ""),
                           width=_pixels(attrs.get("width")), height=_pixels(attrs.get("height")),
                           srcset=tuple(_srcset(attrs.get("srcset", ""))))


def _srcset(value: str) -> Iterator[_Picture]:
    """`a.jpg 300w, b.jpg 1200w` -> pictures of those widths (x densities: unknown)."""
    for candidate in value.split(",")[:20]:
        parts = candidate.split()
        if not parts:
            continue
        width = None
        if len(parts) > 1 and re.fullmatch(r"\d{1,5}w", parts[1]):
            width = int(parts[1][:-1])
        yield _Picture(url=parts[0], width=width)


def media_by_entry(data: bytes, count: int, encoding: str) -> list[Media] | None:
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


def _thumbnails(el: ET.Element) -> Iterator[_Picture]:
    for thumb in el.findall(f"{MEDIA}thumbnail"):
        if thumb.get("url"):
            yield _Picture(url=thumb.get("url", ""), width=_pixels(thumb.get("width")),
                           height=_pixels(thumb.get("height")), thumbnail=True)


def _media(item: ET.Element) -> Media:
    groups = [item, *item.findall(f"{MEDIA}group")]
    pictures: list[_Picture] = []
    captions: list[str] = []  # media:descriptions that describe a picture
    for group in groups:
        video = False
        for content in group.findall(f"{MEDIA}content"):
            url = content.get("url", "")
            kind = content.get("medium", "") or content.get("type", "")
            caption = _text(content.find(f"{MEDIA}description"))
            if url and ("image" in kind or IMAGE_EXT.search(url)):
                pictures.append(_Picture(
                    url=url, alt=_text(content.find(f"{MEDIA}title")), caption=caption,
                    credit=_text(content.find(f"{MEDIA}credit")),
                    width=_pixels(content.get("width")), height=_pixels(content.get("height"))))
                if caption:
                    captions.append(caption)
            elif url:
                video = True
                # A video's still: the thumbnail inside its media:content.
                pictures.extend(_thumbnails(content))
        pictures.extend(_thumbnails(group))
        # A group's own description describes its picture, unless the group is a video
        # (YouTube's media:group): then it is what the video is about, the story's text.
        own = _text(group.find(f"{MEDIA}description"))
        if own and not video:
            captions.append(own)
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

    description = item.find("description")
    return Media(
        pictures=tuple(pictures), alt=entry_level("title"),
        caption=captions[0] if captions else "",
        credit=entry_level("credit"),
        descriptions=frozenset(caption_key(c) for c in captions),
        description="".join(description.itertext()) if description is not None else "",
        guid=_text(item.find("guid")),
    )


def caption_key(raw: str, content_type: str = "text/html") -> str:
    """A text as compared with the photo captions (`Media.descriptions`): feedparser
    files a media:description as the entry's summary or content, never marked."""
    return plain_caption_key(plain_text(raw, content_type))


def plain_caption_key(plain: str) -> str:
    """caption_key of a text already made plain (plain_text)."""
    return clean_text(squash(plain))

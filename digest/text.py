"""Small text helpers shared by the templates: excerpts, sentences, dates, links."""

from __future__ import annotations

import re
from datetime import date, datetime

from babel.dates import format_date
from markupsafe import Markup, escape

from .parse import html_to_paragraphs

ELLIPSIS = "[…]"
_AP_MONTHS = ["Jan.", "Feb.", "March", "April", "May", "June", "July", "Aug.", "Sept.",
              "Oct.", "Nov.", "Dec."]


def cut(text: str, limit: int) -> str:
    """Cut on a word boundary at most `limit` characters in, ending with ' […]'."""
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= limit:
        return text
    room = max(0, limit - len(ELLIPSIS) - 1)
    head = text[:room + 1]
    if " " in head:
        head = head[: head.rindex(" ")]
    else:
        head = head[:room]
    return f"{head.rstrip(' ,;:-–—')} {ELLIPSIS}"


def sentences(text: str, limit: int) -> str:
    """Whole sentences up to `limit` characters; cut with […] if even one is too long."""
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"“‘'])", re.sub(r"\s+", " ", text).strip())
    out = ""
    for part in parts:
        candidate = f"{out} {part}".strip()
        if len(candidate) > limit:
            break
        out = candidate
    return out or cut(text, limit)


def paragraphs(fragment: str, limit: int) -> list[str]:
    """Leading paragraphs of an HTML body, together at most `limit` characters; the last
    one is cut with […] when the story goes on."""
    out: list[str] = []
    used = 0
    paras = html_to_paragraphs(fragment)
    for i, para in enumerate(paras):
        if used + len(para) > limit:
            rest = limit - used
            if rest > 80 or not out:
                out.append(cut(para, rest))
            elif out:
                out[-1] = out[-1] if out[-1].endswith(ELLIPSIS) else f"{out[-1]} {ELLIPSIS}"
            return out
        out.append(para)
        used += len(para)
        if i == len(paras) - 1:
            return out
    return out


def long_date(value: datetime | date, language: str) -> str:
    """'Friday, November 27, 2026' in the newsletter's language."""
    return format_date(value, format="full", locale=_locale(language))


def short_date(value: date, language: str) -> str:
    """'Dec. 9' (AP style) in English, the locale's short month and day elsewhere."""
    if _locale(language).startswith("en"):
        return f"{_AP_MONTHS[value.month - 1]} {value.day}"
    return format_date(value, format="MMM d", locale=_locale(language))


def _locale(language: str) -> str:
    return language.replace("-", "_")


_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def linkify(text: str, link_style: str = "") -> Markup:
    """Escape editor text, turning [words](https://...) into links."""
    out = []
    last = 0
    for match in _LINK.finditer(text):
        out.append(escape(text[last : match.start()]))
        style = Markup(f' style="{escape(link_style)}"') if link_style else Markup("")
        out.append(Markup('<a href="{}"{}>{}</a>').format(match.group(2), style,
                                                          match.group(1)))
        last = match.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


def unlink(text: str) -> str:
    """[words](url) -> 'words (url)' for the plain-text part."""
    return _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", text)

"""Small text helpers shared by the templates: excerpts, sentences, dates, links."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from babel.dates import format_date
from markupsafe import Markup, escape

ELLIPSIS = "[…]"
_AP_MONTHS = ["Jan.", "Feb.", "March", "April", "May", "June", "July", "Aug.", "Sept.",
              "Oct.", "Nov.", "Dec."]


def cut(text: str, limit: int, ellipsis: str = ELLIPSIS) -> str:
    """Cut on a word boundary at most `limit` characters in, ending with ' […]' (joined
    by a no-break space, so it never stands alone on a line)."""
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= limit:
        return text
    room = max(0, limit - len(ellipsis) - 1)
    head = text[:room + 1]
    space = head.rfind(" ")
    if space >= room * 0.6 and not _WIDE.search(head):
        head = head[:space]
    else:  # no space near the end (a 1,000-letter "word"), or CJK: cut between letters
        head = head[:room]
    return f"{head.rstrip(' ,;:-–—')}\u00a0{ellipsis}" if ellipsis != "…" else \
        f"{head.rstrip(' ,;:-–—')}…"


def clip(text: str, limit: int) -> str:
    """Like `cut`, ending with '…': for headlines, the subject and the preheader. '[…]'
    only ends a Read More excerpt."""
    return cut(text, limit, "…")


def sentences(text: str, limit: int) -> str:
    """Whole sentences up to `limit` characters; cut with […] if even one is too long."""
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"“‘'])", re.sub(r"\s+", " ", text).strip())
    out = ""
    for part in parts:
        candidate = f"{out} {part}".strip()
        if len(candidate) > limit:
            break
        out = candidate
    return out or clip(text, limit)


def paragraphs(fragment: str, limit: int) -> list[str]:
    """Leading paragraphs of an HTML body, together at most `limit` characters; the last
    one is cut with … when the story goes on."""
    out: list[str] = []
    used = 0
    # here, not at the top: digest.collect.parse loads the feed parsers and lxml, and
    # `digest send` reaches this module through digest.outbox without any HTML to read
    from digest.collect.parse import html_to_paragraphs

    paras = html_to_paragraphs(fragment)
    for i, para in enumerate(paras):
        if used + len(para) > limit:
            rest = limit - used
            if rest > 80 or not out:
                out.append(clip(para, rest))
            elif out:
                out[-1] = out[-1] if out[-1].endswith("…") else f"{out[-1].rstrip('.')}…"
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


def note_html(text: str, link_style: str = "") -> Markup:
    """An editor's note: paragraphs (a blank line between), [words](url) links and
    *emphasis* (in words, never inside a link's address); everything else escaped."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    if len(paragraphs) <= 1:
        return _note_line(text.strip(), link_style)
    return Markup("").join(
        Markup('<p style="margin:0 0 10px;">{}</p>').format(_note_line(p, link_style))
        for p in paragraphs)


def _note_line(text: str, link_style: str) -> Markup:
    out = []
    last = 0
    style = Markup(' style="{}"').format(link_style) if link_style else Markup("")
    for match in _LINK.finditer(text):
        out.append(_emphasis(escape(text[last : match.start()])))
        out.append(Markup('<a href="{}"{}>{}</a>').format(match.group(2), style,
                                                          _emphasis(escape(match.group(1)))))
        last = match.end()
    out.append(_emphasis(escape(text[last:])))
    return Markup("").join(out)


def _emphasis(html: Markup) -> Markup:
    return Markup(re.sub(r"(?<![\w*])\*(?=\S)([^*<>]+?)(?<=\S)\*(?![\w*])", r"<em>\1</em>",
                         str(html)))


def note_links(text: str) -> list[str]:
    """The targets of the [words](url) links in an editor's text."""
    return [m.group(2) for m in _LINK.finditer(text)]


def unlink(text: str) -> str:
    """[words](url) -> 'words (url)' for the plain-text part."""
    return _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", text)


# East Asian wide characters: CJK ideographs, kana, Hangul, fullwidth forms. A line may
# break between any two of them, and each takes two columns of a fixed-width screen.
_WIDE = re.compile(
    "[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff"
    "\ua960-\ua97f\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60"
    "\uffe0-\uffe6\U00020000-\U0003fffd]")
# Characters that may not begin a line (kinsoku): they stay with the one before.
_NO_START = set("、。，．！？：；）」』】〉》〕’”・ー々…,.!?:;)]")
# Breaks at ASCII white space only: a no-break space (before "[…]") holds its words.
_SPACE = " \\t\\n\\r\\f\\v"
_TOKENS = re.compile(f"[{_SPACE}]+|{_WIDE.pattern}|[^{_SPACE}{_WIDE.pattern[1:-1]}]+")


def columns(text: str) -> int:
    """Columns `text` takes on a fixed-width screen."""
    return len(text) + len(_WIDE.findall(text))


def wrap(text: str, width: int = 76, indent: str = "", first: str | None = None) -> str:
    """Fill `text` to `width` columns, breaking at spaces, and between CJK characters
    (never before closing punctuation). A word longer than a line (a URL) is kept
    whole on a line of its own."""
    lines: list[str] = []
    line = indent if first is None else first
    start = len(line)
    space = False
    for token in _pieces(str(text), width - len(indent)):
        if token[0] in " \t\n\r\f\v":
            space = True
            continue
        glue = " " if space and len(line) > start else ""
        space = False
        room = columns(line) + len(glue) + columns(token)
        if room <= width or len(line) == start or (token in _NO_START and room <= width + 2):
            line += glue + token
        else:
            lines.append(line)
            line = indent + token
            start = len(indent)
    lines.append(line)
    return "\n".join(x.rstrip() for x in lines)


def _pieces(text: str, width: int) -> list[str]:
    """The tokens of `text`; a word longer than a line (a German compound, a run of Thai)
    in pieces of a line each, but a link whole: a broken URL does not work."""
    out: list[str] = []
    for token in _TOKENS.findall(text):
        if len(token) > width > 10 and "://" not in token and "@" not in token \
                and not token.startswith("www."):
            out += [token[i:i + width] for i in range(0, len(token), width)]
        else:
            out.append(token)
    return out


@dataclass(frozen=True)
class Script:
    """What a text's script asks of the markup around it."""

    lang: str = ""
    rtl: bool = False

    @property
    def dir(self) -> Markup:
        return Markup(' dir="rtl"') if self.rtl else Markup("")

    @property
    def attrs(self) -> Markup:
        """dir, lang and alignment for an element holding the text ('' for Latin)."""
        if not self.lang:
            return Markup("")
        if self.rtl:
            return Markup(' dir="rtl" lang="{}" style="text-align:right;"').format(self.lang)
        return Markup(' lang="{}"').format(self.lang)


_SCRIPTS = [  # (lang, right to left, letters)
    ("ar", True, re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff"
                            "\ufe70-\ufeff]")),
    ("he", True, re.compile("[\u0590-\u05ff\ufb1d-\ufb4f]")),
    ("ja", False, re.compile("[\u3041-\u30ff]")),
    ("ko", False, re.compile("[\u1100-\u11ff\uac00-\ud7a3]")),
    ("zh", False, re.compile("[\u3400-\u4dbf\u4e00-\u9fff]")),
]
_LETTER = re.compile(r"[^\W\d_]")


def script_of(text: str) -> Script:
    """The script most of `text`'s letters are in, when it is Arabic, Hebrew, Japanese,
    Korean or Chinese; Script() for anything else (the newsletter's own language)."""
    letters = len(_LETTER.findall(text))
    if not letters:
        return Script()
    counts = [(len(pattern.findall(text)), lang, rtl) for lang, rtl, pattern in _SCRIPTS]
    kana = counts[2][0]
    best, lang, rtl = max(counts, key=lambda c: c[0])
    if best * 3 < letters:  # a few borrowed words do not make a Latin text Arabic
        return Script()
    if lang == "zh" and kana:  # kanji with kana is Japanese
        lang = "ja"
    return Script(lang, rtl)

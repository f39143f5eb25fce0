"""HTML -> plain text, the one way every excerpt, summary and text part is made.

A real HTML parser (ammonia's html5ever, through nh3) reads the markup, so unclosed or
hostile tags cost linear time. Word boundaries survive: the end of a paragraph, list
item, heading, cell or line break is a break in the text ("resources’</p><p>The" is
"resources’ The", never "resources’The"), and inline tags (`<strong>Mark </strong>Haefele`)
vanish without taking the space inside them.
"""

from __future__ import annotations

import html
import re

import nh3

from digest.collect.textclean import clean_text

# Elements whose start or end is a break between words.
BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
    "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
    "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul",
})
MAX_HTML = 50_000  # characters read: far more than any excerpt shows (see parse.MAX_RAW_HTML)
# nh3 writes the kept tags bare (no attributes), so this matches only what it wrote.
_BLOCK_NAMES = "|".join(sorted(BLOCK_TAGS, key=len, reverse=True))
_BREAK = re.compile(rf"</?(?:{_BLOCK_NAMES})\s*/?>")
_SPACE = re.compile(r"\s+")
_PUNCTUATION_THEN_TAG = re.compile(r"([.!?:;,])(</[a-z]{1,10}>)(?=<[a-z])")
# An entity left after unescaping: the feed escaped its text twice ("Tom &amp;amp; Jerry").
_ESCAPED_TWICE = re.compile(r"&(?:amp|quot|apos|lt|gt|nbsp|#\d{1,7}|#x[0-9a-fA-F]{1,6});")


def html_paragraphs(fragment: str, captions: bool = True) -> list[str]:
    """The text of each block of an HTML fragment, in order, empty ones left out;
    without `captions`, a figure's caption is left out too (a summary made from a
    body is the story's words, not "Photo by ...")."""
    if "<" not in fragment and "&" not in fragment:
        text = squash(fragment)
        return [text] if text else []
    if "</" in fragment:  # "open.</span><span>More": a sentence ends between the two
        fragment = _PUNCTUATION_THEN_TAG.sub(r"\1\2 ", fragment[:MAX_HTML])
    dropped = {"script", "style"} if captions else {"script", "style", "figcaption"}
    kept = nh3.clean(fragment[:MAX_HTML], tags=set(BLOCK_TAGS) - dropped, attributes={},
                     strip_comments=True, clean_content_tags=dropped)
    out = []
    for piece in _BREAK.split(kept):
        text = html.unescape(piece)
        if "&" in text and _ESCAPED_TWICE.search(text):
            text = html.unescape(text)
        text = squash(text)
        if text:
            out.append(text)
    return out


def html_text(fragment: str, captions: bool = True) -> str:
    """An HTML fragment as one line of plain text, blocks joined by a space."""
    return " ".join(html_paragraphs(fragment, captions))


def squash(text: str) -> str:
    """White space runs as one space, none at the ends."""
    return _SPACE.sub(" ", text).strip()


def plain_text(raw: str, content_type: str) -> str:
    raw = clean_text(raw[:MAX_HTML])  # before nh3, which would turn a NUL into U+FFFD
    if "html" in content_type:
        return html_text(raw, captions=False)
    return squash(raw)

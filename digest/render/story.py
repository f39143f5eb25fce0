"""The big story's body as blocks the templates can lay out: paragraphs, subheads, lists,
quotes and photos with their captions and credits.

The body is HTML the parser already sanitized (digest.collect.parse: a short list of tags, http(s)
links, pictures from the web, or from disk for a feed read from disk). It is still text
from a feed: every block is rebuilt here from its text, escaped, with only links, emphasis
and line breaks kept as markup, so nothing in it reaches the email as it came.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

import lxml.html
from markupsafe import Markup, escape

from digest.render.text import clip

HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
INLINE = {"strong": "strong", "b": "strong", "em": "em", "i": "em", "sub": "sub", "sup": "sup"}
MAX_FIGURES = 2
MIN_CUT = 80  # characters: a shorter piece of a paragraph is not worth showing
# "Caption text. Jane Doe | Agency": the credit is the trailing "Name | Agency".
_CREDIT = re.compile(r"^(?P<caption>.*?)[\s.:;,–—-]*(?P<credit>[^.|:;]{2,60}\s\|\s[^.|:;]{2,60})$")
_WEB = re.compile(r"^(https?:|mailto:)", re.I)


@dataclass(frozen=True)
class Block:
    kind: str  # "p" | "h" | "ul" | "ol" | "quote" | "figure"
    html: Markup = Markup("")  # p, h, quote: escaped text with links and emphasis
    text: str = ""  # the same as plain text (the text part; and what counts to the limit)
    items: tuple[tuple[Markup, str], ...] = ()  # ul, ol: (html, text) of each item
    src: str = ""  # figure
    alt: str = ""
    caption: str = ""
    credit: str = ""


def story_blocks(body_html: str, summary: str, limit: int, link_style: str = "") -> list[Block]:
    """The blocks of a story, its text together at most `limit` characters; a story with
    no body is its summary."""
    blocks = _blocks(body_html, link_style) if body_html.strip() else []
    if not any(b.kind != "figure" for b in blocks):
        blocks = [Block("p", escape(clip(summary, limit)), clip(summary, limit))] \
            if summary else []
    return _within(blocks, limit)


def _within(blocks: list[Block], limit: int) -> list[Block]:
    out: list[Block] = []
    used = figures = 0
    for block in blocks:
        if block.kind == "figure":
            if figures < MAX_FIGURES:
                out.append(block)
                figures += 1
            continue
        size = len(block.text) + sum(len(text) for _, text in block.items)
        if used + size <= limit:
            out.append(block)
            used += size
            continue
        room = limit - used
        if block.kind == "p" and (room >= MIN_CUT or not used):
            text = clip(block.text, max(room, MIN_CUT))
            out.append(Block("p", escape(text), text))
        else:
            _ellipsis(out)
        break
    while out and out[-1].kind in ("figure", "h"):  # nothing after them: drop
        out.pop()
    return out


def _ellipsis(out: list[Block]) -> None:
    """Mark the last paragraph as cut short."""
    for i in range(len(out) - 1, -1, -1):
        if out[i].kind == "p":
            block = out[i]
            out[i] = replace(block, html=Markup("{}…").format(block.html.rstrip(". ")),
                             text=f"{block.text.rstrip('. ')}…")
            return


def _blocks(body_html: str, link_style: str) -> list[Block]:
    try:
        root = lxml.html.fragment_fromstring(body_html, create_parent="div")
    except (ValueError, lxml.etree.ParserError):
        return []
    out: list[Block] = []
    loose: list[Any] = []  # inline nodes at the top level, gathered into a paragraph

    def flush() -> None:
        if loose:
            html, text = _inline_nodes(loose, link_style)
            if text:
                out.append(Block("p", html, text))
            loose.clear()

    if root.text and root.text.strip():
        loose.append(root.text)
    for el in root:
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag in ("p", "div") or tag in HEADINGS or tag in ("ul", "ol", "blockquote",
                                                              "figure", "img"):
            flush()
            out.extend(_block(el, tag, link_style))
        else:
            loose.append(el)
        if el.tail and el.tail.strip():
            if tag not in INLINE and tag not in ("a", "span", "br"):
                flush()
            loose.append(el.tail)
    flush()
    return out


def _block(el: Any, tag: str, link_style: str) -> list[Block]:
    if tag in HEADINGS:
        text = _text(el)
        return [Block("h", escape(text), text)] if text else []
    if tag in ("ul", "ol"):
        items = tuple(_inline(li, link_style) for li in el if li.tag == "li")
        items = tuple(item for item in items if item[1])
        return [Block(tag, items=items)] if items else []
    if tag == "blockquote":
        html, text = _inline(el, link_style)
        return [Block("quote", html, text)] if text else []
    if tag in ("figure", "img"):
        figure = _figure(el)
        return [figure] if figure else []
    # p or div: its pictures become figures after it
    html, text = _inline(el, link_style)
    blocks = [Block("p", html, text)] if text else []
    for img in el.iter("img"):
        figure = _figure(img)
        if figure:
            blocks.append(figure)
    return blocks


def _figure(el: Any) -> Block | None:
    img = el if el.tag == "img" else next(el.iter("img"), None)
    src = (img.get("src") or "").strip() if img is not None else ""
    if img is None or not src:
        return None
    caption = _text(next(el.iter("figcaption"), None)) if el.tag == "figure" else ""
    credit = ""
    match = _CREDIT.match(caption)
    if match:
        caption, credit = match.group("caption").strip(), match.group("credit").strip()
    return Block("figure", src=src, alt=_squash(img.get("alt") or ""), caption=caption,
                 credit=credit)


def _inline(el: Any, link_style: str, outer: bool = True) -> tuple[Markup, str]:
    """An element's content as escaped inline markup, and as plain text. Inside
    another (`outer` False), the spaces at its ends stay: `<strong>Mark </strong>Haefele`
    keeps the space between the names."""
    nodes: list[Any] = [el.text] if el.text else []
    for child in el:
        nodes.append(child)
        if child.tail:
            nodes.append(child.tail)
    return _inline_nodes(nodes, link_style, outer)


def _inline_nodes(nodes: list[Any], link_style: str, outer: bool = True
                  ) -> tuple[Markup, str]:
    parts: list[Markup] = []
    for node in nodes:
        if isinstance(node, str):
            parts.append(escape(node))
            continue
        tag = node.tag if isinstance(node.tag, str) else ""
        if tag == "br":
            parts.append(Markup("<br>"))
            continue
        if tag in ("img", "figure", "figcaption"):
            continue  # pictures are blocks of their own
        if tag in ("p", "div", "li") or tag in HEADINGS:  # nested (in a quote): a line
            inner, _ = _inline(node, link_style)
            if parts:
                parts.append(Markup("<br>"))
            parts.append(inner)
            continue
        inner, _ = _inline(node, link_style, outer=False)
        if tag == "a" and _WEB.match((node.get("href") or "").strip()):
            style = Markup(' style="{}"').format(link_style) if link_style else Markup("")
            parts.append(Markup('<a href="{}"{}>{}</a>').format(
                node.get("href").strip(), style, inner))
        elif tag in INLINE:
            parts.append(Markup("<{0}>{1}</{0}>").format(Markup(INLINE[tag]), inner))
        else:
            parts.append(inner)
    html = Markup(re.sub(r"\s+", " ", "".join(parts)))
    if not outer:
        return html, ""
    html = Markup(html.strip())
    html = Markup(re.sub(r"(\s*<br>\s*)+$|^(\s*<br>\s*)+", "", html))
    spaced = html.replace("<br>", " ")
    text = _squash(lxml.html.fromstring(f"<div>{spaced}</div>").text_content()) if html else ""
    return html, text


def _text(el: Any) -> str:
    return _squash(el.text_content()) if el is not None else ""


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()

"""Debris feeds leave in their text, in one table: trailers at the end of a summary or
body ("Continue reading...", "The post X appeared first on Y", "[mehr]"), wire datelines
at the start ("BEIJING (Meridian Wire) - "), and an aggregator's " - Outlet" after a
headline. Datelines are always dropped: an excerpt reads the same from every outlet.

Every pattern runs on a bounded piece of text (the last TAIL characters, the first
HEAD), so hostile input costs linear time.
"""

from __future__ import annotations

import re
from typing import Any

import lxml.html

from digest.collect.htmltext import BLOCK_TAGS, html_text, squash

TAIL = 600  # characters at the end of a text that a trailer may take
HEAD = 120  # characters at the start that a dateline may take

# (what it is, the pattern that ends the text). Matched case-insensitively.
_MORE = (r"(?:continue reading|keep reading|read more|read the full (?:story|article)|"
         r"weiterlesen|mehr lesen|lire la suite|leer más|続きを読む)")
_POINTER = r"(?:\.{2,}|…|»|›|>+|→)"
TRAILERS: tuple[tuple[str, str], ...] = (
    # A sentence of its own ("... in March. Read more"), or pointing on ("read more…"):
    # never the end of a sentence that says it ("readers want to read more").
    ("a 'continue reading' link", rf"(?:(?<=[.!?…\"”’)\]:])|^)\s*{_MORE}\s*{_POINTER}?"
     r"\s*(?:\[…\])?"),
    ("a pointing 'read more'", rf"{_MORE}\s*{_POINTER}"),
    ("a bracketed 'more'", r"\[\s*(?:mehr|more|…|\.\.\.|read more|continue reading)\s*\]"),
    # WordPress's "Continue reading "<title>"" (the title is for screen readers).
    ("a 'continue reading' link with its title",
     rf"(?:(?<=[.!?…\"”’)\]:])|^)\s*{_MORE}\s*[\"“][^\"”]{{1,300}}[\"”]\s*{_POINTER}?"),
    ("a 'read the full story at ...'",
     rf"(?:(?<=[.!?…\"”’)\]:])|^)\s*{_MORE}\s+(?:at|on)\s+[^.!?]{{1,100}}[.!]?"),
    ("a 'click here to read more'",
     r"(?:(?<=[.!?…\"”’)\]:])|^)\s*click here(?: to (?:read (?:more|on|the full "
     r"(?:story|article))|continue))?[.!]?"),
    ("an ellipsis and 'more'", r"(?:…|\.{3})\s*(?:more|mehr|plus)\s*(?:»|›|>+|→)?"),
    # Capitalized: a paragraph of its own, whose full stop the text may have lost.
    ("a 'subscribe to our newsletter'",
     r"(?-i:Subscribe|Sign up) (?:to|for) our newsletter[^.!?]{0,120}[.!]?"),
    ("a closing 'Source: <outlet>'",
     r"(?:(?<=[.!?…\"”’)\]:])|^)\s*(?-i:Source):\s*[^.!?:]{1,60}\.?"),
    ("a 'related posts' list",
     r"(?:(?<=[.!?…\"”’)\]:])|^)\s*(?-i:Related (?:posts|articles|stories|reading|coverage))"
     r"\s*:.{0,400}"),
    # Its own last sentence, "The post" capitalized, the site's name one sentence.
    ("WordPress's 'The post ... appeared first on ...'",
     r"(?-i:The post) (?:(?!\.\s).){1,300}? appeared first on (?:(?!\.\s).){1,200}?\.?"),
    ("'This article ... first appeared on ...'",
     r"(?-i:This (?:article|post|story)) (?:(?!\.\s).){1,300}? first appeared on "
     r"(?:(?!\.\s).){1,200}?\.?"),
    ("Medium's 'originally published in ... on Medium'",
     r"(?:[^.!?]{1,300}?\s)?was originally published in .{1,200}? on medium, where people are "
     r"continuing the conversation by highlighting and responding to this story\.?"),
    ("a wire's reporting credit", r"\((?:reporting|writing|additional reporting|compiled) "
     r"by [^()]{1,200}\)"),
)
# Words one of which every trailer above contains: a text without any ends in none.
_CLUES = ("continue reading", "keep reading", "read more", "read the full", "weiterlesen",
          "mehr lesen", "lire la suite", "leer más", "続きを読む", "[", "appeared first on",
          "originally published", "reporting by", "writing by", "compiled by",
          "first appeared on", "click here", "our newsletter", "source:", "related ", "…",
          "...")
_ANY_TRAILER = "|".join(f"(?:{p})".replace(" ", r"\s+") for _, p in TRAILERS)
_TRAILER = re.compile(rf"(?<!\w)(?:{_ANY_TRAILER})\s*$", re.I | re.S)
# "BEIJING (Meridian Wire) - ", "SHANGHAI, Nov 29 (Meridian Wire) -", "LONDON (AP) — "
_DATELINE = re.compile(r"^[A-Z][A-Z .'’-]{1,40}(?:,\s*[A-Z][a-z]{2,8}\.?\s+\d{1,2})?\s*"
                       r"\([^()\n]{2,40}\)\s*[-–—]+\s*")
# A video's chapter list ("00:00 Intro 01:12 Factory activity ...") and a run of
# hashtags at the end: a description's furniture, not its text.
_CHAPTERS = re.compile(r"(?:^|\s)(?:0?0:00|00:00:00)\s.*$", re.S)
_HASHTAGS = re.compile(r"(?:\s+#[^\W\d_][\w-]*)+\s*$")
_SUFFIX = re.compile(r"\s+[-–—|]\s+([^-–—|]{2,60})$")


def strip_text_debris(text: str) -> str:
    """Plain text without a leading dateline or trailing trailers."""
    text = squash(text)
    head = _DATELINE.match(text[:HEAD])
    if head:
        text = text[head.end():]
    text = _HASHTAGS.sub("", _CHAPTERS.sub("", text)).strip()
    while text:
        cut = _trailer_length(text)
        if not cut:
            break
        text = text[:-cut].rstrip(" \u00a0")
    return text


def _trailer_length(text: str) -> int:
    """How many characters at the end of `text` are a trailer (0 for none)."""
    tail = text[-TAIL:]
    if not _has_clue(tail):  # the usual case, without the regex
        return 0
    match = _TRAILER.search(tail)
    return len(tail) - match.start() if match else 0


def _has_clue(text: str) -> bool:
    """Whether a clue word is in text (spaces, &nbsp; and line breaks alike): substring
    tests on one lowered copy, several times faster than one case-blind alternation."""
    low = text.lower()
    if "&" in low:
        low = low.replace("&nbsp;", " ").replace("&#160;", " ")
    low = " ".join(low.split())  # NBSP, tabs and line breaks too
    return any(clue in low for clue in _CLUES)


def _may_have_dateline(text: str) -> bool:
    head = text[: 4 * HEAD]
    return "(" in head and any(dash in head for dash in "-–—")


def strip_html_debris(fragment: str) -> str:
    """A sanitized HTML body without its trailers and leading dateline. The text is cut
    node by node from the end, so the markup before it stays as it was."""
    if not fragment.strip():
        return fragment
    # The usual case, no trailer and no dateline, needs no parsing.
    tail, start = fragment[-4 * TAIL:], fragment[: 4 * HEAD]
    trailer = _has_clue(tail) and _trailer_length(html_text(tail))
    dateline = _may_have_dateline(start) and _DATELINE.match(html_text(start)[:HEAD])
    if not trailer and not dateline:
        return fragment
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (ValueError, lxml.etree.ParserError):
        return fragment
    for _ in range(4):  # a body may end in more than one (a link, then "The post ...")
        block = _last_block(root)
        text = block.text_content()
        cut = _trailer_length(text)
        if not cut:
            break
        if block is not root and not text[:-cut].strip():
            _remove(block)  # the trailer is the whole paragraph
        else:
            _drop_last_chars(block, cut)
    head = _DATELINE.match(root.text_content().lstrip()[:HEAD])
    if head:
        _drop_first_chars(root, head.end())
    _prune(root)
    out = lxml.html.tostring(root, encoding="unicode")
    return out[len("<div>"):-len("</div>")].strip() if out.startswith("<div>") else out


def _last_block(root: Any) -> Any:
    """The block element (or root) holding the last text of root."""
    slots = _text_slots(root)
    while slots and not getattr(slots[-1][0], slots[-1][1]).strip():
        slots.pop()
    if not slots:
        return root
    el, kind = slots[-1]
    owner = el if kind == "text" else el.getparent()
    while owner is not None and owner is not root and owner.tag not in BLOCK_TAGS:
        owner = owner.getparent()
    return owner if owner is not None else root


def _remove(el: Any) -> None:
    """Remove an element, keeping the text that follows it."""
    parent = el.getparent()
    if el.tail:
        previous = el.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + el.tail
        else:
            parent.text = (parent.text or "") + el.tail
    parent.remove(el)


def _text_slots(root: Any) -> list[tuple[Any, str]]:
    """Every text node under root in document order, as (element, 'text' | 'tail'):
    together they are root.text_content()."""
    slots: list[tuple[Any, str]] = []

    def walk(el: Any) -> None:
        if el.text:
            slots.append((el, "text"))
        for child in el:
            walk(child)
            if child.tail:
                slots.append((child, "tail"))

    walk(root)
    return slots


def _drop_last_chars(root: Any, count: int) -> None:
    """Remove the last `count` characters of root's text, node by node from the end."""
    for el, kind in reversed(_text_slots(root)):
        value = getattr(el, kind)
        if len(value) <= count:
            setattr(el, kind, None)
            count -= len(value)
        else:
            setattr(el, kind, value[: len(value) - count].rstrip())
            count = 0
        if count <= 0:
            return


def _drop_first_chars(root: Any, count: int) -> None:
    """Remove the first `count` characters of root's text (after leading white space)."""
    started = False
    for el, kind in _text_slots(root):
        value = getattr(el, kind)
        if not started:
            if not value.strip():
                continue
            value = value.lstrip()
            started = True
        if len(value) <= count:
            setattr(el, kind, None)
            count -= len(value)
        else:
            setattr(el, kind, value[count:])
            return


def _prune(root: Any) -> None:
    """Drop trailing elements with no text and no picture."""
    for el in reversed(list(root.iter())):
        if el is root or el.tag in ("img", "br"):
            continue
        if not el.text_content().strip() and el.find(".//img") is None:
            parent = el.getparent()
            if parent is not None and el.getnext() is None:
                if el.tail and el.tail.strip():
                    continue
                parent.remove(el)


def strip_outlet_suffix(title: str, outlets: tuple[str, ...]) -> str:
    """'Headline - Meridian Wire' -> 'Headline' when the suffix names one of `outlets`
    (the item's <source>, the feed's title)."""
    match = _SUFFIX.search(title)
    if not match:
        return title
    suffix = match.group(1).strip().casefold()
    names = {o.strip().casefold() for o in outlets if o and o.strip()}
    if any(_names_outlet(suffix, n) for n in names):
        return title[: match.start()].rstrip()
    return title


def _names_outlet(suffix: str, name: str) -> bool:
    """'Meridian Wire' names the outlet 'Meridian Wire - Top news' and 'Meridian Wire
    via Yahoo Finance' names 'Meridian Wire'; 'Meridian poll' does not name 'Meridian'."""
    if suffix == name or name.startswith(suffix + " "):
        return True
    return suffix.startswith(name) and re.match(r"\s+via\s|\.[a-z]", suffix[len(name):]) is not None


def repeats_headline(summary: str, title: str, outlets: tuple[str, ...] = ()) -> bool:
    """The excerpt says nothing but the headline (and maybe the outlet's name)."""
    def key(text: str) -> str:
        return re.sub(r"[\W_]+", " ", text.casefold()).strip()

    body, head = key(summary), key(title)
    if not body:
        return True
    if not head or not body.startswith(head):
        return False
    rest = body[len(head):].strip()
    return not rest or rest in {key(o) for o in outlets if o} or len(rest) <= 3

"""What an editor would send back, checked on a built issue: all warnings, since the
issue still works.

| check          | warns on                                                               |
| -------------- | ---------------------------------------------------------------------- |
| lead           | a big story without a picture, or with under LEAD_WORDS words of text  |
| repeated       | one story (link or headline) shown twice                               |
| debris         | a feed's trailer left in the text ("Continue reading", "The post ...   |
|                | appeared first on", "[mehr]")                                          |
| glued          | words run together where markup met ("resources’The")                 |
| card-row       | two cards of one row whose pictures end at different heights           |
| languages      | stories in more than one language                                      |
| undated        | a story the feed gave no date for in the big story or Need to know     |
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from digest.outbox.folder import MANIFEST, Manifest

LEAD_WORDS = 30
_DEBRIS = re.compile(r"continue reading|keep reading|appeared first on|\[\s*(?:mehr|more)\s*\]|"
                     r"was originally published in|weiterlesen", re.I)
_GLUED = re.compile(r"[a-z]{2}[.!?;’'”\"][A-Z][a-z]")
_HEIGHT = re.compile(r"height\s*:\s*(\d+)px")


def editorial_findings(folder: Path, text: str, doc: Any | None) -> list[tuple[str, str]]:
    """(check, message) for each editorial problem of the issue in `folder`, from its
    manifest, its text part and its HTML (`doc`, lxml)."""
    found: list[tuple[str, str]] = []
    try:
        manifest = Manifest.from_json((folder / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        manifest = None  # the file checks report a missing or damaged manifest
    if manifest is not None:
        found += _stories(manifest)
    found += _text(text)
    if doc is not None:
        found += _card_rows(doc)
    return found


def _stories(manifest: Manifest) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    sections = manifest.sections
    for lead in sections.big_story:
        if not lead.image:
            found.append(("lead", f"the big story {lead.title!r} has no picture: pin one "
                          "with a picture, or enrich its page ([enrich] pages)"))
        if lead.words and lead.words < LEAD_WORDS:
            found.append(("lead", f"the big story {lead.title!r} has {lead.words} words of "
                          f"text, under {LEAD_WORDS}: a lead needs a story"))
    placed = [*sections.big_story, *sections.need_to_know, *sections.read_more]
    for key, what in ((lambda s: s.url, "link"), (lambda s: s.title.casefold(), "headline")):
        counts = Counter(key(s) for s in placed)
        for value, n in counts.items():
            if n > 1 and value:
                found.append(("repeated", f"one {what} is shown {n} times: {value}"))
    languages = {s.language for s in placed if s.language}
    if len(languages) > 1:
        found.append(("languages", f"stories in {len(languages)} languages "
                      f"({', '.join(sorted(languages))}): set [editor] languages"))
    for section, stories in (("big story", sections.big_story),
                             ("Need to know", sections.need_to_know)):
        for story in stories:
            if story.undated:
                found.append(("undated", f"{story.title!r} in the {section} has no date of "
                              "its own in its feed: it may be old news"))
    return found


def _text(text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for line in text.splitlines():
        match = _DEBRIS.search(line)
        if match:
            found.append(("debris", f"{match.group(0)!r} in the text: {line.strip()[:100]}"))
        for token in line.split():
            if "://" in token or "@" in token or token.startswith("www."):
                continue
            glued = _GLUED.search(token)
            if glued:
                found.append(("glued", f"words run together: {token[:60]!r}"))
    return list(dict.fromkeys(found))


def _card_rows(doc: Any) -> list[tuple[str, str]]:
    """Cards come two to a row: the picture box (picture and gap) of both must end at
    one height, or the headlines below them do not line up."""
    cards = doc.xpath('//div[contains(concat(" ", normalize-space(@class), " "), " card ")]')
    found: list[tuple[str, str]] = []
    for row, pair in enumerate(zip(cards[::2], cards[1::2], strict=False), 1):
        heights = [_picture_box(card) for card in pair]
        if heights[0] != heights[1]:
            found.append(("card-row", f"Read More row {row}: the pictures' boxes are "
                          f"{heights[0]} and {heights[1]} px tall; the headlines do not line "
                          "up (a template without the rows' gaps?)"))
    return found


def _picture_box(card: Any) -> int:
    height = 0
    for img in card.xpath('.//*[contains(@class, "card-image")]//img'):
        value = img.get("height") or ""
        height += int(value) if value.isdigit() else 0
    for gap in card.xpath('.//*[contains(@class, "fit-gap")]'):
        for el in gap.iter():  # MJML puts the height on a div inside the spacer's cell
            match = _HEIGHT.search(el.get("style") or "")
            if match:
                height += int(match.group(1))
                break
    return height

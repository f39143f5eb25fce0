"""The Read More row: how tall each card's text runs (by script: a CJK character is
wider than a Latin one), so pictures and headlines line up across a row."""

from __future__ import annotations

from dataclasses import dataclass

from digest.models import Article
from digest.render.text import (
    Script,
    clip,
    cut,
    script_of,
    wrap,
)


def _script_of(item: Article | str) -> Script:
    if isinstance(item, Article):
        return script_of(f"{item.title} {item.summary}")
    return script_of(str(item))


@dataclass(frozen=True)
class CardRow:
    """Minimum heights (px) that line up the parts of the cards in one row."""

    kickers: bool
    kicker_px: int
    image_px: int  # the row's tallest picture; shorter ones and no picture get a gap
    title_px: int
    summary_px: int

    def gap(self, card: Article) -> int:
        """Space under a card's picture (or in place of it) so the row lines up."""
        return max(0, self.image_px - card_picture_px(card))


# A card's text is 230 px wide: about 24 columns of 17 px bold Georgia for a headline,
# 33 of 14 px Georgia for an excerpt, 30 of 12 px Arial capitals for a kicker.
_CARD_COLUMNS = {"title": 24, "summary": 33, "kicker": 30}


CARD_PICTURE_PX = 172  # a card picture's height when not measured: 258 px wide at 3:2


def card_picture_px(card: Article) -> int:
    if not card.image:
        return 0
    return card.image.height or CARD_PICTURE_PX


def card_row(cards: list[Article], read_more_chars: int = 150) -> CardRow:
    def lines(text: str, kind: str) -> int:
        return len(wrap(text, _CARD_COLUMNS[kind]).splitlines()) if text else 0

    heights = [card_picture_px(c) for c in cards]
    return CardRow(
        kickers=any(c.category for c in cards),
        kicker_px=19 * max(lines(c.category.upper(), "kicker") for c in cards),
        image_px=max(heights) if len(set(heights)) > 1 else 0,
        title_px=23 * max(lines(clip(c.title, 150), "title") for c in cards),
        summary_px=21 * max(lines(cut(c.summary, read_more_chars), "summary") for c in cards),
    )

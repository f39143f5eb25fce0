"""Choose what goes into an issue: new articles, deduplicated, scored, placed in blocks.

Only the story blocks that `[layout] blocks` shows take articles. Every article
considered gets a Decision (placed, or why not), and all of them are consumed when the
issue is committed: what missed this issue is old news by the next. The exception is an
article that the full layout (every story block at its size) would have placed but the
shown blocks have no room for: it gets no Decision and stays new for the next issue.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import get_args

from digest.config.schema import Config, LayoutConfig
from digest.curate.dedupe import NearTitles
from digest.curate.events import Event as SameEvent
from digest.curate.events import group_events
from digest.curate.filters import (
    allowed_languages,
    excluded_by,
    has_headline,
    on_topic,
    paid_label,
)
from digest.curate.pins import Pins, find_pins, unmatched_pins, unplaced_pins
from digest.curate.rank import (
    PICTURE,
    TEXT,
    Score,
    newest_dated,
    score,
    text_bonus,
)
from digest.models import (
    Article,
    CuratedIssue,
    Decision,
    Event,
    Section,
    StoryBlock,
)

STORY_BLOCKS: tuple[StoryBlock, ...] = get_args(StoryBlock)  # the blocks that take articles
LEAD_WORDS = 30  # a lead's summary should have this many words


@dataclass(frozen=True)
class NothingToBuild:
    """Curate's answer when there is not enough news for an issue."""

    reason: str


def curate_issue(
    articles: Sequence[Article], config: Config, number: int, now: datetime,
    slot: str | None = None,
) -> CuratedIssue | NothingToBuild:
    editor, layout = config.editor, config.layout
    decisions: list[Decision] = []
    weights = {f.url: f.weight for f in config.feeds}
    languages = allowed_languages(config)

    def drop(article: Article, section: Section, reason: str) -> None:
        decisions.append(Decision(article.id, section, len(decisions), reason))

    pool: list[Article] = []
    for article in articles:
        excluded = excluded_by(article, editor.exclude)
        paid = paid_label(article)
        if not article.url:
            drop(article, "excluded", "no http(s) link to send readers to")
        elif not has_headline(article.title):
            drop(article, "excluded", "no headline")
        elif excluded:
            drop(article, "excluded", f"excluded by [editor] exclude {excluded!r}")
        elif paid:
            drop(article, "excluded", f"paid content (marked {paid!r})")
        elif editor.max_age_days and article.when and (
            now - article.when > timedelta(days=editor.max_age_days)
        ):
            drop(article, "too_old", f"older than [editor] max_age_days = {editor.max_age_days}")
        elif editor.require and not on_topic(article, editor.require):
            drop(article, "off_topic", "matches none of [editor] require")
        elif languages and article.language and article.language not in languages:
            drop(article, "other_language", f"in {article.language!r}; [editor] languages "
                 f"allows {', '.join(sorted(languages))}")
        else:
            pool.append(article)

    newest = newest_dated(pool, now)
    scores = {a.id: score(a, newest, weights.get(a.feed_url, 1.0), editor.boost) for a in pool}

    def dropped(article: Article, section: Section, reason: str) -> None:
        decisions.append(Decision(article.id, section, len(decisions), reason,
                                  scores[article.id].parts()))

    ranked = sorted(pool, key=lambda a: (-scores[a.id].total, a.title, a.id))
    by_url: dict[str, Article] = {}
    # One story: the same canonical URL, or a title alike but for case, punctuation or a
    # few letters, with the same figures ("exports rose 5%" and "... 7%" are two).
    # The higher-scoring copy, met first, is kept. Titles are compared only while a
    # story may still be placed (Contention); past that, only the URL is.
    slots = sum(_sizes(layout, shown_only=False).values()) + len(editor.pin)
    contention = Contention(slots, everything=len(ranked) <= CONTENTION_FLOOR)
    titles: NearTitles[Article] = NearTitles(a.title for a in ranked[:TITLE_SAMPLE])
    for article in ranked:
        past = contention.full  # once full, full for good: the rest is past contention
        twin = (by_url.get(article.url) if article.url else None) or \
            (None if past else titles.twin(article.title))
        if twin:
            dropped(article, "duplicate", f"same story as {twin.url}")
            continue
        by_url.setdefault(article.url, article)
        if past:
            contention.outside.append(article)
        else:
            titles.add(article.title, article)
            contention.add(article)
    rest = contention.outside
    # One event from several outlets, told in other words: the best-covered report
    # stays, and ranks a little higher for each other outlet that reported it.
    events = group_events(contention.inside, weights) + [SameEvent(a, ()) for a in rest]
    unique = []
    for event in events:
        kept = event.kept
        outlets = {a.feed_url for a in event.others} - {kept.feed_url}
        scores[kept.id] = scores[kept.id].with_coverage(len(outlets))
        unique.append(kept)
        for other in event.others:
            dropped(other, "duplicate", f"same event as {kept.url} (from feed "
                    f"{kept.feed_name!r}), which covers it better")
    unique.sort(key=lambda a: (-scores[a.id].total, a.title, a.id))

    if not unique and articles:
        left_out = Counter(d.section for d in decisions)
        why = ", ".join(f"{section} {n}" for section, n in sorted(left_out.items()))
        return NothingToBuild(f"{len(articles)} new article(s), none left to place ({why}); "
                              "see [editor] in the config; no issue built")
    if not unique:
        return NothingToBuild("no new articles; no issue built")
    if len(unique) < config.schedule.min_new_items:
        return NothingToBuild(
            f"{len(unique)} new article(s), fewer than [schedule] min_new_items = "
            f"{config.schedule.min_new_items}; no issue built")

    pins = find_pins(unique, editor.pin)
    keys = _Keys(unique, scores)
    shown, skipped = _fill(unique, _sizes(layout, shown_only=True), pins, keys,
                           layout.max_per_feed)
    full, _ = _fill(unique, _sizes(layout, shown_only=False), pins, keys, layout.max_per_feed)
    big, need, cards = shown
    placed = {a.id for a in _placed(shown)}
    held = {a.id for a in _placed(full)} - placed  # room only in hidden blocks: stays new
    blocks: tuple[tuple[StoryBlock, list[Article]], ...] = (
        ("big_story", [big] if big else []), ("need_to_know", need), ("read_more", cards))
    for section, stories in blocks:
        for i, a in enumerate(stories):
            if a.id in pins:
                reason = f"pinned by [editor] pin[{pins[a.id][0]}]"
            else:
                reason = f"score {_block_score(a, section, scores):.3f}"
            decisions.append(Decision(a.id, section, i, reason, scores[a.id].parts()))
    lowest = min((scores[a.id].total for a in _placed(shown)), default=0.0)
    for a in unique:
        if a.id not in placed and a.id not in held:
            dropped(a, "passed_over", _passed_reason(a, scores[a.id], lowest, skipped))

    today = now.date()
    return CuratedIssue(
        number=number,
        date=now,
        big_story=big,
        need_to_know=tuple(need),
        read_more=tuple(cards),
        coming_up=upcoming(config, today),
        decisions=tuple(decisions),
        slot=slot,
        notes=unmatched_pins(editor.pin, pins) + unplaced_pins(editor.pin, pins, placed | held),
    )


def _passed_reason(article: Article, own: Score, lowest: float, skipped: dict[str, str]) -> str:
    """Why a story was not placed, in words that agree with the scores beside it."""
    total = own.total
    if article.id in skipped:
        return f"{skipped[article.id]} (score {total:.3f})"
    if total > lowest and not text_bonus(article):
        return (f"below the cut (score {total:.3f}): every block adds {TEXT} for a summary, "
                "and it has hardly any")
    if total > lowest and not article.image:
        return (f"below the cut (score {total:.3f}): the big story and Read More add "
                f"{PICTURE} for a picture, and it has none")
    return f"below the cut (score {total:.3f})"


Placement = tuple[Article | None, list[Article], list[Article]]


CONTENTION_FLOOR = 2000  # stories always compared for same-event reports
CONTENTION_FEEDS = 4  # x the issue's slots: distinct feeds after which none can be placed
TITLE_SAMPLE = 4 * CONTENTION_FLOOR  # titles whose words and letters rank the rare ones


class Contention:
    """The ranked stories that may still be placed, and the rest, as they come. Only the
    first could share an issue, so only they are compared for repeated titles and
    grouped into events: the cost stays flat however large the backlog. A feed's story
    past its first `slots` cannot be placed (that many of the same feed rank above it),
    and once CONTENTION_FEEDS x slots feeds have a story in (and CONTENTION_FLOOR
    stories were looked at), every slot has a candidate from a feed of its own ranked
    above the rest: `full`. With `everything` (CONTENTION_FLOOR stories or fewer),
    everything is in."""

    def __init__(self, slots: int, *, everything: bool) -> None:
        self.slots, self.everything = slots, everything
        self.per_feed: Counter[str] = Counter()
        self.inside: list[Article] = []
        self.outside: list[Article] = []

    @property
    def full(self) -> bool:
        return not self.everything and \
            len(self.inside) + len(self.outside) >= CONTENTION_FLOOR and \
            len(self.per_feed) >= CONTENTION_FEEDS * self.slots

    def add(self, article: Article) -> None:
        if self.everything or self.per_feed[article.feed_url] < self.slots:
            self.per_feed[article.feed_url] += 1
            self.inside.append(article)
        else:
            self.outside.append(article)


def _sizes(layout: LayoutConfig, *, shown_only: bool) -> dict[str, int]:
    return {block: getattr(layout, block) if block in layout.blocks or not shown_only else 0
            for block in STORY_BLOCKS}


def _block_score(article: Article, block: str, scores: dict[str, Score]) -> float:
    """A story's score for a block (rank.Score.for_block)."""
    return scores[article.id].for_block(block)


class _Quota:
    """How many stories one feed (and one category) may have: `[layout] max_per_feed`
    in each block, or, left at 0, half of each block (rounded up) and half of the issue,
    whenever two or more feeds have stories. Categories count only when there are three
    or more of them."""

    def __init__(self, ranked: Sequence[Article], sizes: dict[str, int], per_feed: int) -> None:
        self.per_feed = per_feed
        self.active = bool(per_feed) or len({a.feed_url for a in ranked}) >= 2
        self.categories = len({a.category.casefold() for a in ranked if a.category}) >= 3
        self.issue_cap = 0 if per_feed else max(1, sum(sizes.values()) // 2)
        self.in_issue: Counter[str] = Counter()

    def block_cap(self, size: int) -> int:
        return self.per_feed or max(1, math.ceil(size / 2))

    def refusal(self, article: Article, block: str, size: int, feeds: Counter[str],
                categories: Counter[str]) -> str | None:
        if not self.active:
            return None
        cap = self.block_cap(size)
        key = "[layout] max_per_feed" + ("" if self.per_feed else " (0: half of a block)")
        if feeds[article.feed_url] >= cap:
            return f"feed {article.feed_name!r} already has {cap} of {block}'s {size} ({key})"
        if self.issue_cap and self.in_issue[article.feed_url] >= self.issue_cap:
            return (f"feed {article.feed_name!r} already has {self.issue_cap} stories, half of "
                    "the issue ([layout] max_per_feed = 0)")
        category = article.category.casefold()
        if self.categories and category and categories[category] >= cap:
            return f"category {article.category!r} already has {cap} of {block}'s {size} ({key})"
        return None

    def take(self, ordered: Sequence[Article], block: str, size: int, first: Sequence[Article],
             skipped: dict[str, str]) -> list[Article]:
        """`first` (pinned), then up to `size` stories of `ordered` within the quota;
        when the quota leaves places empty, the best of the rest fill them."""
        chosen = list(first[:size])
        feeds = Counter(a.feed_url for a in chosen)
        categories = Counter(a.category.casefold() for a in chosen if a.category)
        passed: list[Article] = []
        for article in ordered:
            if len(chosen) >= size:
                break
            if article in chosen:
                continue
            why = self.refusal(article, block, size, feeds, categories)
            if why:
                skipped.setdefault(article.id, why)
                passed.append(article)
                continue
            chosen.append(article)
            feeds[article.feed_url] += 1
            if article.category:
                categories[article.category.casefold()] += 1
        for article in passed:  # too few feeds for the quota: better full than empty
            if len(chosen) >= size:
                break
            chosen.append(article)
            skipped.pop(article.id, None)
        self.in_issue.update(a.feed_url for a in chosen)
        return chosen


class _Keys:
    """Each story's score in each block, and whether it is short for a lead: worked
    out once per issue, for the two fills (shown blocks, full layout)."""

    def __init__(self, ranked: Sequence[Article], scores: dict[str, Score]) -> None:
        self.block = {b: {a.id: scores[a.id].for_block(b) for a in ranked}
                      for b in STORY_BLOCKS}
        self.short = {a.id for a in ranked
                      if len(a.summary[:LEAD_WORDS * 40].split()) < LEAD_WORDS}

    def order(self, stories: Sequence[Article], block: StoryBlock) -> list[Article]:
        key = self.block[block]
        return sorted(stories, key=lambda a: -key[a.id])


def _fill(ranked: list[Article], sizes: dict[str, int], pins: Pins,
          keys: _Keys, per_feed: int = 0) -> tuple[Placement, dict[str, str]]:
    """Fill the story blocks from the ranking, in order: big story, Need to know, Read
    More, each by its own score (see _block_score) within the feed quota. A pinned story
    goes to the block its pin names, or is the big story (or leads the first block there
    is); pinned stories lead their block, in pin order. Also returns why stories were
    passed over for the quota, by id."""
    shown = [b for b in STORY_BLOCKS if sizes[b]]
    wanted: dict[str, list[Article]] = {b: [] for b in STORY_BLOCKS}
    for article in sorted((a for a in ranked if a.id in pins), key=lambda a: pins[a.id][0]):
        block = pins[article.id][1]
        if block not in shown:
            block = shown[0] if shown else ""
        if block:
            wanted[block].append(article)
    pinned = {a.id for stories in wanted.values() for a in stories}
    remaining = [a for a in ranked if a.id not in pinned]
    quota = _Quota(ranked, sizes, per_feed)
    skipped: dict[str, str] = {}
    big: Article | None = None
    if sizes["big_story"]:
        lead = wanted["big_story"][:1]
        remaining = wanted["big_story"][1:] + remaining  # a second big pin: next in line
        taken = quota.take(_lead_order(remaining, keys), "big_story", 1, lead, skipped)
        big = taken[0] if taken else None
        remaining = [a for a in remaining if a is not big]
    by_item = keys.order(remaining, "need_to_know")
    need = quota.take(by_item, "need_to_know", sizes["need_to_know"],
                      wanted["need_to_know"], skipped)
    needed = {a.id for a in need}
    remaining = [a for a in remaining if a.id not in needed]
    # Cards show pictures: a story with one ranks higher here (rank.PICTURE).
    by_card = keys.order(remaining, "read_more")
    cards = quota.take(by_card, "read_more", sizes["read_more"], wanted["read_more"], skipped)
    placed = {a.id for a in ([big] if big else []) + need + cards}
    return (big, need, cards), {k: v for k, v in skipped.items() if k not in placed}


def _lead_order(ranked: list[Article], keys: _Keys) -> list[Article]:
    """Candidates for the big story, best first: the stories with a picture (the big
    story has one if any candidate has), those with LEAD_WORDS words of summary before
    those without, each by its big-story score; then the rest in score order."""
    leads = [a for a in ranked if a.image]
    big = keys.block["big_story"]
    leads.sort(key=lambda a: (a.id in keys.short, -big[a.id]))
    chosen = {a.id for a in leads}
    return leads + [a for a in ranked if a.id not in chosen]


def _placed(placement: Placement) -> list[Article]:
    big, need, cards = placement
    return ([big] if big else []) + need + cards


def upcoming(config: Config, today: date) -> tuple[Event, ...]:
    events = sorted((e for e in config.coming_up if e.date >= today), key=lambda e: e.date)
    return tuple(Event(e.date, e.event) for e in events)



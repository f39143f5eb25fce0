"""Choose what goes into an issue: new articles, deduplicated, scored, placed in blocks.

Only the story blocks that `[layout] blocks` shows take articles. Every article
considered gets a Decision (placed, or why not), and all of them are consumed when the
issue is committed: what missed this issue is old news by the next. The exception is an
article that the full layout (every story block at its size) would have placed but the
shown blocks have no room for: it gets no Decision and stays new for the next issue.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from .config import Config, LayoutConfig, PinConfig
from .dedupe import NearTitles
from .models import Article, CuratedIssue, Decision, Event

HALF_LIFE_HOURS = 72.0
STORY_BLOCKS = ("big_story", "need_to_know", "read_more")  # the blocks that take articles


@dataclass(frozen=True)
class NothingToBuild:
    """Curate's answer when there is not enough news for an issue."""

    reason: str
    new_items: int


def curate_issue(
    articles: Sequence[Article], config: Config, number: int, now: datetime,
    slot: str | None = None,
) -> CuratedIssue | NothingToBuild:
    editor, layout = config.editor, config.layout
    decisions: list[Decision] = []
    weights = {f.url: f.weight for f in config.feeds}

    def drop(article: Article, section: str, reason: str) -> None:
        decisions.append(Decision(article.id, section, len(decisions), reason))

    pool: list[Article] = []
    for article in articles:
        excluded = _excluded_by(article, editor.exclude)
        if not article.url:
            drop(article, "excluded", "no http(s) link to send readers to")
        elif excluded:
            drop(article, "excluded", f"excluded by [editor] exclude {excluded!r}")
        elif editor.max_age_days and article.when and (
            now - article.when > timedelta(days=editor.max_age_days)
        ):
            drop(article, "too_old", f"older than [editor] max_age_days = {editor.max_age_days}")
        else:
            pool.append(article)

    newest = max((a.when for a in pool if a.when), default=now)
    scores = {a.id: _score(a, newest, weights.get(a.feed_url, 1.0), editor.boost) for a in pool}
    ranked = sorted(pool, key=lambda a: (-scores[a.id], a.title, a.id))
    unique: list[Article] = []
    by_url: dict[str, Article] = {}
    # One story: the same canonical URL, or a title alike but for case, punctuation or a
    # few letters, with the same figures ("exports rose 5%" and "... 7%" are two).
    # The higher-scoring copy, met first, is kept.
    titles: NearTitles[Article] = NearTitles(a.title for a in ranked)
    for article in ranked:
        twin = (by_url.get(article.url) if article.url else None) or titles.twin(article.title)
        if twin:
            drop(article, "duplicate", f"same story as {twin.url}")
            continue
        unique.append(article)
        by_url.setdefault(article.url, article)
        titles.add(article.title, article)

    if not unique:
        return NothingToBuild("no new articles; no issue built", 0)
    if len(unique) < config.schedule.min_new_items:
        return NothingToBuild(
            f"{len(unique)} new article(s), fewer than [schedule] min_new_items = "
            f"{config.schedule.min_new_items}; no issue built",
            len(unique),
        )

    pins = _pins(unique, editor.pin)
    shown = _fill(unique, _sizes(layout, shown_only=True), pins)
    full = _fill(unique, _sizes(layout, shown_only=False), pins)
    big, need, cards = shown
    placed = {a.id for a in _placed(shown)}
    held = {a.id for a in _placed(full)} - placed  # room only in hidden blocks: stays new
    for section, stories in (("big_story", [big] if big else []), ("need_to_know", need),
                             ("read_more", cards)):
        for i, a in enumerate(stories):
            if a.id in pins:
                reason = f"pinned by [editor] pin[{pins[a.id][0]}]"
            else:
                reason = "highest score" if a is big else f"score {scores[a.id]:.3f}"
            decisions.append(Decision(a.id, section, i, reason))
    for a in unique:
        if a.id not in placed and a.id not in held:
            drop(a, "passed_over", f"below the cut (score {scores[a.id]:.3f})")

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
        notes=_unmatched(editor.pin, pins) + _unplaced(editor.pin, pins, placed | held),
    )


Placement = tuple[Article | None, list[Article], list[Article]]


def _sizes(layout: LayoutConfig, *, shown_only: bool) -> dict[str, int]:
    return {block: getattr(layout, block) if block in layout.blocks or not shown_only else 0
            for block in STORY_BLOCKS}


Pins = dict[str, tuple[int, str]]  # article id -> (index in [editor] pin, block asked for)


def pin_key(url: str) -> str:
    """A URL as pins compare it: canonical (host in lower case, no default port, no
    fragment, no utm_*, fbclid, gclid ...), without a trailing slash, and the same over
    http and https (a site's links are copied with either)."""
    from .parse import canonical_url

    try:
        canonical = canonical_url(url)
    except ValueError:
        return url.strip()
    head, _, query = canonical.partition("?")
    head = re.sub(r"^https?://", "", head).rstrip("/")
    host, slash, path = head.partition("/")
    if not host.isascii():  # bücher.example and xn--bcher-kva.example are one host
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            pass
    head = f"{host.rstrip('.')}{slash}{path}"
    return f"{head}?{query}" if query else head


def _pins(ranked: Sequence[Article], pins: Sequence[PinConfig]) -> Pins:
    """Which candidates the pins name, each with its pin; the first pin naming an
    article wins."""
    if not pins:  # no canonical URL worked out for 50,000 articles for nothing
        return {}
    by_key: dict[str, Article] = {}
    for article in ranked:
        by_key.setdefault(pin_key(article.url), article)
    found: Pins = {}
    for i, pin in enumerate(pins):
        named = by_key.get(pin_key(pin.url))
        if named is not None and named.id not in found:
            found[named.id] = (i, pin.block)
    return found


def _unmatched(pins: Sequence[PinConfig], found: Pins) -> tuple[str, ...]:
    used = {i for i, _ in found.values()}
    return tuple(f"[editor] pin[{i}] {pin.url} matches no new article (already in an issue, "
                 "excluded, too old, or not in any feed yet); nothing pinned for it"
                 for i, pin in enumerate(pins) if i not in used)


def _unplaced(pins: Sequence[PinConfig], found: Pins, placed: set[str]) -> tuple[str, ...]:
    """Pinned stories the blocks had no room for (more pins than places)."""
    return tuple(f"[editor] pin[{i}] {pins[i].url}: no room left in its block (more pins than "
                 "places); it was passed over"
                 for article_id, (i, _) in sorted(found.items(), key=lambda x: x[1][0])
                 if article_id not in placed)


def _fill(ranked: list[Article], sizes: dict[str, int], pins: Pins) -> Placement:
    """Fill the story blocks from the ranking, in order: big story, Need to know, Read
    More. A pinned story goes to the block its pin names, or is the big story (or leads
    the first block there is); pinned stories lead their block, in pin order."""
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
    big: Article | None = None
    if sizes["big_story"]:
        lead = wanted["big_story"][:1]
        remaining = wanted["big_story"][1:] + remaining  # a second big pin: next in line
        with_image = next((a for a in remaining if a.image), None)
        big = lead[0] if lead else with_image or (remaining[0] if remaining else None)
        remaining = [a for a in remaining if a is not big]
    need = (wanted["need_to_know"] + remaining)[: sizes["need_to_know"]]
    remaining = [a for a in remaining if a not in need]
    room = max(0, sizes["read_more"] - len(wanted["read_more"]))
    # Cards look best with a picture; take those first, in score order.
    cards = (wanted["read_more"] + sorted(remaining, key=lambda a: a.image is None)[:room]
             )[: sizes["read_more"]]
    return big, need, cards


def _placed(placement: Placement) -> list[Article]:
    big, need, cards = placement
    return ([big] if big else []) + need + cards


def upcoming(config: Config, today: date) -> tuple[Event, ...]:
    events = sorted((e for e in config.coming_up if e.date >= today), key=lambda e: e.date)
    return tuple(Event(e.date, e.event) for e in events)


def _score(article: Article, newest: datetime, weight: float, boosts: Sequence[str]) -> float:
    # Recency is measured from the newest candidate, not the clock: an issue built a
    # day late ranks the same stories the same way.
    age_hours = max(0.0, (newest - article.when).total_seconds() / 3600) if article.when else 240
    score = weight * math.pow(0.5, age_hours / HALF_LIFE_HOURS)
    if article.image:
        score += 0.15
    text = f"{article.title} {article.summary}".lower()
    score += 0.5 * sum(1 for word in boosts if word.lower() in text)
    return round(score, 6)


def _excluded_by(article: Article, rules: Sequence[str]) -> str | None:
    text = f"{article.title} {article.summary}".lower()
    for rule in rules:
        if rule.startswith(("http://", "https://")):
            if article.url.rstrip("/") == rule.rstrip("/"):
                return rule
        elif rule.startswith("feed:"):
            if rule[5:].strip().lower() in (article.feed_name.lower(), article.feed_url.lower()):
                return rule
        elif re.search(rf"\b{re.escape(rule.lower())}\b", text):
            return rule
    return None

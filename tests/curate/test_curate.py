"""Curating the bundled samples: duplicates, pins, excludes, block sizes, min items."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from digest.collect.parse import parse_feed
from digest.config.load import load_config
from digest.config.schema import PinConfig
from digest.curate.place import NothingToBuild, curate_issue
from digest.curate.rank import PICTURE, text_bonus
from digest.models import Article
from tests.helpers import NOW


@pytest.fixture
def config(sample_project: Path):
    return load_config(sample_project)


@pytest.fixture
def articles(config) -> list[Article]:
    out = []
    for feed in config.feeds:
        path = config.path(feed.url)
        parsed = parse_feed(path.read_bytes(), feed, path.resolve().as_uri())
        out += [replace(a, first_seen=NOW) for a in parsed]
    return out


def test_every_article_gets_one_decision_and_blocks_are_filled(config, articles):
    issue = curate_issue(articles, config, 1, NOW)
    assert not isinstance(issue, NothingToBuild)
    assert issue.big_story is not None and issue.big_story.image is not None
    assert len(issue.need_to_know) == 3 and len(issue.read_more) == 6
    assert sorted(d.article_id for d in issue.decisions) == sorted(a.id for a in articles)
    placed = [a.id for a in issue.placed]
    assert len(placed) == len(set(placed)) == 10
    # Cards rank by score plus a bonus for a summary and one for a picture: no story left out
    # ranks above the last card by that measure.
    by_id = {a.id: a for a in articles}

    def card_score(d) -> float:
        article = by_id[d.article_id]
        return d.score["total"] + text_bonus(article) + (PICTURE if article.image else 0.0)

    cards = [d for d in issue.decisions if d.section == "read_more"]
    passed = [d for d in issue.decisions if d.section == "passed_over"]
    assert passed and all(card_score(p) <= min(map(card_score, cards)) for p in passed)
    assert [e.event for e in issue.coming_up] == ["China November trade data"]  # past dropped


def test_duplicates_across_feeds_are_dropped(config, articles):
    issue = curate_issue(articles, config, 1, NOW)
    dupes = [d for d in issue.decisions if d.section == "duplicate"]
    by_id = {a.id: a for a in articles}
    titles = sorted(by_id[d.article_id].title for d in dupes)
    # world.atom repeats a markets story with ?utm_source=feed, and another with a
    # headline that differs only in case and punctuation.
    assert len(dupes) == 2, titles
    urls = {by_id[d.article_id].url for d in dupes}
    assert any("yuan-ends-week" in u for u in urls)
    assert any("hang-seng" in u for u in urls)
    assert all(d.reason.startswith("same story as https://") for d in dupes)


def test_pin_and_exclude(config, articles):
    pinned = next(a for a in articles if "soybean-purchases" in a.url)
    editor = replace(config.editor, pin=[PinConfig(pinned.url)], exclude=["semiconductor", "feed:Policy"])
    issue = curate_issue(articles, replace(config, editor=editor), 1, NOW)
    assert issue.big_story.id == pinned.id
    assert next(d for d in issue.decisions if d.article_id == pinned.id).reason == \
        "pinned by [editor] pin[0]"
    excluded = {d.article_id: d.reason for d in issue.decisions if d.section == "excluded"}
    by_id = {a.id: a for a in articles}
    assert all(by_id[i].feed_name == "Policy" or "semiconductor" in
               (by_id[i].title + by_id[i].summary).lower() for i in excluded)
    assert any(by_id[i].feed_name == "Policy" for i in excluded)
    assert all(a.feed_name != "Policy" for a in issue.placed)
    assert all("semiconductor" not in a.title.lower() for a in issue.placed)


def test_too_few_new_articles_means_no_issue(config, articles):
    strict = replace(config, schedule=replace(config.schedule, min_new_items=50))
    result = curate_issue(articles, strict, 1, NOW)
    assert isinstance(result, NothingToBuild)
    assert result.reason == ("40 new article(s), fewer than [schedule] min_new_items = 50; "
                             "no issue built")


def test_max_age_days(config, articles):
    aged = replace(config, editor=replace(config.editor, max_age_days=3))
    issue = curate_issue(articles, aged, 1, NOW)
    too_old = [d for d in issue.decisions if d.section == "too_old"]
    assert too_old and all(d.reason == "older than [editor] max_age_days = 3" for d in too_old)
    cutoff = NOW.timestamp() - 3 * 86400
    assert all(a.when.timestamp() >= cutoff for a in issue.placed)


LAYOUTS = [
    ["masthead", "need_to_know", "footer"],
    ["big_story", "read_more"],
    ["need_to_know", "read_more"],
    ["read_more"],
]


@pytest.mark.parametrize("blocks", LAYOUTS, ids=lambda b: ",".join(b))
def test_only_shown_blocks_take_articles(config, articles, blocks):
    full = curate_issue(articles, config, 1, NOW)
    shown = curate_issue(articles, replace(config, layout=replace(config.layout, blocks=blocks)),
                         1, NOW)
    sizes = {"big_story": 1, "need_to_know": 3, "read_more": 6}
    got = {"big_story": 1 if shown.big_story else 0, "need_to_know": len(shown.need_to_know),
           "read_more": len(shown.read_more)}
    assert got == {b: n if b in blocks else 0 for b, n in sizes.items()}
    # The ranking fills the shown blocks: the full layout's stories, in order, come first.
    placed = {a.id for a in shown.placed}
    held = {a.id for a in full.placed} - placed
    assert len(held) == 10 - len(placed)
    # Held articles get no decision (so they stay new); everything else is decided once.
    decided = [d.article_id for d in shown.decisions]
    assert sorted(decided) == sorted(a.id for a in articles if a.id not in held)
    passed = {d.article_id for d in shown.decisions if d.section == "passed_over"}
    assert passed == {d.article_id for d in full.decisions if d.section == "passed_over"}


def test_hidden_big_story_the_lead_story_heads_need_to_know(config, articles):
    full = curate_issue(articles, config, 1, NOW)
    layout = replace(config.layout, blocks=["need_to_know", "read_more"])
    shown = curate_issue(articles, replace(config, layout=layout), 1, NOW)
    assert shown.big_story is None
    # The top-scoring story: the big story is the best one with a picture and text.
    by_id = {a.id: a for a in articles}
    top = max((d for d in full.decisions if d.score and d.section != "duplicate"),
              key=lambda d: d.score["total"] + text_bonus(by_id[d.article_id]))
    assert shown.need_to_know[0].id == top.article_id


def test_hidden_big_story_a_pin_leads_the_first_shown_block(config, articles):
    pinned = next(a for a in articles if "soybean-purchases" in a.url)
    editor = replace(config.editor, pin=[PinConfig(pinned.url)])
    for blocks in (["need_to_know"], ["read_more"]):
        layout = replace(config.layout, blocks=blocks)
        issue = curate_issue(articles, replace(config, editor=editor, layout=layout), 1, NOW)
        assert issue.placed[0].id == pinned.id
        decision = next(d for d in issue.decisions if d.article_id == pinned.id)
        assert (decision.section, decision.position, decision.reason) == (
            blocks[0], 0, "pinned by [editor] pin[0]")


def _story(i: int, feed: str) -> Article:
    return Article(id=f"{feed}-{i}", feed_url=f"https://{feed}.example/rss", feed_name=feed,
                   url=f"https://{feed}.example/{i}", title=f"Story {i} from {feed}",
                   summary="", body_html="", published=datetime(2026, 11, 30))


def test_only_stories_that_may_be_placed_are_grouped_into_events():
    """A backlog of 50,000 is compared in a pool of a few thousand (the cost stays flat),
    and a second feed's first story, ranked below thousands from one busy feed, is in
    it: the pool is per feed, not a plain top N."""
    from digest.curate.place import CONTENTION_FLOOR, Contention

    def in_contention(ranked, slots):  # the whole ranking through Contention, as curate does
        contention = Contention(slots, everything=len(ranked) <= CONTENTION_FLOOR)
        for i, article in enumerate(ranked):
            if contention.full:
                return contention.inside, contention.outside + ranked[i:]
            contention.add(article)
        return contention.inside, contention.outside

    busy = [_story(i, "busy") for i in range(5000)]
    quiet = [_story(i, "quiet") for i in range(3)]
    many = [_story(i, f"feed{i % 1000}") for i in range(50_000)]
    inside, outside = in_contention(busy + quiet, slots=20)
    assert [a.id for a in inside] == [a.id for a in busy[:20] + quiet]
    assert len(inside) + len(outside) == 5003
    inside, outside = in_contention(many, slots=20)
    assert CONTENTION_FLOOR <= len(inside) <= CONTENTION_FLOOR + 20
    assert len({a.feed_url for a in inside}) == 1000
    small = many[:CONTENTION_FLOOR]
    assert in_contention(small, slots=1) == (small, [])

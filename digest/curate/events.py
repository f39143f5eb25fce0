"""One event, several outlets: stories that report the same thing in other words.

Two stories are one event when, within WINDOW_HOURS of each other, their titles and
summaries share at least MIN_SHARED distinctive names or figures (people, places, firms,
numbers: "Halong", "Ningbo", "1,200") and those carry at least SAME of the weight of the
smaller story's. Names are told from other words by the candidates themselves: a word
written with a capital inside sentences (NAME_SHARE of the time) is a name. A name's
weight is its inverse document frequency over the candidates (log N/df), so what every
story of a China newsletter names ("China", "Beijing") counts for little, and one in
more than COMMON of them counts for nothing. The same firm in two stories is not one
event: "Huaxin recalls 84,000 cars" and "Huaxin opens a plant in Hungary" share two
names, not three.

Comparing every pair grows with the square of the article count, so each story is
compared only with the earlier ones that share one of its LOOKUP rarest features, in
posting lists of at most POSTING_CAP stories each, and with at most CANDIDATE_CAP of
them: linear in the number of articles.
"""

from __future__ import annotations

import math
import re
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from digest.models import Article

WINDOW_HOURS = 72
MIN_SHARED = 3
SAME = 0.4
COMMON = 0.05  # share of the candidates above which a name is not distinctive
NAME_SHARE = 0.8  # a word capitalized this often inside sentences is a name
TITLE_CASE = 0.5  # a title with this share of capitalized words is Title Case
LOOKUP = 8
POSTING_CAP = 32
CANDIDATE_CAP = 64  # earlier stories one story is compared with, at most
TEXT_CHARS = 240  # of the summary read: its first sentence or two
_TOKEN = re.compile(r"\d[\d,.]*\d|\d|[^\W\d_]+|[.!?:;]")
_END = frozenset(".!?:;")


@dataclass(frozen=True)
class _Text:
    """A story's title and summary start, as tokens (read once per story)."""

    title: list[str]
    summary: list[str]

    @classmethod
    def of(cls, article: Article) -> _Text:
        return cls(_TOKEN.findall(article.title), _TOKEN.findall(article.summary[:TEXT_CHARS]))

    def in_sentences(self) -> list[tuple[str, bool]]:
        """(token, starts a sentence) of the title (unless Title Case: there every word
        is capitalized, names or not) and of the summary."""
        out: list[tuple[str, bool]] = []
        words = [t for t in self.title if t[0].isalpha() and len(t) >= 4]
        if words and sum(t[0].isupper() for t in words) < TITLE_CASE * len(words):
            out += _positions(self.title)
        return out + _positions(self.summary)


def _positions(tokens: list[str]) -> list[tuple[str, bool]]:
    out = []
    start = True
    for token in tokens:
        if token in _END:
            start = True
            continue
        out.append((token, start))
        start = False
    return out


def names(texts: Sequence[_Text]) -> frozenset[str]:
    """Words written with a capital inside sentences nearly always (NAME_SHARE) over the
    candidates: names of people, places, firms ("Halong", "Ningbo", "Huaxin"), in lower
    case. A word seen only at a sentence's start is no evidence either way."""
    upper: Counter[str] = Counter()
    lower: Counter[str] = Counter()
    for text in texts:
        for token, first in text.in_sentences():
            if first or not token[0].isalpha():
                continue
            (upper if token[0].isupper() else lower)[token.lower()] += 1
    return frozenset(w for w, n in upper.items() if n >= NAME_SHARE * (n + lower[w]))


def features(text: _Text, known: frozenset[str]) -> frozenset[str]:
    """The names (of `known`) and figures in a story's title and summary start: every
    mention of a name counts, also at a sentence's start and in a Title Case title."""
    out = set()
    for token in (*text.title, *text.summary):
        if token[0].isdigit():
            out.add(token.replace(",", "").rstrip("."))
        elif token[0].isalpha():
            lowered = token.lower()
            if lowered in known:
                out.add(lowered)
    return frozenset(out)


@dataclass(frozen=True)
class Event:
    """Stories on one event: `kept` goes on, `others` are its other reports."""

    kept: Article
    others: tuple[Article, ...]


@dataclass
class EventStats:
    comparisons: int = 0  # story pairs compared: the growth test counts these


def group_events(ranked: Sequence[Article], weights: Mapping[str, float] | None = None,
                 stats: EventStats | None = None) -> list[Event]:
    """The stories grouped by event, in the order of each event's first story; within
    one, the best covered is kept (see `coverage`). `weights`: feed url -> weight."""
    stats = stats or EventStats()
    weights = weights or {}
    texts = [_Text.of(a) for a in ranked]
    known = names(texts)
    feats = [features(t, known) for t in texts]
    counts = Counter(f for fs in feats for f in fs)
    total = max(1, len(ranked))
    ceiling = max(MIN_SHARED + 1, COMMON * total)
    weight = {f: (math.log(total / n) if n <= ceiling else 0.0) for f, n in counts.items()}
    # Only distinctive features count: the others are dropped before comparing, and
    # a story with fewer than MIN_SHARED of them can match nothing (nor be matched).
    rare_feats = [frozenset(f for f in fs if weight[f] > 0) for fs in feats]
    mass = [sum(weight[f] for f in fs) for fs in rare_feats]
    whens = [a.when for a in ranked]
    feed_of = [a.feed_url for a in ranked]
    groups: list[list[int]] = []
    leader_of: list[int] = []  # story index -> its group
    postings: dict[str, deque[int]] = {}
    window = timedelta(hours=WINDOW_HOURS)
    for i in range(len(ranked)):
        mine = rare_feats[i]
        match = None
        rare: list[str] = []
        if len(mine) >= MIN_SHARED:
            rare = sorted(mine, key=lambda f: (counts[f], f))[:LOOKUP]
            candidates: set[int] = set()
            for f in rare:
                candidates.update(postings.get(f, ()))
            when = whens[i]
            for j in sorted(candidates)[-CANDIDATE_CAP:]:  # the latest, most alike in rank
                stats.comparisons += 1
                if feed_of[j] == feed_of[i]:
                    continue  # a feed's own repeats are the titles' and links' business
                other = whens[j]
                if when and other and abs(when - other) > window:
                    continue
                if _same(mine, rare_feats[j], min(mass[i], mass[j]), weight):
                    match = leader_of[j]
                    break
        if match is None:
            match = len(groups)
            groups.append([])
            for f in rare:  # only a group's first story is looked up
                postings.setdefault(f, deque(maxlen=POSTING_CAP)).append(i)
        groups[match].append(i)
        leader_of.append(match)
    events = []
    for members in groups:
        stories = [ranked[i] for i in members]
        kept = max(stories, key=lambda a: coverage(a, weights.get(a.feed_url, 1.0)))
        events.append(Event(kept, tuple(a for a in stories if a is not kept)))
    return events


def _same(a: frozenset[str], b: frozenset[str], smaller: float,
          weight: dict[str, float]) -> bool:
    """Two stories' distinctive features: enough shared, with enough of the weight of
    the story with less (`smaller`)."""
    shared = a & b
    if len(shared) < MIN_SHARED:
        return False
    return smaller > 0 and sum(weight[f] for f in shared) >= SAME * smaller


def coverage(article: Article, weight: float = 1.0) -> tuple[bool, int, float, int]:
    """How well a story covers its event: a picture, then its text (summary words in
    steps of 20, up to 60), then its feed's weight, then its place in its feed."""
    words = min(60, len(article.summary.split()))
    return bool(article.image), words // 20, weight, -article.position

"""Reader topics as sets of `[[topics]]` names, and which stories a set covers: the
light half of topic editions (digest.curate.variants makes the editions; the send
reads only this)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from digest.config.schema import Config
from digest.models import Article

TopicSet = frozenset[str]
FULL: TopicSet = frozenset()  # no topics ticked: everything


def topic_names(config: Config) -> tuple[str, ...]:
    return tuple(t.name for t in config.topics)


def read_topics(text: str, config: Config, *, sep: str = "|") -> tuple[TopicSet, tuple[str, ...]]:
    """The topic names in `text` ("markets|tech"), as (the known ones, the unknown ones as
    written). Case and spaces around a name do not count."""
    known = set(topic_names(config))
    names = [n.strip() for n in text.split(sep) if n.strip()]
    good = frozenset(n.lower() for n in names if n.lower() in known)
    return good, tuple(n for n in names if n.lower() not in known)


def topics_text(topics: Iterable[str], sep: str = "|") -> str:
    """How the subscribers table and the CSV spell a set: sorted names joined by `sep`."""
    return sep.join(sorted(topics))


def set_key(topics: TopicSet) -> str:
    """A variant's key in issue.json: "markets+tech"."""
    return "+".join(sorted(topics))


class Matcher:
    """Which stories a topic set covers: a story's category (or its feed's [[feeds]]
    category) among a topic's `categories`, or its feed among the topic's `feeds`."""

    def __init__(self, config: Config) -> None:
        self.categories = {t.name: {c.strip().casefold() for c in t.categories if c.strip()}
                           for t in config.topics}
        self.feeds = {t.name: set(t.feeds) for t in config.topics}
        self.feed_of = {f.url: f for f in config.feeds}

    def topics_of(self, article: Article) -> TopicSet:
        feed = self.feed_of.get(article.feed_url)
        own = {article.category.strip().casefold(), feed.category.strip().casefold()
               if feed else ""} - {""}
        name = feed.name if feed else article.feed_name
        return frozenset(t for t, cats in self.categories.items()
                         if own & cats or name in self.feeds[t])

    def covers(self, topics: TopicSet, article: Article) -> bool:
        return not topics or bool(self.topics_of(article) & topics)

    def within(self, topics: TopicSet, articles: Iterable[Article]) -> list[Article]:
        return [a for a in articles if self.covers(topics, a)]


def choose_sets(readers: Mapping[TopicSet, int], cap: int) -> tuple[TopicSet, ...]:
    """The sets that get a variant: most readers first (then by key), at most `cap`."""
    ranked = sorted((s for s in readers if s), key=lambda s: (-readers[s], set_key(s)))
    return tuple(ranked[:cap])


def nearest(topics: TopicSet, available: Sequence[TopicSet]) -> TopicSet:
    """The edition for a reader's set: the same set, else the nearest broader one of
    `available` (fewest topics; the first in `available` of those), else FULL."""
    if not topics:
        return FULL
    if topics in available:
        return topics
    broader = [s for s in available if topics < s]
    return min(broader, key=len) if broader else FULL

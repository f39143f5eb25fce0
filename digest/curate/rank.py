"""The score curate ranks stories by, in parts an editor can read in issue.json.

    score = weight x (freshness + place) + boost + coverage

- freshness: 0.5 ** (age / 72 h), the age measured from the newest dated candidate
  (so a late build ranks the same way). A date after the story was first seen counts
  as then (digest.models.Article.when). An undated story is dated by its feed or by
  when it was first seen, never later than the newest dated story, and counts
  UNDATED_HOURS older: it ranks below dated stories of the same age.
- place: PLACE / (1 + position / 2): the feed's own order is its editors' ranking,
  0.2 for a feed's top story, 0.1 for its third.
- boost: BOOST_EACH per `[editor] boost` word in the title, summary or categories
  (whole words), at most BOOST_CAP: boosts tilt the ranking, never override a day of
  freshness.
- coverage: COVERAGE_EACH for each other outlet that reported the same event (digest.curate.events),
  at most COVERAGE_CAP.

Blocks add their own: every block shows a story's summary, so one with at least
TEXT_WORDS words of it gets TEXT (a bare headline makes a poor item); the big story and
Read More cards show pictures, so there a story with one gets PICTURE; Need to know
shows none, so a summary-only feed competes there on its news alone.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from digest.models import Article

HALF_LIFE_HOURS = 72.0
UNDATED_HOURS = 72.0
PLACE = 0.2
BOOST_EACH, BOOST_CAP = 0.15, 0.3
COVERAGE_EACH, COVERAGE_CAP = 0.1, 0.3
PICTURE = 0.3
TEXT, TEXT_WORDS = 0.3, 10  # every block shows a story's summary: one with this many words
NO_DATE_HOURS = 240.0  # a story with no date at all and no first-seen time


@dataclass(frozen=True, slots=True)  # one a candidate: 50,000 at 1,000 feeds
class Score:
    freshness: float
    place: float
    weight: float
    boost: float
    coverage: float = 0.0
    undated: bool = False
    # Not in the total: what the blocks that show a summary (all) or a picture add.
    summary: float = 0.0
    picture: float = 0.0

    total: float = field(init=False)  # worked out once: sorting reads it many times

    def __post_init__(self) -> None:
        object.__setattr__(self, "total", round(
            self.weight * (self.freshness + self.place) + self.boost + self.coverage, 6))

    def with_coverage(self, others: int) -> Score:
        return Score(self.freshness, self.place, self.weight, self.boost,
                     min(COVERAGE_CAP, COVERAGE_EACH * others), self.undated, self.summary,
                     self.picture)

    def for_block(self, block: str) -> float:
        """The score in a block: the summary counts in every one, the picture in the
        big story and Read More, which show pictures."""
        extra = self.summary + (self.picture if block in ("big_story", "read_more") else 0.0)
        return round(self.total + extra, 6)

    def parts(self) -> dict[str, float | bool]:
        """For issue.json: each part, and the total."""
        return {"total": self.total, "freshness": round(self.freshness, 4),
                "place": round(self.place, 4), "weight": self.weight,
                "boost": round(self.boost, 4), "coverage": round(self.coverage, 4),
                "undated": self.undated, "summary": self.summary, "picture": self.picture}


def newest_dated(articles: Sequence[Article], default: datetime) -> datetime:
    """The time freshness is measured from: the newest dated story's."""
    dated = [a.when for a in articles if a.when and not a.undated]
    if dated:
        return max(dated)
    return max((a.when for a in articles if a.when), default=default)


def score(article: Article, newest: datetime, weight: float, boosts: Sequence[str]) -> Score:
    when = article.when
    if when is None:
        age = NO_DATE_HOURS
    else:
        if article.undated and when > newest:
            when = newest  # never fresher than the newest dated story
        age = max(0.0, (newest - when).total_seconds() / 3600)
    if article.undated:
        age += UNDATED_HOURS
    freshness = math.pow(0.5, age / HALF_LIFE_HOURS)
    place = PLACE / (1 + max(0, article.position) / 2)
    matched = 0
    if boosts:
        text = f"{article.title} {article.summary} {' '.join(article.tags)}"
        matched = sum(1 for word in boosts if matches(word, text))
    return Score(round(freshness, 6), round(place, 6), weight,
                 min(BOOST_CAP, BOOST_EACH * matched), undated=article.undated,
                 summary=text_bonus(article), picture=picture_bonus(article))


def picture_bonus(article: Article) -> float:
    return PICTURE if article.image else 0.0


def text_bonus(article: Article) -> float:
    summary = article.summary
    if len(summary.split(None, TEXT_WORDS)) >= TEXT_WORDS:
        return TEXT
    # Chinese and Japanese run without spaces: two characters count as a word.
    words = len(summary.split()) + len(_UNSPACED.findall(summary[:200])) // 2
    return TEXT if words >= TEXT_WORDS else 0.0


def matches(phrase: str, text: str) -> bool:
    """`phrase` in `text` as whole words, ignoring case, in any script: 'China' is not
    in 'Chinatown', 'trade war' is in 'the trade  war'. Chinese and Japanese, written
    without spaces, match anywhere."""
    # "Zu\u0308rich" is "Zürich"; normalize returns text already in NFC as it is, after
    # its own quick check (a check of ours before it only made it slower).
    text = unicodedata.normalize("NFC", text)
    return _pattern(phrase).search(text) is not None


_PATTERNS: dict[str, re.Pattern[str]] = {}
_UNSPACED = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\u0e00-\u0e7f]")


def _pattern(phrase: str) -> re.Pattern[str]:
    pattern = _PATTERNS.get(phrase)
    if pattern is None:
        words = r"\s+".join(re.escape(w) for w in unicodedata.normalize("NFC", phrase).split())
        if _UNSPACED.search(phrase):
            pattern = re.compile(words, re.I)
        else:
            pattern = re.compile(r"(?<!\w)" + words + r"(?!\w)", re.I)
        if len(_PATTERNS) < 10_000:
            _PATTERNS[phrase] = pattern
    return pattern

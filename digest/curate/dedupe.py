"""Near-duplicate titles in linear expected time.

Two titles are one story when their keys (lower case, punctuation folded to spaces)
carry the same figures and are at least NEAR alike: with d the number of characters
to insert or delete to turn one key into the other (rapidfuzz's Indel distance, i.e.
their longest common subsequence) and T their total length, 1 - d/T >= NEAR.
"Exports rise 2%" and "Exports rise 5%" carry different figures: two stories.

Comparing every new title with every kept one grows with the square of the article
count, so a title is compared only with the kept titles that share one of its rarer
features in an inverted index, kept per set of figures:

- character 3-grams of the key. An inserted or deleted character spoils at most 3 of
  them, so a key of length L shares at least L - 3*dmax grams with any key near it
  (dmax = 2L(1 - NEAR)/NEAR, the most characters a near key can differ by). Rank every
  gram by how few titles carry it: two near keys then share one of their 3*dmax + 1
  rarest grams (prefix filtering). Only those are indexed and looked up, and while no
  cap below is reached no twin is missed;
- runs of two and three adjacent words, which stay rare when single words and grams
  do not (a news beat's small vocabulary).

Every posting list keeps the latest POSTING_CAP titles (articles come in ranking order
and copies of one story tend to score alike), and a title stops collecting candidates
at CANDIDATE_CAP, rarest features first. The work per title is bounded whatever the
vocabulary, so the stage is linear in the number of articles; past the caps a twin
that shares only common features with a title may be missed, and both stay.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from itertools import chain
from operator import itemgetter
from typing import Generic, TypeVar

from rapidfuzz.distance import Indel
from rapidfuzz.process import extract_iter

NEAR = Fraction(23, 25)  # 0.92: title similarity at or above which two articles are one story
GRAM = 3
POSTING_CAP = 32
CANDIDATE_CAP = 64
_NUM, _DEN = NEAR.numerator, NEAR.denominator

T = TypeVar("T")
Figures = tuple[str, ...]


_NOT_WORD = re.compile(r"[^\w]+")
_DIGITS = re.compile(r"\d+")


def title_key(title: str) -> str:
    return _NOT_WORD.sub(" ", title.lower()).strip()


def figures(key: str) -> Figures:
    return tuple(_DIGITS.findall(key))


def is_near(key: str, other: str) -> bool:
    """The similarity rule itself, in integer arithmetic (no rounding at the threshold)."""
    allowed = _allowed(len(key) + len(other))
    return Indel.distance(key, other, score_cutoff=allowed) <= allowed


def _allowed(total: int) -> int:
    """The most characters two keys of this total length may differ by and be near."""
    return total * (_DEN - _NUM) // _DEN


def _max_distance(length: int) -> int:
    """The most a key of this length can differ from any key near it: d <= (1 - NEAR)
    * (length + other), and other <= length + d."""
    return length * 2 * (_DEN - _NUM) // _NUM


def _grams(key: str) -> list[str]:
    """The key's 3-grams (padded, so a one-letter key has one), numbered so that a
    repeated gram counts as often as it occurs."""
    if not key:
        return []
    padded = f" {key} "
    grams = [padded[i : i + GRAM] for i in range(len(padded) - GRAM + 1)]
    if len(set(grams)) < len(grams):
        seen: dict[str, int] = {}
        for i, gram in enumerate(grams):
            n = seen.get(gram, 0)
            seen[gram] = n + 1
            if n:
                grams[i] = f"{gram}\x00{n}"
    return grams


def _word_runs(key: str) -> list[str]:
    """Runs of two and three adjacent words."""
    words = key.split()
    runs = {f"\x01{a} {b}" for a, b in zip(words, words[1:], strict=False)}
    runs.update(f"\x01{a} {b} {c}" for a, b, c in zip(words, words[1:], words[2:], strict=False))
    return list(runs)


class _Ranks(dict[str, int]):
    """Feature -> place in the order; a feature first met after counting ranks last."""

    def __missing__(self, feature: str) -> int:
        self[feature] = rank = len(self)
        return rank


@dataclass
class DedupeStats:
    """What the candidate search did: the growth tests and the benchmark count these."""

    lookups: int = 0  # posting-list entries read
    comparisons: int = 0  # kept titles given to rapidfuzz
    full_lists: int = 0  # times a posting list was full and dropped its oldest title
    cut_searches: int = 0  # searches stopped at CANDIDATE_CAP


class NearTitles(Generic[T]):
    """The titles kept so far, each with its item, to find the one a new title repeats.

    `titles` are all the titles that will be looked up or added: features are ranked by
    how few of them carry each. Other titles work too; their unseen features rank last.
    """

    def __init__(self, titles: Iterable[str]) -> None:
        self.stats = DedupeStats()
        # Each title's key and raw features, made once here for the counts and kept for
        # its lookup and its add.
        self._keyed = {t: title_key(t) for t in titles}
        self._raw = {k: (_grams(k), _word_runs(k)) for k in set(self._keyed.values())}
        counts = Counter(chain.from_iterable(g + r for g, r in self._raw.values()))
        # One fixed order of all features, rarest first (ties by name): prefix filtering
        # holds only if every title is indexed and looked up under the same order.
        self._rank = _Ranks(
            (f, i) for i, (f, _) in enumerate(sorted(counts.items(), key=itemgetter(1, 0))))
        self._exact: dict[str, T] = {}
        self._keys: list[str] = []
        self._items: list[T] = []
        self._postings: dict[Figures, dict[str, deque[int]]] = {}
        self._last: tuple[str, tuple[str, Figures, list[str]]] = ("", ("", (), []))

    def twin(self, title: str) -> T | None:
        """The earliest kept item whose title has the same key or is near this one."""
        key, figs, features = self._features(title)
        if key in self._exact:
            return self._exact[key]
        postings = self._postings.get(figs)
        if not postings:
            return None
        candidates: set[int] = set()
        for feature in features:
            posting = postings.get(feature)
            if posting:
                self.stats.lookups += len(posting)
                candidates.update(posting)
                if len(candidates) >= CANDIDATE_CAP:
                    self.stats.cut_searches += 1
                    break
        order = sorted(candidates)
        self.stats.comparisons += len(order)
        # rapidfuzz screens the candidates in one call, in kept order, against the
        # distance the longest possible twin may have; is_near then decides exactly.
        longest = len(key) + _max_distance(len(key))
        for _, _, i in extract_iter(key, [self._keys[i] for i in order], scorer=Indel.distance,
                                    score_cutoff=_allowed(len(key) + longest)):
            if is_near(key, self._keys[order[i]]):
                return self._items[order[i]]
        return None

    def add(self, title: str, item: T) -> None:
        key, figs, features = self._features(title)
        self._exact.setdefault(key, item)
        postings = self._postings.setdefault(figs, {})
        kept = len(self._keys)
        for feature in features:
            posting = postings.get(feature)
            if posting is None:
                postings[feature] = posting = deque(maxlen=POSTING_CAP)
            elif len(posting) == POSTING_CAP:
                self.stats.full_lists += 1
            posting.append(kept)
        self._keys.append(key)
        self._items.append(item)

    def _features(self, title: str) -> tuple[str, Figures, list[str]]:
        """The title's key and figures; its rarest grams that prefix filtering needs and
        its word pairs, rarest first. Kept for the `add` that follows a `twin`."""
        if self._last[0] == title:
            return self._last[1]
        key = self._keyed.get(title)
        if key is None:
            key = title_key(title)
        raw = self._raw.get(key)
        grams, runs = raw if raw is not None else (_grams(key), _word_runs(key))
        rank = self._rank.__getitem__
        grams = sorted(grams, key=rank)[: GRAM * _max_distance(len(key)) + 1]
        features = sorted(grams + runs, key=rank)
        self._last = (title, (key, figures(key), features))
        return self._last[1]

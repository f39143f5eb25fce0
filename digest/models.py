"""Typed, immutable values passed between the pipeline stages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, get_args

# Where a considered article went in an issue: a story block, or why it is not in one.
StoryBlock = Literal["big_story", "need_to_know", "read_more"]
Section = Literal[
    "big_story", "need_to_know", "read_more", "passed_over", "duplicate", "excluded",
    "too_old", "off_topic", "other_language", "published_before", "unrenderable",
    "dropped_for_size",
]
BuildStatus = Literal["built", "preview", "nothing", "exists", "draft"]
# A feed's fetch: read, read despite errors, unchanged since last time (304), failed.
FetchStatus = Literal["ok", "warning", "not_modified", "error"]
# An issue: built (not sent), sending (begun), sent, recovered (adopted from the
# outbox after a crash: whether it went out is unknown), paused (a send stopped itself at
# a `[delivery] pause_*` threshold: only `digest send N --resume` goes on).
IssueState = Literal["built", "sending", "sent", "recovered", "paused"]
# One recipient of one issue; "sending" is in flight (sent, not confirmed);
# "suppressed": unsubscribed while the send ran, never sent.
DeliveryState = Literal["pending", "sending", "delivered", "deferred", "failed", "suppressed"]
SubscriberStatus = Literal["pending", "active", "unsubscribed", "bounced"]
# "policy": refused for content or the sender (5.7.x, spam): not the address's fault.
BounceKind = Literal["hard", "soft", "complaint", "delivered", "policy"]

SECTIONS: tuple[Section, ...] = get_args(Section)
DELIVERY_STATES: tuple[DeliveryState, ...] = get_args(DeliveryState)
SUBSCRIBER_STATUSES: tuple[SubscriberStatus, ...] = get_args(SubscriberStatus)


UNTITLED = "(untitled)"  # the headline of an item without one (never placed)

@dataclass(frozen=True)
class Image:
    url: str
    alt: str = ""
    caption: str = ""
    credit: str = ""  # "Photographer | Agency"
    # The size it is shown at in its slot, in CSS pixels (Outlook sizes an <img> by its
    # width attribute); None until the images stage has measured it.
    width: int | None = None
    height: int | None = None
    source: str = ""  # the feed's URL for the picture, when `url` is a resized copy


@dataclass(frozen=True)
class Article:
    id: str  # stable: hash of feed url + guid
    feed_url: str
    feed_name: str
    url: str  # canonical link to the source
    title: str
    summary: str  # plain text, short (the feed's description)
    body_html: str  # sanitized HTML, the fullest content the feed gave
    category: str = ""
    author: str = ""
    image: Image | None = None
    published: datetime | None = None  # tz-aware UTC
    first_seen: datetime | None = None  # set by the store
    position: int = 0  # its place in its feed (0: the feed's top story)
    # The item gave no date: `published` is the feed's own (lastBuildDate/updated), or
    # None, and curate ranks it below dated stories of the same age.
    undated: bool = False
    language: str = ""  # "en", "de", "ja" ...; "" when not known (digest.collect.language)
    tags: tuple[str, ...] = ()  # the feed's categories for it, all of them

    @property
    def when(self) -> datetime | None:
        """When it was published, as best known; never after it was first seen (a
        feed's future date is clamped to the collect time)."""
        if self.published and self.first_seen and self.published > self.first_seen:
            return self.first_seen
        return self.published or self.first_seen


@dataclass(frozen=True)
class Event:
    """A "Coming up" calendar entry."""

    date: date
    event: str


@dataclass(frozen=True)
class Decision:
    """Where one considered article went in an issue, and why."""

    article_id: str
    section: Section
    position: int
    reason: str
    score: Mapping[str, float | bool] | None = None  # digest.curate.rank.Score.parts()


@dataclass(frozen=True)
class CuratedIssue:
    number: int
    date: datetime  # build time in the newsletter's time zone
    big_story: Article | None
    need_to_know: tuple[Article, ...]
    read_more: tuple[Article, ...]
    coming_up: tuple[Event, ...]
    decisions: tuple[Decision, ...]
    slot: str | None = None  # the schedule slot this issue is for, if any
    notes: tuple[str, ...] = ()  # for the editor: e.g. a pin that matched no story
    note: str = ""  # this issue's editor's note (a draft's), in place of [newsletter] intro
    subject: str = ""  # this issue's subject (a draft's), in place of [newsletter] subject

    @property
    def placed(self) -> tuple[Article, ...]:
        lead = (self.big_story,) if self.big_story else ()
        return lead + self.need_to_know + self.read_more


@dataclass(frozen=True)
class RenderedIssue:
    issue: CuratedIssue
    subject: str
    preheader: str
    html: str
    text: str
    marker: str  # spells this render's per-recipient placeholders (render.Placeholders)
    dropped_cards: int = 0  # Read More cards dropped to stay under the size budget
    notes: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class FeedState:
    """A feed's health and validators, as the state database keeps them."""

    url: str
    name: str
    etag: str | None
    last_modified: str | None
    last_status: FetchStatus | None
    last_error: str | None
    failures: int
    last_fetched: str | None
    last_ok: str | None


@dataclass(frozen=True)
class CachedPage:
    """An article page as enrichment read it (`facts`: JSON of digest.enrich.pages.PageFacts)."""

    url: str
    etag: str | None
    last_modified: str | None
    facts: str
    fetched_at: str
    # The feed whose internal standing let it be fetched (digest.enrich.linked); "": under
    # the public rules, so any feed's story may reuse it unasked.
    fetched_for: str = ""


@dataclass(frozen=True)
class CachedImage:
    """A source picture as made for one slot (see digest.enrich.pictures), and the validators
    of the response it was made from."""

    url: str
    slot: str
    etag: str | None
    last_modified: str | None
    source_width: int
    source_height: int
    name: str
    width: int
    height: int
    data: bytes
    fetched_at: str
    fetched_for: str = ""  # as CachedPage's


@dataclass(frozen=True)
class IssueRecord:
    """An issue as the state database records it."""

    number: int
    slot: str | None
    date: str
    subject: str
    outbox_path: str
    state: IssueState
    created_at: str

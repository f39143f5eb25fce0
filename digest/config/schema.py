"""The schema of config.toml: one frozen dataclass per table, typed with what TOML gives
(and, for keys with a fixed set of values, a Literal naming them: digest.config.rules
takes its choices from these)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from digest.models import StoryBlock

DeliveryMode = Literal["outbox", "smtp"]
SmtpSecurity = Literal["tls", "starttls", "none"]
# Which stories' article pages are read: "missing" (no picture or no body in the feed).
EnrichMode = Literal["missing", "always", "never"]
LogFormat = Literal["text", "json"]  # digest.logs: a line of text, or a JSON object a line
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

BLOCKS = (
    "preheader",
    "top_bar",
    "masthead",
    "intro",
    "big_story",
    "need_to_know",
    "read_more",
    "coming_up",
    "footer",
)


@dataclass(frozen=True)
class NewsletterConfig:
    name: str
    dek: str = ""
    intro: str = ""
    language: str = "en"
    timezone: str = "UTC"
    web_url: str = ""
    subscribe_url: str = ""
    manage_url: str = ""
    # Where each issue folder's images/ files are published; "" hot-links the pictures
    # from where the feeds have them (see digest.enrich.pictures).
    assets_url: str = ""
    postal_address: str = ""
    copyright: str = ""  # default: "© <year> <name>"
    slug: str = ""  # default: derived from name
    subject: str = "{name}: {headline}"

    def __post_init__(self) -> None:
        if not self.slug:
            object.__setattr__(self, "slug", slugify(self.name))


@dataclass(frozen=True)
class FeedConfig:
    url: str
    name: str = ""
    category: str = ""
    weight: float = 1.0
    enrich: Literal[EnrichMode, ""] = ""  # overrides [enrich] pages for this feed's stories

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.url)


@dataclass(frozen=True)
class LabelsConfig:
    """`[labels]`: the issue's fixed strings. Empty means the text of the gettext catalog
    for [newsletter] language (digest/locale/); {number} and {name} are filled in."""

    big_story: str = ""  # "The big story"
    need_to_know: str = ""  # "Need to know"
    read_more: str = ""  # "Read More" (the section)
    coming_up: str = ""  # "Coming up"
    read_more_link: str = ""  # "Read More" (each card's link)
    big_story_link: str = ""  # "Read the full story"
    issue_number: str = ""  # "Issue #{number}"
    view_in_browser: str = ""  # "View in browser"
    footer_reason: str = ""  # "You are receiving this email because you subscribed to {name}."
    unsubscribe: str = ""  # "Unsubscribe"
    manage: str = ""  # "Manage preferences"
    subscribe: str = ""  # "Subscribe"
    photo: str = ""  # "Photo" (the text part's [Photo: ...])


@dataclass(frozen=True)
class LayoutConfig:
    blocks: tuple[str, ...] = BLOCKS
    big_story: int = 1
    need_to_know: int = 3
    read_more: int = 6
    big_story_chars: int = 1500
    need_to_know_chars: int = 220
    read_more_chars: int = 150
    max_html_kb: int = 95  # bytes x 1024: under Gmail's clip at about 100,000
    # Stories one feed (or one category) may have in a block; 0 = half the block, and
    # half the issue, whenever two or more feeds have stories (digest.curate.place).
    max_per_feed: int = 0
    # Topic editions per issue beyond the full one (digest.curate.variants); a reader's
    # set past the cap gets the nearest broader edition. 0: everyone gets the full one.
    max_variants: int = 8
    accent_color: str = "#005594"
    templates_dir: str = ""


@dataclass(frozen=True)
class PinConfig:
    """`[editor] pin` entry: "https://..." or {url = "https://...", block = "read_more"}."""

    url: str
    block: Literal[StoryBlock, ""] = ""  # "" = the big story, or the first story block shown


@dataclass(frozen=True)
class EditorConfig:
    pin: tuple[PinConfig, ...] = ()
    exclude: tuple[str, ...] = ()
    boost: tuple[str, ...] = ()
    max_age_days: int = 14  # 0 = no limit
    require: tuple[str, ...] = ()  # a story must match one (on topic)
    languages: tuple[str, ...] = ()  # allowed; [] = [newsletter] language


@dataclass(frozen=True)
class EventConfig:
    date: date
    event: str


@dataclass(frozen=True)
class TopicConfig:
    """`[[topics]]`: what a reader may tick on the subscribe and manage pages. A story is
    in the topic when its category (or its feed's [[feeds]] category) is one of
    `categories`, or its feed's name is one of `feeds`."""

    name: str  # a word (a-z, 0-9, '-', '_'): the CSV's `topics` column and --topics use it
    description: str = ""  # one line, beside the tick box
    categories: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ()  # [[feeds]] names


@dataclass(frozen=True)
class CollectConfig:
    timeout: float = 15.0
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    concurrency: int = 16
    user_agent: str = "digest/0.1 (+https://example.com/digest)"


@dataclass(frozen=True)
class EnrichConfig:
    """`[enrich]`: read the article pages of the stories placed in an issue."""

    pages: EnrichMode = "missing"
    timeout: float = 10.0  # seconds for one page (resolving, connecting, reading)
    mirror: str = ""  # a folder holding the pages as <host>/<path>.html: read, never fetched


@dataclass(frozen=True)
class WebConfig:
    """`[web]`: the web archive `digest publish` writes, how `digest serve` runs, and its
    confirmation mails."""

    site_dir: str = "site"  # beside the config
    publish: bool = False  # every build publishes too
    per_page: int = 20  # issues on a page of the index
    # digest serve: whose X-Forwarded-For is believed (addresses or CIDR networks)
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    max_body_kb: int = 8  # a form's body; more is 413 before anything is parsed
    request_timeout: int = 10  # seconds for a request's headers, and for its body
    keep_alive: int = 5  # seconds an idle kept-alive connection stays open
    max_connections: int = 200  # open at once; past it, 503
    health_smtp: bool = False  # /healthz also connects to [smtp] host
    metrics: bool = False  # serve /metrics (Prometheus text format)
    confirm_attempts: int = 8  # tries of one confirmation mail (digest serve)
    confirm_retry_delay: float = 60.0  # seconds before its first retry; doubles each time


ScheduleDeliver = Literal["slot", "local"]


@dataclass(frozen=True)
class ScheduleConfig:
    collect_every: str = "1h"
    issue: str = "0 8 * * MON"
    timezone: str = ""  # default: the newsletter's
    misfire_grace: str = "1h"
    min_new_items: int = 3
    # Local-time delivery (digest.deliver.zones): "slot" sends when the issue is built;
    # "local" sends each reader's batch at local_time in their own zone, and holds a
    # batch that is more than max_lateness past its time.
    deliver: ScheduleDeliver = "slot"
    local_time: str = "07:00"
    max_lateness: str = "1h"


@dataclass(frozen=True)
class DeliveryConfig:
    mode: DeliveryMode = "outbox"
    outbox_dir: str = "outbox"
    sender: str = ""  # the "from" key; default "<name> <digest@localhost>"
    reply_to: str = ""
    recipients: tuple[str, ...] = ()
    recipients_file: str = ""
    unsubscribe_url: str = ""
    unsubscribe_mailto: str = ""
    secret_env: str = "DIGEST_SECRET"
    list_id: str = ""
    return_path: str = ""  # bounces@example.com: each message's envelope sender is
    # bounces+<tag>@example.com (VERP), so a bounce names its subscriber
    # A send pauses itself (issue state `paused`, `digest send N --resume` goes on) when,
    # in one run, the share of its messages refused with a 5xx or hard-bounced passes
    # pause_hard_bounce_rate (once pause_min_sent are sent), or pause_complaints
    # complaints come in for the issue. 0 turns a check off.
    pause_hard_bounce_rate: float = 0.05
    pause_min_sent: int = 200
    pause_complaints: int = 3


@dataclass(frozen=True)
class SmtpConfig:
    host: str = "localhost"
    port: int = 587
    security: SmtpSecurity = "starttls"
    username: str = ""
    password_env: str = ""
    connections: int = 4
    rate_per_second: float = 0.0  # 0 = unlimited
    timeout: float = 30.0
    max_attempts: int = 5
    retry_delay: float = 2.0  # seconds before the first retry; doubles each time
    ca_file: str = ""  # extra CA certificates (PEM) to trust, e.g. a private relay's


@dataclass(frozen=True)
class DkimConfig:
    key_file: str = ""
    selector: str = ""
    domain: str = ""


@dataclass(frozen=True)
class LogConfig:
    """`[log]`: the lines `digest run` (and the CLI's library loggers) write to stderr."""

    format: LogFormat = "text"
    level: LogLevel = "INFO"


@dataclass(frozen=True)
class StateConfig:
    path: str = ".digest/state.db"
    url: str = ""  # postgresql://user@host/db: PostgreSQL instead of the file at `path`
    lock_timeout: float = 30.0


@dataclass(frozen=True)
class Config:
    newsletter: NewsletterConfig
    feeds: tuple[FeedConfig, ...] = ()
    layout: LayoutConfig = field(default_factory=LayoutConfig)
    labels: LabelsConfig = field(default_factory=LabelsConfig)
    editor: EditorConfig = field(default_factory=EditorConfig)
    coming_up: tuple[EventConfig, ...] = ()
    topics: tuple[TopicConfig, ...] = ()
    collect: CollectConfig = field(default_factory=CollectConfig)
    enrich: EnrichConfig = field(default_factory=EnrichConfig)
    web: WebConfig = field(default_factory=WebConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    dkim: DkimConfig = field(default_factory=DkimConfig)
    state: StateConfig = field(default_factory=StateConfig)
    log: LogConfig = field(default_factory=LogConfig)
    base_dir: Path = Path(".")  # the config file's folder; relative paths start here
    source: Path | None = None

    def path(self, value: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    @property
    def state_path(self) -> Path:
        return self.path(self.state.path)

    @property
    def state_db(self) -> Path | str:
        """Where the state is: `[state] url` (or $DIGEST_DATABASE_URL), a PostgreSQL
        URL, else the SQLite file at `[state] path`."""
        return self.state.url or os.environ.get("DIGEST_DATABASE_URL") or self.state_path

    @property
    def outbox_path(self) -> Path:
        return self.path(self.delivery.outbox_dir)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.newsletter.timezone)

    @property
    def schedule_tz(self) -> ZoneInfo:
        return ZoneInfo(self.schedule.timezone or self.newsletter.timezone)

    @property
    def sender(self) -> str:
        return self.delivery.sender or f"{self.newsletter.name} <digest@localhost>"


# Keys whose TOML spelling is not a Python identifier: TOML key -> field name.
ALIASES = {"from": "sender"}
_TOML_KEYS = {name: key for key, name in ALIASES.items()}
# How an error names an entry of a list of tables: "[[feeds]] #2".
TABLE_LABELS = {"feeds": "[[feeds]]", "coming_up": "[[coming_up]]", "topics": "[[topics]]"}


def toml_key(name: str) -> str:
    """A field's key as config.toml spells it (`sender` -> `from`)."""
    return _TOML_KEYS.get(name, name)


def field_name(key: str) -> str:
    """A config.toml key's field (`from` -> `sender`)."""
    return ALIASES.get(key, key)


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "digest"


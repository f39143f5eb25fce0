"""Load and validate config.toml into frozen dataclasses.

Every mistake is reported with its table and key and what was expected, e.g.
``[layout] read_mroe: unknown key (did you mean 'read_more'?)``.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import math
import os
import re
import tomllib
import types
import typing
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from string import Formatter
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_date

from digest.errors import ConfigError

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
    enrich: str = ""  # overrides [enrich] pages for this feed's stories

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
    blocks: list[str] = field(default_factory=lambda: list(BLOCKS))
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
    accent_color: str = "#005594"
    templates_dir: str = ""


@dataclass(frozen=True)
class PinConfig:
    """`[editor] pin` entry: "https://..." or {url = "https://...", block = "read_more"}."""

    url: str
    block: str = ""  # "" = the big story, or the first story block shown


@dataclass(frozen=True)
class EditorConfig:
    pin: list[PinConfig] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    boost: list[str] = field(default_factory=list)
    max_age_days: int = 14  # 0 = no limit
    require: list[str] = field(default_factory=list)  # a story must match one (on topic)
    languages: list[str] = field(default_factory=list)  # allowed; [] = [newsletter] language


@dataclass(frozen=True)
class EventConfig:
    date: date
    event: str


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

    pages: str = "missing"  # "missing" (no picture or no body in the feed) | "always" | "never"
    timeout: float = 10.0  # seconds for one page (resolving, connecting, reading)
    mirror: str = ""  # a folder holding the pages as <host>/<path>.html: read, never fetched


@dataclass(frozen=True)
class WebConfig:
    """`[web]`: the web archive `digest publish` writes."""

    site_dir: str = "site"  # beside the config
    publish: bool = False  # every build publishes too
    per_page: int = 20  # issues on a page of the index


@dataclass(frozen=True)
class ScheduleConfig:
    collect_every: str = "1h"
    issue: str = "0 8 * * MON"
    timezone: str = ""  # default: the newsletter's
    misfire_grace: str = "1h"
    min_new_items: int = 3


@dataclass(frozen=True)
class DeliveryConfig:
    mode: str = "outbox"
    outbox_dir: str = "outbox"
    sender: str = ""  # the "from" key; default "<name> <digest@localhost>"
    reply_to: str = ""
    recipients: list[str] = field(default_factory=list)
    recipients_file: str = ""
    unsubscribe_url: str = ""
    unsubscribe_mailto: str = ""
    secret_env: str = "DIGEST_SECRET"
    list_id: str = ""
    return_path: str = ""  # bounces@example.com: each message's envelope sender is
    # bounces+<tag>@example.com (VERP), so a bounce names its subscriber


@dataclass(frozen=True)
class SmtpConfig:
    host: str = "localhost"
    port: int = 587
    security: str = "starttls"
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
class StateConfig:
    path: str = ".digest/state.db"
    lock_timeout: float = 30.0


@dataclass(frozen=True)
class Config:
    newsletter: NewsletterConfig
    feeds: list[FeedConfig] = field(default_factory=list)
    layout: LayoutConfig = field(default_factory=LayoutConfig)
    labels: LabelsConfig = field(default_factory=LabelsConfig)
    editor: EditorConfig = field(default_factory=EditorConfig)
    coming_up: list[EventConfig] = field(default_factory=list)
    collect: CollectConfig = field(default_factory=CollectConfig)
    enrich: EnrichConfig = field(default_factory=EnrichConfig)
    web: WebConfig = field(default_factory=WebConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    dkim: DkimConfig = field(default_factory=DkimConfig)
    state: StateConfig = field(default_factory=StateConfig)
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


# Keys whose TOML spelling is not a Python identifier.
_ALIASES = {"from": "sender"}
_TABLE_KEYS = {"feeds": "[[feeds]]", "coming_up": "[[coming_up]]"}


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "digest"


def default_config_path() -> Path:
    return Path(os.environ.get("DIGEST_CONFIG") or "config.toml")


def load_config(path: Path | str | None = None) -> Config:
    """Read and validate a config file. Raises ConfigError naming the key."""
    path = Path(path) if path else default_config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} not found: pass --config PATH or set DIGEST_CONFIG"
        ) from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    return parse_config(data, base_dir=path.resolve().parent, source=path)


def parse_config(data: dict[str, Any], base_dir: Path, source: Path | None = None) -> Config:
    data = _moved_labels(data)
    config = _build(Config, data, where="", skip={"base_dir", "source"})
    config = dataclasses.replace(_lower_schemes(config), base_dir=base_dir, source=source)
    _check(config)
    return config


def _moved_labels(data: dict[str, Any]) -> dict[str, Any]:
    """`[layout.labels]` (where labels were set before [labels]) still works."""
    layout = data.get("layout")
    if not isinstance(layout, dict) or "labels" not in layout:
        return data
    if "labels" in data:
        raise ConfigError("[layout.labels] and [labels] are both set: move the labels from "
                          "[layout.labels] into [labels]")
    layout = dict(layout)
    return {**data, "layout": layout, "labels": layout.pop("labels")}


def lower_scheme(url: str) -> str:
    """`HTTP://Example.com/x` -> `http://Example.com/x`: a URL's scheme is
    case-insensitive (RFC 3986), and digest tells URLs from paths by the scheme."""
    match = _SCHEME.match(url)
    return url if match is None else match.group(1).lower() + url[match.end(1):]


def local_path(url: str, base_dir: Path) -> Path:
    """The file a local feed url names: a `file:` URL, or a path relative to the
    config's folder (how collect reads it, and how duplicate feeds are told apart)."""
    if lower_scheme(url).startswith("file:"):
        return Path(unquote(urlsplit(url).path))
    path = Path(url).expanduser()
    return path if path.is_absolute() else base_dir / path


def web_netloc(scheme: str, netloc: str) -> str:
    """A web URL's host part in one spelling: lower case, no default port."""
    netloc = netloc.lower()
    return netloc.removesuffix({"http": ":80", "https": ":443"}.get(scheme.lower(), "\0"))


def _lower_schemes(config: Config) -> Config:
    """Every URL the config gives, with its scheme in lower case, so the code that
    reads `url.startswith("http://")` (collect, curate, the message builder) agrees."""
    nl, editor, delivery = config.newsletter, config.editor, config.delivery
    feeds = [dataclasses.replace(f, url=lower_scheme(f.url),
                                 name=lower_scheme(f.name) if f.name == f.url else f.name)
             for f in config.feeds]
    return dataclasses.replace(
        config, feeds=feeds,
        newsletter=dataclasses.replace(nl, **{k: lower_scheme(getattr(nl, k)) for k in (
            "web_url", "subscribe_url", "manage_url", "assets_url")}),
        editor=dataclasses.replace(editor, pin=[dataclasses.replace(p, url=lower_scheme(p.url))
                                                for p in editor.pin],
                                   exclude=[lower_scheme(r) for r in editor.exclude]),
        delivery=dataclasses.replace(delivery,
                                     unsubscribe_url=lower_scheme(delivery.unsubscribe_url)),
    )


def _build(cls: type, data: Any, where: str, skip: frozenset[str] | set[str] = frozenset()) -> Any:
    table = where or "top level"
    if not isinstance(data, dict):
        raise ConfigError(f"{table}: expected a table, got {_kind(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in skip}
    toml_names = {next((k for k, v in _ALIASES.items() if v == n), n): n for n in fields}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in toml_names:
            close = difflib.get_close_matches(key, list(toml_names), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            known = ", ".join(sorted(toml_names))
            raise ConfigError(f"{_at(where, key)}: unknown key{hint}; known keys: {known}")
        name = toml_names[key]
        values[name] = _convert(hints[name], value, where, key)
    for name, f in fields.items():
        no_default = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if name not in values and no_default:
            key = next((k for k, v in _ALIASES.items() if v == name), name)
            at = _at(where, key) if where else f"[{key}]"
            raise ConfigError(f"{at}: missing; {_expect(hints[name])} is required")
    return cls(**values)


def _convert(hint: Any, value: Any, where: str, key: str) -> Any:
    at = _at(where, key)
    origin = typing.get_origin(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        table = f"{where.strip('[]')}.{key}" if where else key
        return _build(hint, value, where=f"[{table}]")
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"{at}: expected {_expect(hint)}, got {_kind(value)}")
        if item is PinConfig:  # a bare URL, or a table naming the block too
            return [PinConfig(url=v) if isinstance(v, str) else
                    _build(PinConfig, v, where=f"[{where.strip('[]')}] {key}[{i}]")
                    for i, v in enumerate(value)]
        if isinstance(item, type) and dataclasses.is_dataclass(item):
            label = _TABLE_KEYS.get(key, key)
            return [
                _build(item, v, where=f"{label} #{i + 1}") for i, v in enumerate(value)
            ]
        return [_convert(item, v, where, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin in (types.UnionType, typing.Union):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(options[0], value, where, key)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{at}: {value} is not a usable number; write a finite one like 1.5")
    if hint is date and type(value) is date:  # not a datetime: it is compared with dates
        return value
    if hint in (str, int, bool, float) and type(value) is hint:
        return value
    shown = value.isoformat() if isinstance(value, date) else repr(value)
    raise ConfigError(f"{at}: expected {_expect(hint)}, got {_kind(value)} {shown}")


def _at(where: str, key: str) -> str:
    return f"{where} {key}" if where else key


def _expect(hint: Any) -> str:
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        return f"a list of {_expect(item).removeprefix('a ').removeprefix('an ')}s"
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
             date: "a date like 2026-12-09"}
    if dataclasses.is_dataclass(hint):
        return "a table"
    return names.get(hint, str(hint))


def _kind(value: Any) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "a boolean",
             list: "a list", dict: "a table", date: "a date", datetime: "a date and time",
             time: "a time"}
    return names.get(type(value), type(value).__name__)


_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")


def parse_duration(text: str, key: str) -> float:
    """'90s', '15m', '1h', '2d', '1w' -> seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ConfigError(f"{key}: {text!r} is not a duration; write e.g. '30m', '1h' or '1d'")
    n, unit = int(match.group(1)), match.group(2)
    seconds = n * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
    if seconds <= 0:
        raise ConfigError(f"{key}: must be longer than zero, got {text!r}")
    return float(seconds)


# Lowest and highest value of every number, per table; None as the lowest means "more
# than 0". Wider values are typos or overflow later (max_age_days = 1e12 overflows a
# timedelta). The README's configuration reference lists the same ranges.
LIMITS: dict[str, dict[str, tuple[float | None, float]]] = {
    "layout": {"big_story": (0, 1), "need_to_know": (0, 50), "read_more": (0, 100),
               "big_story_chars": (0, 100_000), "need_to_know_chars": (0, 100_000),
               "read_more_chars": (0, 100_000), "max_html_kb": (10, 10_000),
               "max_per_feed": (0, 100)},
    "editor": {"max_age_days": (0, 36_500)},
    "enrich": {"timeout": (1, 600)},
    "web": {"per_page": (1, 1000)},
    "collect": {"timeout": (None, 600), "max_bytes": (1, 1_000_000_000),
                "max_redirects": (0, 50), "concurrency": (1, 256)},
    "schedule": {"min_new_items": (0, 1000)},
    "smtp": {"port": (1, 65_535), "connections": (1, 64), "rate_per_second": (0, 10_000),
             "timeout": (None, 3600), "max_attempts": (1, 100), "retry_delay": (0, 3600)},
    "state": {"lock_timeout": (0, 86_400)},
}
FEED_WEIGHT = (0, 100)
DAY = 86_400
DURATION_LIMITS = {"collect_every": 7 * DAY, "misfire_grace": 30 * DAY}  # seconds

# Values that end up in a mail or HTTP header, a path or a URL: one line, no control
# characters (a CR/LF in a header value is header injection).
_ONE_LINE = {
    "newsletter": ("name", "subject", "slug", "web_url", "subscribe_url", "manage_url",
                   "assets_url"),
    "layout": ("templates_dir",),
    "web": ("site_dir",),
    "collect": ("user_agent",),
    "delivery": ("outbox_dir", "from", "reply_to", "recipients_file", "unsubscribe_url",
                 "unsubscribe_mailto", "secret_env", "list_id", "return_path"),
    "smtp": ("host", "username", "password_env", "ca_file"),
    "dkim": ("key_file", "selector", "domain"),
    "state": ("path",),
}
# The only control characters allowed (see _check_text): line breaks and tabs in text
# that may run over several lines, and tabs between the fields of a crontab line.
_ALLOWED_CONTROLS = {"[newsletter] intro": "\t\n\r", "[newsletter] dek": "\t\n\r",
                     "[newsletter] postal_address": "\t\n\r", "[schedule] issue": "\t"}
# Longest values that go into one header line unfolded (SMTP allows 998 characters):
# a URL or a quoted name without spaces cannot be folded. The README lists the same.
MAX_CHARS = {"[newsletter] name": 200, "[newsletter] subject": 200,
             "[delivery] unsubscribe_url": 600, "[delivery] list_id": 300}
MAX_DISPLAY_NAME = 200  # in [delivery] from and reply_to
SUBJECT_FIELDS = ("name", "headline", "number", "date")
# {number} takes an integer format: zero padding, a width up to 99, grouping, 'd'.
_NUMBER_SPEC = re.compile(r"0?[1-9]?[0-9]?[,_]?d?")
SUBJECT_TRIAL_NUMBERS = (1, 7, 10**6)
_LDH_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"{_LDH_LABEL}(?:\.{_LDH_LABEL})*")  # a DKIM selector too
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_SCHEME = re.compile(r"(https?|file|mailto):", re.IGNORECASE)
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Where text.linkify finds a link's address: the "(url)" right after "[words]".
_LINK_TARGET = re.compile(r"\]\(([^)\s]+)\)")


def _check(config: Config) -> None:
    """Checks beyond each value's type: ranges, formats, and text that reaches mail
    headers, paths and links. Whatever passes here, build can use."""
    _check_one_line(config)
    _check_text(config)
    _check_lengths(config)
    _check_newsletter(config.newsletter)
    _check_numbers(config)
    _check_links(config)
    _check_addresses(config)
    layout = config.layout
    for name in layout.blocks:
        if name not in BLOCKS:
            raise ConfigError(
                f"[layout] blocks: unknown block {name!r}; blocks are {', '.join(BLOCKS)}"
            )
        if layout.blocks.count(name) > 1:
            raise ConfigError(f"[layout] blocks: {name!r} is listed twice; list it once")
    stories = ("big_story", "need_to_know", "read_more")
    if not any(b in layout.blocks and getattr(layout, b) > 0 for b in stories):
        raise ConfigError("[layout] blocks: no story block is shown with a size above 0; list "
                          "big_story, need_to_know or read_more and give it a size")
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", layout.accent_color):
        raise ConfigError("[layout] accent_color: write a colour like '#005594'")
    for key in ("exclude", "boost", "require"):
        if any(not word.strip() for word in getattr(config.editor, key)):
            raise ConfigError(f"[editor] {key}: has an empty entry, which would match every "
                              "article; remove it")
    for language in config.editor.languages:
        if language != "*" and not _LANGUAGE.fullmatch(language):
            raise ConfigError(f"[editor] languages: {language!r} is not a language code; write "
                              "codes like 'en' or 'de', or '*' for any language")
    seen: dict[str, int] = {}
    for i, feed in enumerate(config.feeds, 1):
        if not feed.url.strip():
            raise ConfigError(f"[[feeds]] #{i} url: is empty; give an http(s) URL or a path")
        key = _feed_key(feed.url, config.base_dir)
        if key in seen:
            first = config.feeds[seen[key] - 1].url
            spelt = "" if first == feed.url else f" (written {first!r} there)"
            raise ConfigError(
                f"[[feeds]] #{i} url: {feed.url} is already feed #{seen[key]}{spelt}; remove one"
            )
        seen[key] = i
    if config.delivery.mode not in ("outbox", "smtp"):
        raise ConfigError(
            f"[delivery] mode: {config.delivery.mode!r} is not a mode; use 'outbox' or 'smtp'"
        )
    for at, name in (("[delivery] secret_env", config.delivery.secret_env),
                     ("[smtp] password_env", config.smtp.password_env)):
        if name and not _ENV_NAME.fullmatch(name):
            raise ConfigError(f"{at}: {name!r} is not an environment variable name; use "
                              "letters, digits and '_', like DIGEST_SECRET")
    if not config.collect.user_agent.isascii():
        raise ConfigError("[collect] user_agent: must be ASCII (it is an HTTP header)")
    if not config.state.path.strip():
        raise ConfigError("[state] path: is empty; give a file like '.digest/state.db'")
    if not config.delivery.outbox_dir.strip():
        raise ConfigError("[delivery] outbox_dir: is empty; give a folder like 'outbox'")
    if config.smtp.security not in ("tls", "starttls", "none"):
        raise ConfigError(
            f"[smtp] security: {config.smtp.security!r}; use 'tls', 'starttls' or 'none'"
        )
    _check_host("[smtp] host", config.smtp.host, ip_ok=True, like="'smtp.example.com'")
    dkim = config.dkim
    given = [k for k in ("key_file", "selector", "domain") if getattr(dkim, k)]
    if given and len(given) < 3:
        missing = [k for k in ("key_file", "selector", "domain") if k not in given]
        raise ConfigError(f"[dkim] {', '.join(missing)}: missing; DKIM signing needs "
                          "key_file, selector and domain (or none of them)")
    if given:
        if not (_HOSTNAME.fullmatch(dkim.selector) and len(dkim.selector) <= 253):
            raise ConfigError(f"[dkim] selector: {dkim.selector!r} is not a DNS name; write "
                              "labels of letters, digits and '-' joined by dots, like 's1' or "
                              "'news.2026'")
        _check_host("[dkim] domain", dkim.domain, ip_ok=False, like="'example.com'")
    for key, most in DURATION_LIMITS.items():
        at = f"[schedule] {key}"
        if parse_duration(getattr(config.schedule, key), at) > most:
            raise ConfigError(f"{at}: at most {most // DAY} days; write e.g. '1h' or '1d'")
    if config.schedule.timezone:
        _check_zone("[schedule] timezone", config.schedule.timezone)
    from digest.schedule.crontab import (
        parse_crontab,  # here: APScheduler loads only to check a line
    )

    parse_crontab(config.schedule.issue, config.schedule_tz)


def _feed_key(url: str, base_dir: Path) -> str:
    """One spelling per feed: a web URL with its scheme and host lower-cased and no
    default port; a path or file: URL as the file it names, resolved against the
    config's folder (local_path)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed [ in the host: compare it as written
        return url
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        return urlunsplit((scheme, web_netloc(scheme, parts.netloc), parts.path or "/",
                           parts.query, ""))
    return os.path.realpath(local_path(url, base_dir))


def _check_one_line(config: Config) -> None:
    values = [(f"[{table}] {key}", getattr(getattr(config, table), _ALIASES.get(key, key)))
              for table, keys in _ONE_LINE.items() for key in keys]
    values += [(f"[delivery] recipients[{i}]", r)
               for i, r in enumerate(config.delivery.recipients)]
    values += [(f"[[feeds]] #{i} url", f.url) for i, f in enumerate(config.feeds, 1)]
    values += [(f"[editor] pin[{i}]", p.url) for i, p in enumerate(config.editor.pin)]
    for at, value in values:
        bad = next((c for c in value if unicodedata.category(c) in ("Cc", "Zl", "Zp")), None)
        if bad is not None:
            raise ConfigError(f"{at}: contains control character U+{ord(bad):04X} (a line "
                              "break, tab or the like); write it on one line")


def _strings(obj: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """("[table] key", value) for every string in the config: each dataclass's str
    fields, strings in lists (`key[i]`), nested tables and lists of tables."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        key = next((k for k, v in _ALIASES.items() if v == f.name), f.name)
        if isinstance(value, str):
            yield _at(where, key), value
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            yield from _strings(value, f"[{where.strip('[]')}.{key}]" if where else f"[{key}]")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, str):
                    yield f"{_at(where, key)}[{i}]", item
                elif dataclasses.is_dataclass(item):
                    yield from _strings(item, f"{_TABLE_KEYS.get(key, key)} #{i + 1}")


def _check_text(config: Config) -> None:
    """No control characters (but line breaks and tabs in multi-line text), no
    noncharacters and no bidi overrides or isolates in any string: they reach the
    MJML (which fails on them), headers and the terminal, or reorder what is shown."""
    for at, value in _strings(config):
        allowed = _ALLOWED_CONTROLS.get(at, "")
        for c in value:
            cp = ord(c)
            if unicodedata.category(c) == "Cc" and c not in allowed:
                what = "control character"
            elif 0xFDD0 <= cp <= 0xFDEF or cp & 0xFFFE == 0xFFFE:
                what = "noncharacter"
            elif c in _BIDI_CONTROLS:
                what = "bidi override or isolate"
            else:
                continue
            hint = (" (line breaks and tabs only go in [newsletter] intro, dek and "
                    "postal_address)") if c in "\t\n\r" else ""
            raise ConfigError(f"{at}: contains {what} U+{cp:04X}; remove it{hint}")


def _check_lengths(config: Config) -> None:
    values = dict(_strings(config))
    for at, most in MAX_CHARS.items():
        if len(values[at]) > most:
            raise ConfigError(f"{at}: {len(values[at])} characters; at most {most}, as it "
                              "goes into a mail header; shorten it")


def _check_host(at: str, host: str, *, ip_ok: bool, like: str) -> None:
    """A host name (letters, digits and '-' in labels of at most 63, at most 253 in
    all), or with `ip_ok` an IPv4 or IPv6 address."""
    if ip_ok:
        try:
            ipaddress.ip_address(host)
            return
        except ValueError:
            pass
    name = host.removesuffix(".") if ip_ok else host  # the root's dot: not in a DKIM d=
    # A last label of digits only is no host name: 999.1.1.1 is a mistyped address.
    if _HOSTNAME.fullmatch(name) and len(name) <= 253 and \
            not name.rpartition(".")[2].isdigit():
        return
    if not host:
        raise ConfigError(f"{at}: is empty; give a host name like {like}")
    hint = ""
    if not host.isascii():
        try:
            hint = (" (write an internationalized name in its ASCII form, "
                    f"{host.encode('idna').decode('ascii')})")
        except UnicodeError:
            pass
    what = "host name or IP address" if ip_ok else "domain name"
    raise ConfigError(f"{at}: {_shown(host)} is not a {what}: use labels of letters, digits "
                      f"and '-' (at most 63 each, 253 in all) joined by dots, like {like}"
                      f"{hint}")


def _shown(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _check_newsletter(nl: NewsletterConfig) -> None:
    if not nl.name.strip():
        raise ConfigError("[newsletter] name: is empty; give the newsletter a name")
    if not _SLUG.fullmatch(nl.slug):
        raise ConfigError(
            f"[newsletter] slug: {nl.slug!r} won't do in folder names and Message-IDs; set "
            "slug to at most 64 lower-case letters, digits and '-', like 'china-connection'"
        )
    _check_zone("[newsletter] timezone", nl.timezone)
    _check_language(nl.language)
    _check_subject(nl)


def _check_zone(at: str, name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        shown = "is empty" if not name else f"{name!r} is not a time zone"
        raise ConfigError(f"{at}: {shown}; use an IANA name like 'Asia/Shanghai'") from None


def _check_language(language: str) -> None:
    locale = language.replace("-", "_")
    try:
        if not _LANGUAGE.fullmatch(language):
            raise ValueError(language)
        Locale.parse(locale)
        format_date(date(2026, 12, 9), format="full", locale=locale)
    except (ValueError, UnknownLocaleError):
        raise ConfigError(f"[newsletter] language: {language!r} is not a language Babel "
                          "knows; use a code like 'en', 'en-GB', 'de' or 'zh_Hans'") from None


def _check_subject(nl: NewsletterConfig) -> None:
    at = "[newsletter] subject"
    known = ", ".join(f"{{{f}}}" for f in SUBJECT_FIELDS)
    if not nl.subject.strip():
        raise ConfigError(f"{at}: is empty; write e.g. '{{name}}: {{headline}}'")
    try:
        fields = [(f, spec or "") for _, f, spec, _ in Formatter().parse(nl.subject)
                  if f is not None]
    except ValueError as e:
        raise ConfigError(f"{at}: {e}; write '{{{{' or '}}}}' for a literal brace") from None
    for name, spec in fields:
        if name not in SUBJECT_FIELDS:
            raise ConfigError(f"{at}: unknown placeholder {{{name}}}; use {known}")
        if name == "number" and _NUMBER_SPEC.fullmatch(spec):
            continue  # {number:03}, {number:,}
        if spec:
            fix = "{number}, {number:03} or {number:,}" if name == "number" else f"{{{name}}}"
            raise ConfigError(f"{at}: format {{{name}:{spec}}} won't do; write {fix}")
    for number in SUBJECT_TRIAL_NUMBERS:
        try:
            subject = nl.subject.format(name=nl.name, headline="Headline", number=number,
                                        date="Wednesday, December 9, 2026")
        except (ValueError, TypeError) as e:
            raise ConfigError(f"{at}: {e}; write the placeholders as plain {known}") from None
        bad = next((c for c in subject if unicodedata.category(c) in ("Cc", "Zl", "Zp")), None)
        if bad is not None:
            raise ConfigError(f"{at}: gives control character U+{ord(bad):04X} in the "
                              f"subject of issue #{number}; write the placeholders as {known}")


def _check_numbers(config: Config) -> None:
    for table, keys in LIMITS.items():
        for key, (lowest, highest) in keys.items():
            value = getattr(getattr(config, table), key)
            if not (value > 0 if lowest is None else value >= lowest) or value > highest:
                low = "more than 0" if lowest is None else f"from {lowest}"
                raise ConfigError(f"[{table}] {key}: {value} is out of range; "
                                  f"use a number {low} up to {highest}")
    lowest, highest = FEED_WEIGHT
    for i, feed in enumerate(config.feeds, 1):
        if not lowest <= feed.weight <= highest:
            raise ConfigError(f"[[feeds]] #{i} ({feed.name}) weight: {feed.weight} is out of "
                              f"range; use a number from {lowest} up to {highest}")


def _check_links(config: Config) -> None:
    nl = config.newsletter
    links = [(f"[newsletter] {key}", getattr(nl, key))
             for key in ("web_url", "subscribe_url", "manage_url", "assets_url")]
    links += [(f"[editor] pin[{i}]", p.url) for i, p in enumerate(config.editor.pin)]
    links += [("[delivery] unsubscribe_url", config.delivery.unsubscribe_url)]
    site = os.path.realpath(config.path(config.web.site_dir))
    for name, inside in (("the config's folder", config.base_dir), ("the state database",
                         config.state_path), ("the outbox", config.outbox_path)):
        held = os.path.realpath(inside)
        if held == site or held.startswith(site.rstrip(os.sep) + os.sep):
            raise ConfigError(f"[web] site_dir: {site} would hold {name} ({held}); the site "
                              "is published as it is: use a folder of its own, like \"site\"")
    modes = ("missing", "always", "never")
    if config.enrich.pages not in modes:
        raise ConfigError(f"[enrich] pages: {config.enrich.pages!r}; use \"missing\" (pages of "
                          "stories whose feed gives no picture or no body), \"always\" or "
                          "\"never\"")
    for i, feed in enumerate(config.feeds, 1):
        if feed.enrich and feed.enrich not in modes:
            raise ConfigError(f"[[feeds]] #{i} ({feed.name}) enrich: {feed.enrich!r}; use "
                              "\"missing\", \"always\" or \"never\", or leave it out")
    if config.enrich.mirror and not config.path(config.enrich.mirror).is_dir():
        raise ConfigError(f"[enrich] mirror: {config.path(config.enrich.mirror)} is not a "
                          "folder; create it or remove the key")
    for i, pin in enumerate(config.editor.pin):
        if pin.block and pin.block not in ("big_story", "need_to_know", "read_more"):
            raise ConfigError(f"[editor] pin[{i}] block: {pin.block!r} is not a story block; "
                              "use big_story, need_to_know or read_more, or leave it out")
    for at, url in links:
        if url and not _is_link(url, ("http", "https")):
            raise ConfigError(f"{at}: {url!r} is not an absolute http(s) URL; write it like "
                              "'https://example.com/newsletter'")
    for url in _LINK_TARGET.findall(nl.intro.replace("{name}", nl.name)):
        if not _is_link(url, ("http", "https", "mailto")):
            raise ConfigError(f"[newsletter] intro: link to {url!r}; links must be absolute "
                              "http(s) or mailto: addresses, like [subscribe](https://...)")
    assets = nl.assets_url
    at = "[newsletter] assets_url"
    if assets and not assets.isascii():
        raise ConfigError(f"{at}: must be ASCII; percent-encode other characters")
    if assets and (urlsplit(assets).query or urlsplit(assets).fragment):
        raise ConfigError(f"{at}: {assets!r} has a query or fragment; give the folder the "
                          "images/ files are published in, like 'https://example.com/img'")
    url = config.delivery.unsubscribe_url
    at = "[delivery] unsubscribe_url"
    if not url.isascii():
        raise ConfigError(f"{at}: must be ASCII; percent-encode other characters")
    if "{email}" in url:
        raise ConfigError(f"{at}: {{email}} would put the address in clear in a URL; use "
                          "{token}, which identifies the subscriber on its own")
    if re.search(r"[{}]", url.replace("{token}", "")):
        raise ConfigError(f"{at}: the only placeholder is {{token}}; remove other braces")


def _is_link(url: str, schemes: tuple[str, ...]) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme.lower() not in schemes or any(c.isspace() for c in url):
        return False
    return bool(parts.path) if parts.scheme.lower() == "mailto" else bool(parts.hostname)


def _check_addresses(config: Config) -> None:
    """Every address through the one validator, digest.addresses."""
    from digest.addresses import AddressError, parse_address, parse_mailbox

    delivery = config.delivery
    headers = [("[delivery] from" if delivery.sender else "[newsletter] name", config.sender,
                "'The China Connection <digest@example.com>'")]
    if delivery.reply_to:
        headers.append(("[delivery] reply_to", delivery.reply_to, "'Editor <editor@example.com>'"))
    for at, value, like in headers:
        fix = "" if at != "[newsletter] name" else (
            " (it makes the default From header); set [delivery] from, quoting the name")
        try:
            name, address = parse_mailbox(value, local_domain=True)
        except AddressError as e:
            raise ConfigError(f"{at}: {e}; write one address like {like}{fix}") from None
        if len(name) > MAX_DISPLAY_NAME:
            raise ConfigError(f"{at}: the name is {len(name)} characters; at most "
                              f"{MAX_DISPLAY_NAME}, as a mail header line has a length limit; "
                              "shorten it")
        if address.key not in value.lower():  # sent as written: it must be the ASCII form
            raise ConfigError(f"{at}: {value!r}: write the address in its ASCII form, "
                              f"{address.email}")
    for i, entry in enumerate(delivery.recipients):
        try:
            parse_mailbox(entry)
        except AddressError as e:
            raise ConfigError(f"[delivery] recipients[{i}]: {e}") from None
    if delivery.return_path:
        at = "[delivery] return_path"
        try:
            address = parse_address(delivery.return_path)
        except AddressError as e:
            raise ConfigError(f"{at}: {e}; write one address like 'bounces@example.com'"
                              ) from None
        if delivery.return_path != address.email or "+" in address.email.partition("@")[0]:
            raise ConfigError(f"{at}: {delivery.return_path!r}; write a plain ASCII address "
                              "without '+' (digest adds '+<token>' for each recipient), like "
                              "'bounces@example.com'")
    mailto = delivery.unsubscribe_mailto
    at = "[delivery] unsubscribe_mailto"
    if mailto.lower().startswith("mailto:"):
        raise ConfigError(f"{at}: {mailto!r}; write the address without 'mailto:', like "
                          "'unsubscribe@example.com'")
    if mailto:
        spec, _, query = mailto.partition("?")
        try:
            address = parse_address(spec)
        except AddressError as e:
            raise ConfigError(f"{at}: {e}; write one address like 'unsubscribe@example.com'"
                              ) from None
        if spec != address.email or not query.isascii() or any(c.isspace() for c in query):
            raise ConfigError(f"{at}: {mailto!r}; write an ASCII address like "
                              f"'{address.email}' (an optional '?subject=...' without spaces)")

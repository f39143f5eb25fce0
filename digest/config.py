"""Load and validate config.toml into frozen dataclasses.

Every mistake is reported with its table and key and what was expected, e.g.
``[layout] read_mroe: unknown key (did you mean 'read_more'?)``.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError

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

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.url)


@dataclass(frozen=True)
class LabelsConfig:
    big_story: str = "The big story"
    need_to_know: str = "Need to know"
    read_more: str = "Read More"
    coming_up: str = "Coming up"
    read_more_link: str = "Read More"
    big_story_link: str = "Read the full story"


@dataclass(frozen=True)
class LayoutConfig:
    blocks: list[str] = field(default_factory=lambda: list(BLOCKS))
    big_story: int = 1
    need_to_know: int = 3
    read_more: int = 6
    big_story_chars: int = 900
    need_to_know_chars: int = 220
    read_more_chars: int = 150
    max_html_kb: int = 100
    accent_color: str = "#005594"
    templates_dir: str = ""
    labels: LabelsConfig = field(default_factory=LabelsConfig)


@dataclass(frozen=True)
class EditorConfig:
    pin: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    boost: list[str] = field(default_factory=list)
    max_age_days: int = 14  # 0 = no limit


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
    editor: EditorConfig = field(default_factory=EditorConfig)
    coming_up: list[EventConfig] = field(default_factory=list)
    collect: CollectConfig = field(default_factory=CollectConfig)
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
    config = _build(Config, data, where="", skip={"base_dir", "source"})
    config = dataclasses.replace(config, base_dir=base_dir, source=source)
    _check(config)
    return config


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
    if hint is date and isinstance(value, date):
        return value
    if hint in (str, int, bool, float) and type(value) is hint:
        return value
    raise ConfigError(f"{at}: expected {_expect(hint)}, got {_kind(value)} {value!r}")


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
             list: "a list", dict: "a table", date: "a date"}
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


def _check(config: Config) -> None:
    """Checks that span more than one value's type."""
    for key, tz in (("[newsletter] timezone", config.newsletter.timezone),
                    ("[schedule] timezone", config.schedule.timezone)):
        if tz:
            try:
                ZoneInfo(tz)
            except (ZoneInfoNotFoundError, ValueError):
                raise ConfigError(
                    f"{key}: unknown time zone {tz!r}; use an IANA name like 'Asia/Shanghai'"
                ) from None
    layout = config.layout
    for name in layout.blocks:
        if name not in BLOCKS:
            raise ConfigError(
                f"[layout] blocks: unknown block {name!r}; blocks are {', '.join(BLOCKS)}"
            )
    for key in ("big_story", "need_to_know", "read_more", "big_story_chars",
                "need_to_know_chars", "read_more_chars", "max_html_kb"):
        if getattr(layout, key) < 0:
            raise ConfigError(f"[layout] {key}: must be 0 or more")
    if layout.big_story > 1:
        raise ConfigError("[layout] big_story: must be 0 or 1 (there is one big story)")
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", layout.accent_color):
        raise ConfigError("[layout] accent_color: write a colour like '#005594'")
    seen: dict[str, int] = {}
    for i, feed in enumerate(config.feeds, 1):
        if not feed.url.strip():
            raise ConfigError(f"[[feeds]] #{i} url: is empty; give an http(s) URL or a path")
        if feed.url in seen:
            raise ConfigError(
                f"[[feeds]] #{i} url: {feed.url} is already feed #{seen[feed.url]}; remove one"
            )
        seen[feed.url] = i
        if feed.weight < 0:
            raise ConfigError(f"[[feeds]] #{i} ({feed.name}) weight: must be 0 or more")
    if config.delivery.mode not in ("outbox", "smtp"):
        raise ConfigError(
            f"[delivery] mode: {config.delivery.mode!r} is not a mode; use 'outbox' or 'smtp'"
        )
    if config.smtp.security not in ("tls", "starttls", "none"):
        raise ConfigError(
            f"[smtp] security: {config.smtp.security!r}; use 'tls', 'starttls' or 'none'"
        )
    if config.smtp.connections < 1:
        raise ConfigError("[smtp] connections: must be at least 1")
    if config.smtp.rate_per_second < 0:
        raise ConfigError("[smtp] rate_per_second: must be 0 (no limit) or more")
    if config.smtp.max_attempts < 1:
        raise ConfigError("[smtp] max_attempts: must be at least 1")
    if config.smtp.retry_delay < 0 or config.smtp.timeout <= 0:
        raise ConfigError("[smtp] retry_delay and timeout: must be more than zero")
    if not 1 <= config.smtp.port <= 65535:
        raise ConfigError(f"[smtp] port: {config.smtp.port} is not a TCP port (1-65535)")
    dkim = config.dkim
    given = [k for k in ("key_file", "selector", "domain") if getattr(dkim, k)]
    if given and len(given) < 3:
        missing = [k for k in ("key_file", "selector", "domain") if k not in given]
        raise ConfigError(f"[dkim] {', '.join(missing)}: missing; DKIM signing needs "
                          "key_file, selector and domain (or none of them)")
    if config.schedule.min_new_items < 0:
        raise ConfigError("[schedule] min_new_items: must be 0 or more")
    parse_duration(config.schedule.collect_every, "[schedule] collect_every")
    parse_duration(config.schedule.misfire_grace, "[schedule] misfire_grace")
    from .schedule import parse_crontab  # imported here: schedule imports this module

    parse_crontab(config.schedule.issue, config.schedule_tz)
    if config.collect.timeout <= 0 or config.collect.max_bytes <= 0:
        raise ConfigError("[collect] timeout and max_bytes: must be more than zero")

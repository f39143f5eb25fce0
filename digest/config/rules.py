"""The rules of config.toml's values, as data: one Rule per key (its range, whether it is
one line, the control characters it may hold, its length cap, its choices, whether it may
be empty), in one table, RULES, applied by one function, enforce.

The rules that relate keys to each other, or check a value's format, are functions in
digest.config.checks. The README's configuration reference states the same rules;
tests/config/test_config_reference.py holds the two together.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_type_hints

from digest.config.schema import (
    TABLE_LABELS,
    Config,
    DeliveryMode,
    EnrichMode,
    FeedConfig,
    LogFormat,
    LogLevel,
    PinConfig,
    ScheduleDeliver,
    SmtpSecurity,
    field_name,
    toml_key,
)
from digest.errors import ConfigError

# What enforce checks: one aspect of every rule at a time, so the checks fire in the
# order digest.config.checks.check gives.
Aspect = Literal["one_line", "max_chars", "range", "choices", "nonempty"]


@dataclass(frozen=True)
class Rule:
    """What one key's value must be, beyond its type."""

    low: float | None = None  # a number's range: from low (or more than low) up to high
    high: float | None = None
    above_low: bool = False  # more than low, not from low
    one_line: bool = False  # no control character, line break or tab at all
    allowed_controls: str = ""  # the control characters it may hold (see check_text)
    max_chars: int | None = None  # it goes into one mail header line
    choices: tuple[str, ...] = ()  # "" among them: it may be left out
    problem: str = ""  # a bad choice's error, after the value: " is not a mode"
    fix: str = ""  # and what to do, instead of "use 'a' or 'b'"
    nonempty: str = ""  # it may not be empty (or blank): what to give instead
    at: str = ""  # how an error names a [[feeds]] entry's key; {i} and {item} filled in


MULTI_LINE = Rule(allowed_controls="\t\n\r")
ONE_LINE = Rule(one_line=True)
NO_RULE = Rule()
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _choices(alias: Any) -> tuple[str, ...]:
    """A Literal's values: `Literal["a", "b"]` -> ("a", "b")."""
    return tuple(get_args(alias))


def _field_choices(cls: type, name: str) -> tuple[str, ...]:
    """The values a field's Literal type allows (a nested Literal's too)."""
    return _choices(get_type_hints(cls)[name])


def _ranged(low: float, high: float) -> Rule:
    return Rule(low=low, high=high)


# Every key with a rule, as "[table] key", "[[feeds]] key" (each feed) or, for a list,
# "[table] key" (each entry; "[editor] pin" is each pin's url). Within each aspect the
# order is the order the keys are checked in.
RULES: dict[str, Rule] = {
    "[newsletter] name": Rule(one_line=True, max_chars=200,
                              nonempty="give the newsletter a name"),
    "[newsletter] subject": Rule(one_line=True, max_chars=200,
                                 nonempty="write e.g. '{name}: {headline}'"),
    "[newsletter] slug": ONE_LINE,
    "[newsletter] web_url": ONE_LINE,
    "[newsletter] subscribe_url": ONE_LINE,
    "[newsletter] manage_url": ONE_LINE,
    "[newsletter] assets_url": ONE_LINE,
    "[newsletter] intro": MULTI_LINE,
    "[newsletter] dek": MULTI_LINE,
    "[newsletter] postal_address": MULTI_LINE,
    # Lowest and highest value of every number: wider values are typos, or overflow
    # later (max_age_days = 1e12 overflows a timedelta).
    "[layout] big_story": _ranged(0, 1),
    "[layout] need_to_know": _ranged(0, 50),
    "[layout] read_more": _ranged(0, 100),
    "[layout] big_story_chars": _ranged(0, 100_000),
    "[layout] need_to_know_chars": _ranged(0, 100_000),
    "[layout] read_more_chars": _ranged(0, 100_000),
    "[layout] max_html_kb": _ranged(10, 10_000),
    "[layout] max_per_feed": _ranged(0, 100),
    "[layout] max_variants": _ranged(0, 64),
    "[layout] templates_dir": ONE_LINE,
    "[editor] max_age_days": _ranged(0, 36_500),
    "[enrich] pages": Rule(choices=_choices(EnrichMode), fix=(
        "use \"missing\" (pages of stories whose feed gives no picture or no body), "
        "\"always\" or \"never\"")),
    "[enrich] timeout": _ranged(1, 600),
    "[web] site_dir": ONE_LINE,
    "[web] per_page": _ranged(1, 1000),
    "[web] confirm_attempts": _ranged(1, 100),
    "[web] confirm_retry_delay": _ranged(0, 86_400),
    "[web] max_body_kb": _ranged(1, 1024),
    "[web] request_timeout": _ranged(1, 300),
    "[web] keep_alive": _ranged(1, 300),
    "[web] max_connections": _ranged(1, 100_000),
    "[collect] timeout": Rule(low=0, high=600, above_low=True),
    "[collect] max_bytes": _ranged(1, 1_000_000_000),
    "[collect] max_redirects": _ranged(0, 50),
    "[collect] concurrency": _ranged(1, 256),
    "[collect] user_agent": ONE_LINE,
    "[schedule] min_new_items": _ranged(0, 1000),
    "[schedule] issue": Rule(allowed_controls="\t"),  # between a crontab line's fields
    "[schedule] deliver": Rule(choices=_choices(ScheduleDeliver), fix=(
        "use \"slot\" (send when the issue is built) or \"local\" (at [schedule] "
        "local_time in each reader's time zone)")),
    "[schedule] local_time": ONE_LINE,
    "[schedule] max_lateness": ONE_LINE,
    "[delivery] mode": Rule(choices=_choices(DeliveryMode), problem=" is not a mode"),
    # Values that end up in a mail or HTTP header, a path or a URL are one line (a CR/LF
    # in a header value is header injection). The longest that go into one header line
    # unfolded (SMTP allows 998 characters): a URL or a quoted name without spaces cannot
    # be folded.
    "[delivery] outbox_dir": Rule(one_line=True, nonempty="give a folder like 'outbox'"),
    "[delivery] from": ONE_LINE,
    "[delivery] reply_to": ONE_LINE,
    "[delivery] recipients_file": ONE_LINE,
    "[delivery] unsubscribe_url": Rule(one_line=True, max_chars=600),
    "[delivery] unsubscribe_mailto": ONE_LINE,
    "[delivery] secret_env": ONE_LINE,
    "[delivery] list_id": Rule(one_line=True, max_chars=300),
    "[delivery] return_path": ONE_LINE,
    "[delivery] pause_hard_bounce_rate": _ranged(0, 1),
    "[delivery] pause_min_sent": _ranged(1, 10_000_000),
    "[delivery] pause_complaints": _ranged(0, 1_000_000),
    "[smtp] port": _ranged(1, 65_535),
    "[smtp] connections": _ranged(1, 64),
    "[smtp] rate_per_second": _ranged(0, 10_000),
    "[smtp] timeout": Rule(low=0, high=3600, above_low=True),
    "[smtp] max_attempts": _ranged(1, 100),
    "[smtp] retry_delay": _ranged(0, 3600),
    "[smtp] security": Rule(choices=_choices(SmtpSecurity)),
    "[log] format": Rule(choices=_choices(LogFormat)),
    "[log] level": Rule(choices=_choices(LogLevel)),
    "[smtp] host": ONE_LINE,
    "[smtp] username": ONE_LINE,
    "[smtp] password_env": ONE_LINE,
    "[smtp] ca_file": ONE_LINE,
    "[dkim] key_file": ONE_LINE,
    "[dkim] selector": ONE_LINE,
    "[dkim] domain": ONE_LINE,
    "[state] path": Rule(one_line=True, nonempty="give a file like '.digest/state.db'"),
    "[state] lock_timeout": _ranged(0, 86_400),
    "[state] url": ONE_LINE,
    "[delivery] recipients": ONE_LINE,
    "[[feeds]] url": Rule(one_line=True, nonempty="give an http(s) URL or a path"),
    "[[feeds]] weight": Rule(low=0, high=100, at="[[feeds]] #{i} ({item.name}) weight"),
    "[[feeds]] enrich": Rule(choices=_field_choices(FeedConfig, "enrich"), fix=(
        "use \"missing\", \"always\" or \"never\", or leave it out"),
        at="[[feeds]] #{i} ({item.name}) enrich"),
    "[editor] pin": ONE_LINE,
    "[[topics]] name": Rule(one_line=True, max_chars=40, nonempty="give the topic a name"),
    "[[topics]] description": Rule(one_line=True, max_chars=200),
    "[editor] pin block": Rule(choices=_field_choices(PinConfig, "block"),
                               problem=" is not a story block",
                               fix="use big_story, need_to_know or read_more, or leave it out"),
}

# Every number's range, per table, as (lowest, highest); None as the lowest means "more
# than 0". Made from RULES (the [[feeds]] weight is checked per feed).
LIMITS: dict[str, dict[str, tuple[float | None, float]]] = {}
for _key, _rule in RULES.items():
    if _rule.high is not None and not _key.startswith("[["):
        _table, _, _name = _key.strip("[").partition("] ")
        LIMITS.setdefault(_table, {})[_name] = (None if _rule.above_low else _rule.low,
                                                _rule.high)


def enforce(config: Config, aspect: Aspect, keys: Iterable[str] | None = None) -> None:
    """Check one aspect of the rules of `keys` (default: every key, in RULES's order)
    against the config; raise ConfigError naming the first value that breaks it."""
    for key in RULES if keys is None else keys:
        for at, value in places(config, key):
            enforce_value(RULES[key], aspect, at, value)


def enforce_value(rule: Rule, aspect: Aspect, at: str, value: Any) -> None:
    """Check one aspect of a rule against one value, named `at` in the error."""
    if aspect == "one_line" and rule.one_line:
        bad = next((c for c in value if unicodedata.category(c) in ("Cc", "Zl", "Zp")), None)
        if bad is not None:
            raise ConfigError(f"{at}: contains control character U+{ord(bad):04X} (a line "
                              "break, tab or the like); write it on one line")
    elif aspect == "max_chars" and rule.max_chars is not None:
        if len(value) > rule.max_chars:
            raise ConfigError(f"{at}: {len(value)} characters; at most {rule.max_chars}, as "
                              "it goes into a mail header; shorten it")
    elif aspect == "range" and rule.high is not None:
        low = rule.low or 0
        if not (value > low if rule.above_low else value >= low) or value > rule.high:
            shown = f"more than {low}" if rule.above_low else f"from {low}"
            raise ConfigError(f"{at}: {value} is out of range; use a number {shown} up to "
                              f"{rule.high}")
    elif aspect == "choices" and rule.choices:
        if value not in rule.choices:
            named = [repr(c) for c in rule.choices if c]
            use = f"use {', '.join(named[:-1])} or {named[-1]}"
            raise ConfigError(f"{at}: {value!r}{rule.problem}; {rule.fix or use}")
    elif aspect == "nonempty" and rule.nonempty:
        if not value.strip():
            raise ConfigError(f"{at}: is empty; {rule.nonempty}")


def places(config: Config, key: str) -> list[tuple[str, Any]]:
    """Where a key of RULES is in the config: ("[table] key" as an error names it, value)
    for a key, for each [[feeds]] entry, or for each entry of a list."""
    table, _, path = key.partition("] ")
    table = table.strip("[]")
    name, _, sub = path.partition(" ")  # "[editor] pin block": each pin's block
    section = getattr(config, table)
    if isinstance(section, tuple):
        at = RULES[key].at or f"{TABLE_LABELS[table]} #{{i}} {name}"
        return [(at.format(i=i, item=item), getattr(item, field_name(name)))
                for i, item in enumerate(section, 1)]
    value = getattr(section, field_name(name))
    if not isinstance(value, tuple):
        return [(f"[{table}] {name}", value)]
    return [(f"[{table}] {name}[{i}]{' ' if sub else ''}{sub}",
             getattr(item, sub or "url") if dataclasses.is_dataclass(item) else item)
            for i, item in enumerate(value)]


def strings(obj: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """("[table] key", value) for every string in the config: each dataclass's str
    fields, strings in lists (`key[i]`), nested tables and lists of tables."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        key = toml_key(f.name)
        if isinstance(value, str):
            yield _at(where, key), value
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            yield from strings(value, f"[{where.strip('[]')}.{key}]" if where else f"[{key}]")
        elif isinstance(value, tuple):
            for i, item in enumerate(value):
                if isinstance(item, str):
                    yield f"{_at(where, key)}[{i}]", item
                elif dataclasses.is_dataclass(item):
                    yield from strings(item, f"{TABLE_LABELS.get(key, key)} #{i + 1}")


def _at(where: str, key: str) -> str:
    return f"{where} {key}" if where else key


def check_text(config: Config) -> None:
    """No control characters (but the ones a rule allows: line breaks and tabs in
    multi-line text), no noncharacters and no bidi overrides or isolates in any string:
    they reach the MJML (which fails on them), headers and the terminal, or reorder what
    is shown."""
    for at, value in strings(config):
        allowed = RULES.get(at, NO_RULE).allowed_controls
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

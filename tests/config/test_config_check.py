"""`digest check` catches every config value `build` would trip over: one bad value per
key, each an exit status 2 naming `[table] key`, never a traceback."""

from __future__ import annotations

import dataclasses
import json
import tomllib
import typing
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from digest.config.load import load_config
from digest.config.rules import LIMITS
from digest.config.schema import Config
from tests.helpers import BASE_CONFIG, ROOT, error_line, run

FEED = {"url": "https://example.com/feed.xml", "name": "Wire"}


def toml(data: dict[str, Any]) -> str:
    """Just enough of a TOML writer for config tables (json strings are TOML strings)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return str(v).lower()
        if isinstance(v, str):  # \UXXXXXXXX beyond the BMP: TOML has no surrogate pairs
            return "".join(json.dumps(c)[1:-1] if ord(c) < 0x10000 else f"\\U{ord(c):08X}"
                           for c in f'"{v}"'[1:-1]).join('""')
        if isinstance(v, date):  # datetimes too
            return v.isoformat()
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + "}"
        return repr(v)  # int, float, nan, inf

    out = []
    for table, body in data.items():
        for row in body if isinstance(body, list) else [body]:
            out.append(f"[[{table}]]" if isinstance(body, list) else f"[{table}]")
            out += [f"{k} = {value(v)}" for k, v in row.items()]
    return "\n".join(out) + "\n"


def config_with(settings: dict[str, Any]) -> dict[str, Any]:
    """BASE_CONFIG plus one feed, with {"table.key": value} set (in #1 of [[tables]])."""
    data = tomllib.loads(BASE_CONFIG)
    data["feeds"] = [dict(FEED)]
    for dotted, v in settings.items():
        table, key = dotted.split(".")
        target = data.setdefault(table, {})
        (target[0] if isinstance(target, list) else target)[key] = v
    return data


def check(tmp_path: Path, settings: dict[str, Any]):
    path = tmp_path / "config.toml"
    path.write_text(toml(config_with(settings)), "utf-8")
    return run(path, "check")


def bad(dotted: str, v: Any, expect: str | None = None, **also: Any) -> Any:
    table, key = dotted.split(".")
    expect = expect or f"[{table}] {key}"
    also = {k.replace("__", "."): x for k, x in also.items()}
    return pytest.param({dotted: v, **also}, expect, id=f"{dotted}={v!r}"[:70])


NAN, INF = float("nan"), float("inf")
WEIGHT = "[[feeds]] #1 (Wire) weight"

BAD = [
    # [newsletter]: Babel locale, subject placeholders, time zone, slug, header text
    bad("newsletter.language", "xx"),
    bad("newsletter.language", ""),
    bad("newsletter.language", "en_"),
    bad("newsletter.language", "en.UTF-8"),
    bad("newsletter.subject", "{nope}"),
    bad("newsletter.subject", "{name"),
    bad("newsletter.subject", "name}"),
    bad("newsletter.subject", "{}"),
    bad("newsletter.subject", "{0}"),
    bad("newsletter.subject", "{number:xyz}"),
    bad("newsletter.subject", "{date:%Y}"),
    bad("newsletter.subject", "{name!x}"),
    bad("newsletter.subject", "{name.__class__}"),
    bad("newsletter.subject", "{name[0]}"),
    bad("newsletter.subject", "{name:>999999999}"),
    bad("newsletter.subject", "{number:{name}}"),
    bad("newsletter.subject", "  "),
    bad("newsletter.subject", "Hello\r\nBcc: victim@example.com"),
    bad("newsletter.timezone", ""),
    bad("newsletter.timezone", "Mars/Olympus_Mons"),
    bad("newsletter.timezone", "../../etc/passwd"),
    bad("newsletter.timezone", "/etc/localtime"),
    bad("newsletter.slug", "a/b"),
    bad("newsletter.slug", "../up"),
    bad("newsletter.slug", "Upper"),
    bad("newsletter.slug", "-"),
    bad("newsletter.slug", "a" * 65),
    bad("newsletter.slug", "a\r\nb"),
    bad("newsletter.name", "x" * 70, "[newsletter] slug"),  # the default slug is too long
    bad("newsletter.name", "The China\r\nBcc: victim@example.com"),
    bad("newsletter.name", "Line\nbreak"),
    bad("newsletter.name", "Tab\there"),
    bad("newsletter.name", "Para\u2029graph"),
    bad("newsletter.name", ""),
    bad("newsletter.name", "N" * 201, newsletter__slug="news"),  # subject and From
    bad("newsletter.subject", "x" * 201),
    bad("newsletter.subject", "{number:c}"),  # chr(1) in issue #1's Subject
    bad("newsletter.subject", "{number:x}"),
    bad("newsletter.subject", "{number:>5}"),
    bad("newsletter.subject", "{number:100}"),
    bad("newsletter.subject", "{name:>10}"),
    bad("newsletter.subject", "{headline:.5}"),
    bad("newsletter.subject", "{date:>40}"),
    bad("newsletter.subject", "{headline!r:^9}"),
    # no control character, noncharacter or bidi override in any text (they reach the
    # MJML and crash it, or reorder what readers see)
    bad("newsletter.dek", "Insights \x1b[31m"),
    bad("newsletter.dek", "Next\x85line"),  # C1
    bad("newsletter.intro", "Hello\x1b"),
    bad("newsletter.intro", "Hello\x00"),
    bad("newsletter.postal_address", "1 Road\x1b"),
    bad("newsletter.postal_address", "1 Road\x7f"),  # DEL
    bad("newsletter.copyright", "\x1b© Example"),
    bad("newsletter.copyright", "© Example\nLine two"),  # line breaks: intro, dek, address
    bad("newsletter.copyright", "©\tExample"),
    bad("newsletter.dek", "Right-to-left \u202e override"),
    bad("newsletter.intro", "Isolate \u2066x\u2069"),
    bad("newsletter.web_url", "https://example.com/\u202e"),
    bad("labels.big_story", "Top\x1b"),
    bad("labels.read_more_link", "\ufdd0"),
    bad("labels.coming_up", "Soon\ufffe"),
    bad("labels.need_to_know", "Know\U0001FFFF"),
    bad("feeds.name", "Wire\x1b", "[[feeds]] #1 name"),
    bad("feeds.name", "Wire\u202d", "[[feeds]] #1 name"),
    bad("feeds.category", "World\x1b", "[[feeds]] #1 category"),
    bad("feeds.category", "World\n", "[[feeds]] #1 category"),
    bad("coming_up.event", "Trade data\x1b", "[[coming_up]] #1 event"),
    bad("coming_up.event", "Trade \u2067data", "[[coming_up]] #1 event"),
    bad("editor.boost", ["yuan", "tariff\x1b"], "[editor] boost[1]"),
    bad("editor.exclude", ["\x1bcrypto"], "[editor] exclude[0]"),
    bad("editor.exclude", ["crypto\ufdef"], "[editor] exclude[0]"),
    bad("dkim.selector", "s1\u202e", dkim__key_file="dkim.pem", dkim__domain="example.com"),
    bad("newsletter.name", "Smith, Jones", delivery__from=""),  # default From: 2 addresses
    # only http(s) links from the editor
    bad("newsletter.web_url", "javascript:alert(1)"),
    bad("newsletter.web_url", "/newsletter"),
    bad("newsletter.web_url", "https://"),
    bad("newsletter.web_url", "https://example.com/a b"),
    bad("newsletter.web_url", "https://example.com/\n"),
    bad("newsletter.web_url", "http://[::1"),
    bad("newsletter.subscribe_url", "data:text/html,hi"),
    bad("newsletter.manage_url", "ftp://example.com/prefs"),
    bad("newsletter.intro", "Hi. [Subscribe](javascript:alert(1))."),
    bad("newsletter.intro", "[Subscribe](JavaScript:alert(1))"),
    bad("newsletter.intro", "[Subscribe](/subscribe)"),
    bad("newsletter.intro", "[Subscribe](data:text/html,x)"),
    bad("newsletter.intro", "[Subscribe]({name})", newsletter__name="javascript:alert(1)"),
    # [[feeds]]
    bad("feeds.weight", -1.0, WEIGHT),
    bad("feeds.weight", NAN, "[[feeds]] #1 weight"),
    bad("feeds.weight", INF, "[[feeds]] #1 weight"),
    bad("feeds.weight", -INF, "[[feeds]] #1 weight"),
    bad("feeds.weight", 101, WEIGHT),
    bad("feeds.url", "", "[[feeds]] #1 url"),
    bad("feeds.url", "https://example.com/\r\nfeed", "[[feeds]] #1 url"),
    bad("feeds.nmae", "x", "[[feeds]] #1 nmae"),
    # [layout]
    bad("layout.big_story", 2),
    bad("layout.big_story", -1),
    bad("layout.need_to_know", -1),
    bad("layout.need_to_know", 51),
    bad("layout.read_more", -3),
    bad("layout.read_more", 101),
    bad("layout.big_story_chars", 100_001),
    bad("layout.need_to_know_chars", -1),
    bad("layout.read_more_chars", 10**12),
    bad("layout.max_html_kb", 5),
    bad("layout.max_html_kb", 10_001),
    bad("layout.max_html_kb", 100.5),
    bad("layout.accent_color", "red"),
    bad("layout.templates_dir", "my\ntemplates"),
    bad("layout.blocks", ["intro", "nope"]),
    bad("layout.blocks", ["intro", "intro"]),
    bad("layout.read_mroe", 4),
    bad("labels.big_stroy", "x"),
    # [editor]
    bad("editor.max_age_days", 1_000_000_000_000),
    bad("editor.max_age_days", 36_501),
    bad("editor.max_age_days", -1),
    bad("editor.require", ["China", " "], "[editor] require"),
    bad("editor.languages", ["en", "not a language"], "[editor] languages"),
    bad("editor.pin", ["javascript:alert(1)"], "[editor] pin[0]"),
    bad("editor.pin", ["https://example.com/a", "/relative"], "[editor] pin[1]"),
    bad("editor.pin", ["https://example.com/\r\nX"], "[editor] pin[0]"),
    bad("editor.exclude", [""]),
    bad("editor.boost", ["yuan", " "]),
    # [[coming_up]]
    bad("coming_up.date", datetime(2026, 12, 7, 10, 0), "[[coming_up]] #1 date"),
    bad("coming_up.event", 7, "[[coming_up]] #1 event"),
    # [collect]
    bad("collect.timeout", 0),
    bad("collect.timeout", -1),
    bad("collect.timeout", 601),
    bad("collect.timeout", NAN),
    bad("collect.timeout", INF),
    bad("collect.max_bytes", 0),
    bad("collect.max_bytes", 2_000_000_000),
    bad("collect.max_redirects", -1),
    bad("collect.max_redirects", 51),
    bad("collect.concurrency", 0),
    bad("collect.concurrency", 257),
    bad("collect.user_agent", "dïgest/1.0"),
    bad("collect.user_agent", "digest\r\nX-Evil: 1"),
    # [schedule]
    bad("schedule.collect_every", "8d"),
    bad("schedule.collect_every", "0h"),
    bad("schedule.collect_every", "often"),
    bad("schedule.misfire_grace", "31d"),
    bad("schedule.misfire_grace", "99999999999999999999w"),
    bad("schedule.min_new_items", -1),
    bad("schedule.min_new_items", 1001),
    bad("schedule.issue", "every monday"),
    bad("schedule.issue", "0 8 * * MON\n"),
    bad("schedule.timezone", "Nowhere/Land"),
    # [delivery]
    bad("delivery.mode", "fax"),
    bad("delivery.outbox_dir", ""),
    bad("delivery.outbox_dir", "out\nbox"),
    bad("delivery.from", "Digest <digest@example.com>\r\nBcc: victim@example.com"),
    bad("delivery.from", "not an address"),
    bad("delivery.from", "A, B <digest@example.com>"),
    bad("delivery.from", "digest@exämple.com"),
    bad("delivery.from", "<>"),
    bad("delivery.from", "a@"),  # the stdlib header parser raises IndexError on this
    bad("delivery.from", "bé<"),
    bad("delivery.from", "group: digest@example.com;"),
    bad("delivery.reply_to", "editor"),
    bad("delivery.reply_to", "editor@example.com\n"),
    # header lines of at most 998 characters: long names and URLs cannot be folded
    bad("delivery.from", '"' + "N" * 201 + '" <digest@example.com>'),
    bad("delivery.from", "N" * 201 + " <digest@example.com>"),
    bad("delivery.reply_to", '"' + "E" * 201 + '" <editor@example.com>'),
    bad("delivery.unsubscribe_url", "https://example.com/u?t={token}&p=" + "x" * 800),
    bad("delivery.unsubscribe_url", "https://example.com/u/" + "x" * 700,  # with the mailto
        delivery__unsubscribe_mailto="u@example.com?subject=" + "y" * 300),
    bad("delivery.list_id", "N" * 290 + " <news.example.com>"),
    bad("delivery.recipients", ["ok@example.com", "a@example.com\r\nBcc: b@example.com"],
        "[delivery] recipients[1]"),
    bad("delivery.recipients_file", "subs\x00.csv"),
    bad("delivery.unsubscribe_url", "javascript:alert(1)"),
    bad("delivery.unsubscribe_url", "https://example.com/u?e={email}"),
    bad("delivery.unsubscribe_url", "https://example.com/u?t={token}&e={email}"),
    bad("delivery.unsubscribe_url", "https://example.com/u?t={token}&x={nope}"),
    bad("delivery.unsubscribe_url", "https://example.com/u?t={token"),
    bad("delivery.unsubscribe_url", "https://example.com/ü?t={token}"),
    bad("delivery.unsubscribe_url", "https://example.com/u?t={token}\r\n"),
    bad("delivery.unsubscribe_mailto", "mailto:unsubscribe@example.com"),
    bad("delivery.unsubscribe_mailto", "unsubscribe"),
    bad("delivery.unsubscribe_mailto", "u@example.com\r\nBcc: victim@example.com"),
    bad("delivery.secret_env", "MY SECRET"),
    bad("delivery.secret_env", "A=B"),
    bad("delivery.list_id", "News\r\nBcc: victim@example.com"),
    # [smtp]
    bad("smtp.port", 0),
    bad("smtp.port", 70_000),
    bad("smtp.security", "ssl"),
    bad("smtp.connections", 0),
    bad("smtp.connections", 65),
    bad("smtp.rate_per_second", -1.0),
    bad("smtp.rate_per_second", NAN),
    bad("smtp.rate_per_second", INF),
    bad("smtp.timeout", 0),
    bad("smtp.timeout", 3601),
    bad("smtp.max_attempts", 0),
    bad("smtp.max_attempts", 101),
    bad("smtp.retry_delay", -1),
    bad("smtp.retry_delay", 3601),
    bad("smtp.host", "smtp.example.com\r\n"),
    bad("smtp.host", "a" * 300),
    bad("smtp.host", "a" * 64 + ".example.com"),
    bad("smtp.host", ("a" * 63 + ".") * 4 + "com"),  # 259 characters
    bad("smtp.host", "smtp example.com"),
    bad("smtp.host", "smtp.example.com:25"),
    bad("smtp.host", "smtp_relay.example.com"),
    bad("smtp.host", "-smtp.example.com"),
    bad("smtp.host", "smtp..example.com"),
    bad("smtp.host", "[::1]"),
    bad("smtp.host", "smtp.bücher.de"),  # write the xn-- form, as the message says
    bad("smtp.host", ""),
    bad("smtp.username", "me\nRCPT TO:<x@example.com>"),
    bad("smtp.password_env", "pass word"),
    bad("smtp.ca_file", "ca\n.pem"),
    # [dkim]
    bad("dkim.selector", "s1\r\n"),
    bad("dkim.selector", "s; x=1", dkim__key_file="dkim.pem", dkim__domain="example.com"),
    bad("dkim.selector", "s_1", dkim__key_file="dkim.pem", dkim__domain="example.com"),
    bad("dkim.selector", "s1.", dkim__key_file="dkim.pem", dkim__domain="example.com"),
    bad("dkim.selector", "-s1", dkim__key_file="dkim.pem", dkim__domain="example.com"),
    bad("dkim.domain", "exa mple.com", dkim__key_file="dkim.pem", dkim__selector="s1"),
    bad("dkim.domain", "example.com; x=1", dkim__key_file="dkim.pem", dkim__selector="s1"),
    bad("dkim.domain", "a" * 64 + ".com", dkim__key_file="dkim.pem", dkim__selector="s1"),
    bad("dkim.domain", "10.0.0.1", dkim__key_file="dkim.pem", dkim__selector="s1"),
    bad("dkim.key_file", "missing.pem", dkim__selector="s1", dkim__domain="example.com"),
    bad("dkim.key_file", "dkim.pem", "[dkim] selector, domain: missing"),
    # [state]
    bad("state.path", ""),
    bad("state.path", "state\n.db"),
    bad("state.lock_timeout", -1),
    bad("state.lock_timeout", 86_401),
    bad("state.lock_timeout", NAN),
]


@pytest.mark.parametrize(("settings", "expect"), BAD)
def test_bad_value_exits_2_naming_the_key(tmp_path: Path, settings: dict[str, Any],
                                          expect: str):
    result = check(tmp_path, settings)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert expect in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output  # one line: no CR/LF


GOOD = [
    {"newsletter.language": "en-GB"},
    {"newsletter.language": "zh_Hans"},
    {"newsletter.language": "de"},
    {"newsletter.subject": "{name} #{number:03}: {headline!s} ({date}) {{literally}}"},
    {"newsletter.subject": "{name} No. {number:,} / {number:_d} / {number:05,}"},
    {"newsletter.subject": "x" * 194 + "{name}"},  # 200 characters
    {"newsletter.name": "N" * 200, "newsletter.slug": "news"},
    {"newsletter.intro": "Line one,\nline two;\r\n\tindented.", "newsletter.dek": "a\nb",
     "newsletter.postal_address": "1 Example Road\nSingapore 000000"},
    {"newsletter.copyright": "© 2026 Ünïcode 中文 — “quoted” 🙂"},
    {"schedule.issue": "0\t8\t*\t*\tMON"},  # cron reads tabs between fields
    {"delivery.from": '"' + "N" * 200 + '" <digest@example.com>',
     "delivery.reply_to": "E" * 200 + " <editor@example.com>"},
    {"delivery.unsubscribe_url": "https://example.com/u?t={token}&p=" + "x" * 566},  # 600
    {"delivery.list_id": "N" * 281 + " <news.example.com>"},  # 300
    {"smtp.host": "127.0.0.1"},
    {"smtp.host": "::1"},
    {"smtp.host": "2001:db8::25"},
    {"smtp.host": "localhost"},
    {"smtp.host": "SMTP-1.Example.com."},
    {"smtp.host": ("a" * 63 + ".") * 3 + "a" * 61},  # 253 characters
    {"newsletter.slug": "china-connection-2"},
    {"newsletter.name": "中国连接"},  # slug falls back to "digest"
    {"newsletter.intro": "[Write to us](mailto:editor@example.com) or [read](http://x.example)"},
    {"newsletter.web_url": ""},
    {"schedule.timezone": ""},  # the newsletter's
    {"schedule.collect_every": "2s", "schedule.misfire_grace": "30d"},
    {"delivery.from": '"Smith, Jones" <digest@example.com>'},
    {"delivery.unsubscribe_url": ""},
    {"delivery.unsubscribe_mailto": "unsubscribe@example.com?subject=unsubscribe"},
    {"smtp.rate_per_second": 0, "editor.max_age_days": 0, "feeds.weight": 0},
]


@pytest.mark.parametrize("settings", GOOD, ids=lambda s: ",".join(s))
def test_edge_values_still_pass(tmp_path: Path, settings: dict[str, Any]):
    result = check(tmp_path, settings)
    assert result.exit_code == 0, result.output


# Every key of every table, none at its default.
FULL = {
    "newsletter": {
        "name": "The China Connection", "dek": "Insights", "language": "en-GB",
        "intro": "This is {name}. [Subscribe](https://example.com/s).",
        "timezone": "Asia/Shanghai", "web_url": "https://example.com/latest",
        "subscribe_url": "https://example.com/s", "manage_url": "https://example.com/m",
        "postal_address": "1 Example Road", "copyright": "© Example",
        "slug": "china-connection", "subject": "{name} #{number}: {headline} ({date})",
        "assets_url": "https://example.com/assets",
    },
    "feeds": [{"url": "https://example.com/a.xml", "name": "A", "category": "World",
               "weight": 1.5, "enrich": "always"}],
    "layout": {
        "blocks": ["masthead", "big_story", "read_more"], "big_story": 0, "need_to_know": 50,
        "read_more": 100, "big_story_chars": 100_000, "need_to_know_chars": 1,
        "read_more_chars": 0, "max_html_kb": 10_000, "accent_color": "#aa0000",
        "templates_dir": "my-templates", "max_per_feed": 100, "max_variants": 64,
    },
    "labels": {"big_story": "Top", "need_to_know": "Know", "read_more": "More",
               "coming_up": "Soon", "read_more_link": "Go", "big_story_link": "All",
               "issue_number": "No. {number}", "view_in_browser": "Web", "footer_reason": "Hi",
               "unsubscribe": "Leave", "manage": "Settings", "subscribe": "Join",
               "photo": "Pic"},
    "editor": {"pin": ["https://example.com/story",
                       {"url": "https://example.com/card", "block": "read_more"}],
               "exclude": ["feed:A", "crypto"],
               "boost": ["yuan"], "max_age_days": 36_500, "require": ["China", "Hong Kong"],
               "languages": ["en", "zh-Hant", "*"]},
    "coming_up": [{"date": date(2026, 12, 9), "event": "Trade data"}],
    "topics": [{"name": "world", "description": "The world", "categories": ["World"],
                "feeds": ["A"]}],
    "enrich": {"pages": "always", "timeout": 600, "mirror": "pages"},
    "web": {"site_dir": "public", "publish": True, "per_page": 1000,
            "trusted_proxies": ["10.0.0.0/8", "fd00::1"], "max_body_kb": 16,
            "request_timeout": 20, "keep_alive": 10, "max_connections": 500,
            "health_smtp": True, "metrics": True, "confirm_attempts": 3,
            "confirm_retry_delay": 5},
    "collect": {"timeout": 600, "max_bytes": 1_000_000_000, "max_redirects": 50,
                "concurrency": 256, "user_agent": "digest-test/1.0"},
    "schedule": {"collect_every": "7d", "issue": "0 8 * * MON", "timezone": "Europe/London",
                 "misfire_grace": "30d", "min_new_items": 1000, "deliver": "local",
                 "local_time": "06:30", "max_lateness": "7d"},
    "delivery": {
        "mode": "smtp", "outbox_dir": "issues", "from": "News <news@example.com>",
        "reply_to": "editor@example.com", "recipients": ["Ann <ann@example.com>"],
        "recipients_file": "subscribers.csv",
        "unsubscribe_url": "https://example.com/u?token={token}",
        "unsubscribe_mailto": "unsubscribe@example.com", "secret_env": "NEWS_SECRET",
        "list_id": "News <news.example.com>", "return_path": "bounces@example.com",
        "pause_hard_bounce_rate": 1.0, "pause_min_sent": 10_000_000, "pause_complaints": 0,
    },
    "smtp": {"host": "smtp.example.com", "port": 65_535, "security": "tls", "username": "me",
             "password_env": "NEWS_SMTP_PASSWORD", "connections": 64,
             "rate_per_second": 10_000.0, "timeout": 3600, "max_attempts": 100,
             "retry_delay": 3600, "ca_file": "ca.pem"},
    "dkim": {"key_file": "dkim.pem", "selector": "s1", "domain": "example.com"},
    "state": {"path": "state/digest.db", "lock_timeout": 86_400,
              "url": "postgresql://digest@db.example.org/digest"},
    "log": {"format": "json", "level": "WARNING"},
}


def test_a_config_with_every_key_loads(tmp_path: Path):
    (tmp_path / "pages").mkdir()  # [enrich] mirror
    path = tmp_path / "config.toml"
    path.write_text(toml(FULL), "utf-8")
    config = load_config(path)
    assert config.newsletter.slug == "china-connection"
    assert config.sender == "News <news@example.com>"
    for name, value in FULL.items():
        row = value[0] if isinstance(value, list | tuple) else value
        section = getattr(config, name)
        section = section[0] if isinstance(section, tuple) else section
        # FULL really sets every key: a new field must be added here (and checked).
        keys = {"from" if f.name == "sender" else f.name for f in dataclasses.fields(section)}
        assert set(row) == keys, name


def test_every_number_has_a_range():
    numbers = set()
    for section in dataclasses.fields(Config):
        cls = typing.get_type_hints(Config)[section.name]
        cls = (typing.get_args(cls) or (cls,))[0]
        if dataclasses.is_dataclass(cls):
            hints = typing.get_type_hints(cls)
            numbers |= {(section.name, f.name) for f in dataclasses.fields(cls)
                        if hints[f.name] in (int, float)}
    ranged = {(table, key) for table, keys in LIMITS.items() for key in keys}
    assert numbers - ranged == {("feeds", "weight")}  # checked per feed


def test_the_bundled_config_loads():
    config = load_config(ROOT / "config.toml")
    assert config.newsletter.slug == "the-china-connection"


def test_a_key_file_that_is_no_key_fails_check(tmp_path: Path):
    (tmp_path / "dkim.pem").write_text(
        "-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n", "ascii")
    dkim = {"dkim.key_file": "dkim.pem", "dkim.selector": "s1", "dkim.domain": "example.com"}
    result = check(tmp_path, dkim)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "[dkim] key_file" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "dkim.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    result = check(tmp_path, dkim)
    assert result.exit_code == 0, result.output


def test_check_refuses_a_missing_or_weak_token_secret(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("NEWS_SECRET", raising=False)
    settings = {"delivery.unsubscribe_url": "https://example.com/u?t={token}",
                "delivery.secret_env": "NEWS_SECRET"}
    result = check(tmp_path, settings)
    assert result.exit_code == 2, result.output
    assert error_line(result).startswith(
        "error: [delivery] secret_env: environment variable NEWS_SECRET is not set")
    monkeypatch.setenv("NEWS_SECRET", "short")
    result = check(tmp_path, settings)
    assert result.exit_code == 2 and "NEWS_SECRET is 5 bytes" in error_line(result)
    monkeypatch.setenv("NEWS_SECRET", "k3Jd9sLq0PzX7vBn2MwRt5YcH8gUe4Af")
    result = check(tmp_path, settings)
    assert result.exit_code == 0 and "error" not in result.output, result.output
    assert "ok (1 feeds" in result.output


def test_url_schemes_are_case_insensitive(tmp_path: Path):
    path = tmp_path / "config.toml"
    data = config_with({"feeds.url": "HTTP://example.com/feed.xml",
                        "newsletter.web_url": "HTTPS://example.com/latest",
                        "editor.pin": ["Https://example.com/story"],
                        "editor.exclude": ["HTTP://example.com/old", "Crypto"],
                        "delivery.unsubscribe_url": "HTTPS://example.com/u"})
    data["feeds"].append({"url": "File:feed.xml"})
    path.write_text(toml(data), "utf-8")
    config = load_config(path)
    assert [f.url for f in config.feeds] == ["http://example.com/feed.xml", "file:feed.xml"]
    assert config.feeds[1].name == "file:feed.xml"  # the default name is the url
    assert config.newsletter.web_url == "https://example.com/latest"
    assert [p.url for p in config.editor.pin] == ["https://example.com/story"]
    assert config.editor.exclude == ("http://example.com/old", "Crypto")
    assert config.delivery.unsubscribe_url == "https://example.com/u"
    result = run(path, "check")
    assert result.exit_code == 0, result.output
    assert "does not exist yet" in result.output and "example.com/feed" not in result.output
    data["feeds"][1]["url"] = "http://EXAMPLE.com:80/feed.xml"  # the same feed as #1
    path.write_text(toml(data), "utf-8")
    result = run(path, "check")
    assert result.exit_code == 2 and "[[feeds]] #2 url" in result.output, result.output


def test_an_upper_case_http_feed_is_fetched_over_http(tmp_path: Path):
    """collect itself reads the scheme case-insensitively (a FeedConfig made in code)."""
    import httpx

    from digest.collect.feeds import collect_feeds, local_path
    from digest.collect.hosts import Address
    from digest.config.schema import CollectConfig, FeedConfig
    from tests.helpers import SAMPLES

    body = next((SAMPLES / "feeds").glob("*.xml")).read_bytes()
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(f"{request.url.scheme}://{request.headers['host']}{request.url.path}")
        return httpx.Response(200, content=body, headers={"content-type": "application/xml"})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    feed = FeedConfig(url="HTTP://feeds.example.com/feed.xml", name="Shouty")
    [result] = collect_feeds([feed], {}, client, CollectConfig(), tmp_path,
                             resolve=lambda host, port: [Address("93.184.216.34", "public")])
    assert asked == ["http://feeds.example.com/feed.xml"]
    assert result.status == "ok" and result.articles, result.error
    assert local_path("FILE:///srv/feed.xml", tmp_path) == Path("/srv/feed.xml")

"""Load and validate config.toml into frozen dataclasses.

Every mistake is reported with its table and key and what was expected, e.g.
``[layout] read_mroe: unknown key (did you mean 'read_more'?)``. The tables are in
digest.config.schema, the rules of single values in digest.config.rules, the other
checks in digest.config.checks.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import tomllib
import types
import typing
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from digest.config.schema import (
    TABLE_LABELS,
    Config,
    PinConfig,
    toml_key,
)
from digest.errors import ConfigError

_SCHEME = re.compile(r"(https?|file|mailto):", re.IGNORECASE)
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")


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
    from digest.config.checks import check  # it uses the helpers below

    check(config)
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


def is_web(url: str) -> bool:
    """An http(s) URL, in any case (`HTTPS://...` too), rather than a path or a `file:`
    URL: how digest tells a web feed, picture or page from one on disk."""
    return lower_scheme(url).startswith(("http://", "https://"))


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


def feed_key(url: str, base_dir: Path) -> str:
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


def _lower_schemes(config: Config) -> Config:
    """Every URL the config gives, with its scheme in lower case, so the code that
    reads `url.startswith("http://")` (collect, curate, the message builder) agrees."""
    nl, editor, delivery = config.newsletter, config.editor, config.delivery
    feeds = tuple(dataclasses.replace(f, url=lower_scheme(f.url),
                                      name=lower_scheme(f.name) if f.name == f.url else f.name)
                  for f in config.feeds)
    return dataclasses.replace(
        config, feeds=feeds,
        newsletter=dataclasses.replace(nl, **{k: lower_scheme(getattr(nl, k)) for k in (
            "web_url", "subscribe_url", "manage_url", "assets_url")}),
        editor=dataclasses.replace(
            editor, pin=tuple(dataclasses.replace(p, url=lower_scheme(p.url)) for p in editor.pin),
            exclude=tuple(lower_scheme(r) for r in editor.exclude)),
        delivery=dataclasses.replace(delivery,
                                     unsubscribe_url=lower_scheme(delivery.unsubscribe_url)),
    )


def _build(cls: type, data: Any, where: str, skip: frozenset[str] | set[str] = frozenset()) -> Any:
    table = where or "top level"
    if not isinstance(data, dict):
        raise ConfigError(f"{table}: expected a table, got {_kind(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in skip}
    toml_names = {toml_key(n): n for n in fields}
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
            key = toml_key(name)
            at = _at(where, key) if where else f"[{key}]"
            raise ConfigError(f"{at}: missing; {_expect(hints[name])} is required")
    return cls(**values)


def _convert(hint: Any, value: Any, where: str, key: str) -> Any:
    at = _at(where, key)
    origin = typing.get_origin(hint)
    if origin is typing.Literal:  # its choices: checked with the rules (rules.RULES)
        return _convert(str, value, where, key)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        table = f"{where.strip('[]')}.{key}" if where else key
        return _build(hint, value, where=f"[{table}]")
    if origin is tuple:  # tuple[X, ...]: a TOML array, kept immutable
        item = typing.get_args(hint)[0]
        if not isinstance(value, list):
            raise ConfigError(f"{at}: expected {_expect(hint)}, got {_kind(value)}")
        if item is PinConfig:  # a bare URL, or a table naming the block too
            return tuple(PinConfig(url=v) if isinstance(v, str) else
                         _build(PinConfig, v, where=f"[{where.strip('[]')}] {key}[{i}]")
                         for i, v in enumerate(value))
        if isinstance(item, type) and dataclasses.is_dataclass(item):
            label = TABLE_LABELS.get(key, key)
            return tuple(_build(item, v, where=f"{label} #{i + 1}") for i, v in enumerate(value))
        return tuple(_convert(item, v, where, f"{key}[{i}]") for i, v in enumerate(value))
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
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        return f"a list of {_expect(item).removeprefix('a ').removeprefix('an ')}s"
    if typing.get_origin(hint) is typing.Literal:
        return "a string"
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

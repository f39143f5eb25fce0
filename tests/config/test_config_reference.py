"""The README's configuration reference against the code (after sqlite-utils' test_docs.py):
every range, length cap, longest duration and default it states is the one in
digest.config.rules / digest.config.checks / the schema's dataclasses, every key it names
exists, and every number with a range has its range stated. The code is the truth: when
a test here fails, fix the README (or the rule, if the README was right)."""

from __future__ import annotations

import dataclasses
import re
import tomllib
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest

from digest.config.checks import DAY, DURATION_LIMITS, MAX_DISPLAY_NAME
from digest.config.rules import RULES, Rule
from digest.config.schema import Config, NewsletterConfig, toml_key
from tests.helpers import ROOT

README = ROOT / "README.md"
# A number as the README writes it: 65535, 10,000, 1,000,000,000.
N = r"\d{1,3}(?:,\d{3})+|\d+"
# How the README states a range; the first that matches a key's text is its range.
RANGES = [
    (re.compile(rf"more than ({N})(?:,| and) at most ({N})"), True),
    (re.compile(rf"\b({N})(?: \([^)]*\))? to ({N})\b"), False),
    (re.compile(r"`(0)` or `(1)`"), False),
]
MAX_CHARS = re.compile(rf"(the name )?at most ({N}) characters")
LONGEST = re.compile(r"at most `(\d+)d`")
# Defaults the README gives as what they become; the dataclass holds "" for them.
DERIVED = {"[newsletter] copyright": '"© <year> <name>"',
           "[delivery] from": '"<name> <digest@localhost>"'}
# Tables the README names that are no table of Config: the old home of [labels].
OLD_TABLES = {"layout.labels"}


@dataclass
class Said:
    """What the README says of one key: where, the text about it, its default cell."""

    key: str  # "[table] key", or "[[feeds]] key"
    text: str
    default: str | None = None  # a table row's default cell, for this key
    row: bool = False  # from a table row (not prose)


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _tables() -> dict[str, type]:
    """Config's tables: "newsletter" -> NewsletterConfig, "feeds" -> FeedConfig, ..."""
    hints = typing.get_type_hints(Config)
    found = {}
    for f in dataclasses.fields(Config):
        cls = (typing.get_args(hints[f.name]) or (hints[f.name],))[0]
        if dataclasses.is_dataclass(cls):
            found[f.name] = cls
    return found


def _keys(table: str) -> dict[str, dataclasses.Field[Any]]:
    return {toml_key(f.name): f for f in dataclasses.fields(_tables()[table])}


def _name(table: str, key: str) -> str:
    return f"[[{table}]] {key}" if table in ("feeds", "coming_up", "topics") \
        else f"[{table}] {key}"


def _reference() -> str:
    text = README.read_text("utf-8")
    start = text.index("## Configuration reference")
    return text[start:text.index("\n## ", start + 1)]


def _sections() -> list[tuple[list[str], str]]:
    """("### `[smtp]`, `[dkim]`" -> (["smtp", "dkim"], its text)) for the reference's
    sections, and each "| `[table]` key | default |" table elsewhere in the README."""
    found = []
    for part in re.split(r"\n### ", _reference())[1:]:
        heading, _, body = part.partition("\n")
        body = body.split("\n#### ")[0]
        found.append((re.findall(r"`\[\[?([\w.]+)\]\]?`", heading), body))
    for match in re.finditer(r"^\| `\[(\w+)\]` key \| default \|.*\n(?:\|.*\n)*",
                             README.read_text("utf-8"), re.MULTILINE):
        found.append(([match.group(1)], match.group(0)))
    return found


@cache
def said() -> tuple[Said, ...]:
    """Everything the README says of a key: its table rows ("| `key` | default |
    meaning |"), prose like "`timeout` (15 s per feed, ...; more than 0, at most 600)"
    and "Ranges: `port` 1 to 65535, `connections` 1 to 64, ..."."""
    found: list[Said] = []
    for tables, body in _sections():
        def table_of(key: str, tables: list[str] = tables) -> str:
            return next((t for t in tables if t in _tables() and key in _keys(t)), tables[0])

        for line in body.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            if not line.startswith("| `") or len(cells) != 3:
                continue
            keys = re.findall(r"`(\w+)`", cells[0])
            defaults = [d.strip() for d in cells[1].split(", ")]
            if len(defaults) != len(keys):
                defaults = [cells[1]] * len(keys)
            for key, default in zip(keys, defaults, strict=True):
                found.append(Said(_name(table_of(key), key), cells[2], default, row=True))
        # Paragraphs on one line each; a key is one that starts a paragraph or follows
        # ", ", ": ", "; " or ". " ("... fails `check` (exit 2)" names a command).
        prose = "\n".join(re.sub(r"\s+", " ", p).strip() for p in body.split("\n\n")
                          if not p.lstrip().startswith("|"))
        for key, inside in re.findall(r"(?:^|(?<=[,:;.] ))`(\w+)` \(((?:[^()]|\([^()]*\))*)\)",
                                      prose, re.MULTILINE):
            first = re.split(r",\s|;", inside)[0].strip()
            default = re.match(rf"(`[^`]+`|(?:{N})(?:\.\d+)?)(?: s\b| \w+|$)", first)
            found.append(Said(_name(table_of(key), key), inside,
                              default.group(1) if default else None))
        for sentence in re.findall(r"Ranges: ([^;]*)", prose):
            for key, text in re.findall(r"`(\w+)` ([^`]*?)(?:,\s*(?=`)|$)", sentence):
                found.append(Said(_name(table_of(key), key), text))
    return tuple(found)


def stated_ranges() -> dict[str, tuple[float, float, bool, str]]:
    """Key -> (low, high, more than low, the README's words) for each range stated."""
    ranges = {}
    for s in said():
        table = s.key.split("]")[0].strip("[")
        for pattern, above in RANGES:
            match = pattern.search(s.text)
            if match:
                each = re.search(r"each `(_\w+)` is", s.text)  # "each `_chars` is 0 to ..."
                keys = [_name(table, k) for k in _keys(table) if k.endswith(each.group(1))] \
                    if each else [s.key]
                for key in keys:
                    ranges[key] = (_number(match.group(1)), _number(match.group(2)), above,
                                   match.group(0))
                break
    return ranges


def _shown(rule: Rule) -> str:
    return f"{'more than' if rule.above_low else 'from'} {rule.low} up to {rule.high}"


def test_the_reference_is_found_and_read():
    keys = {s.key for s in said()}
    assert {"[newsletter] name", "[[feeds]] weight", "[smtp] port", "[state] lock_timeout",
            "[collect] max_bytes"} <= keys, sorted(keys)
    assert len(stated_ranges()) >= 20, stated_ranges()


@pytest.mark.parametrize("key", sorted(stated_ranges()))
def test_every_range_the_readme_states_is_the_rules(key: str):
    low, high, above, words = stated_ranges()[key]
    rule = RULES.get(key)
    assert rule is not None and rule.high is not None, (
        f"README states a range for {key} ({words!r}); RULES has none for it")
    assert (low, high, above) == (rule.low, rule.high, rule.above_low), (
        f"{key}: README says {words!r} ({'more than' if above else 'from'} {low:g} up to "
        f"{high:g}); RULES says {_shown(rule)}")


def test_every_ranged_key_has_its_range_in_the_readme():
    ranged = {key: rule for key, rule in RULES.items() if rule.high is not None}
    missing = {key: _shown(rule) for key, rule in ranged.items()
               if key not in stated_ranges()}
    assert not missing, f"README's configuration reference gives no range for: {missing}"
    mentioned = {s.key for s in said()}
    assert set(ranged) <= mentioned, sorted(set(ranged) - mentioned)


def test_every_length_cap_the_readme_states_is_the_rules():
    stated = {}
    for s in said():
        for name, most in MAX_CHARS.findall(s.text):
            stated[s.key] = (int(most.replace(",", "")), bool(name))
    for key, (most, of_name) in stated.items():
        code = MAX_DISPLAY_NAME if of_name else RULES.get(key, Rule()).max_chars
        what = "the name's cap (checks.MAX_DISPLAY_NAME)" if of_name else "RULES max_chars"
        assert most == code, f"{key}: README says at most {most} characters; {what} is {code}"
    capped = {key: rule.max_chars for key, rule in RULES.items() if rule.max_chars}
    missing = {key: most for key, most in capped.items() if stated.get(key, (0, True))[1]}
    assert not missing, f"README gives no 'at most N characters' for: {missing}"


def test_every_longest_duration_the_readme_states_is_the_checks():
    stated = {s.key: int(m.group(1)) for s in said() if (m := LONGEST.search(s.text))}
    code = {f"[schedule] {key}": most // DAY for key, most in DURATION_LIMITS.items()}
    assert stated == code, f"README says at most (days) {stated}; checks.DURATION_LIMITS {code}"


def test_every_key_the_readme_names_exists():
    for s in said():
        table, _, key = s.key.partition(" ")
        table = table.strip("[]")
        assert table in _tables(), f"README names {s.key}: there is no table [{table}]"
        assert key in _keys(table), (
            f"README names {s.key}: [{table}] has no such key; its keys are "
            f"{', '.join(_keys(table))}")
    for table, key in re.findall(r"`\[\[?([\w.]+)\]\]?(?: (\w+))?`", _reference()):
        if table in OLD_TABLES:
            continue
        assert table in _tables(), f"README names [{table}]: there is no such table"
        assert not key or key in _keys(table), f"README names [{table}] {key}: no such key"


def test_each_table_of_keys_lists_every_key():
    for tables, body in _sections():
        rows = {s.key for s in said() if s.row and s.text in body}
        if not rows:
            continue
        table = tables[0]
        keys = {_name(table, k) for k in _keys(table)}
        assert rows == keys, (f"README's table of [{table}]: missing {sorted(keys - rows)}, "
                              f"not in the schema {sorted(rows - keys)}")


def test_every_default_the_readme_gives_is_the_dataclass_default():
    for s in said():
        if s.default is None:
            continue
        table, _, key = s.key.partition(" ")
        f = _keys(table.strip("[]"))[key]
        if f.default is not dataclasses.MISSING:
            # a tuple in the dataclass is a TOML array
            code = list(f.default) if isinstance(f.default, tuple) else f.default
        elif f.default_factory is not dataclasses.MISSING:
            code = f.default_factory()
        else:
            code = dataclasses.MISSING
        if s.default == "required" or code is dataclasses.MISSING:
            assert s.default == "required" and code is dataclasses.MISSING, (
                f"{s.key}: README's default is {s.default!r}; the dataclass "
                f"{'requires it' if code is dataclasses.MISSING else f'default is {code!r}'}")
            continue
        if s.key in DERIVED:
            assert s.default == f"`{DERIVED[s.key]}`" and code == "", (s.key, s.default, code)
            continue
        literal = re.fullmatch(rf"`([^`]+)`|({N})(\.\d+)?", s.default)
        if not literal:  # "all, in order", "the url": said in words
            continue
        value = (tomllib.loads(f"v = {literal.group(1)}")["v"] if literal.group(1)
                 else _number(s.default))
        assert value == code, f"{s.key}: README's default is {value!r}; the dataclass's {code!r}"


def test_every_choice_is_in_the_readme_row_of_its_key():
    rows = {s.key: s.text for s in said() if s.row}
    for key, rule in RULES.items():
        if rule.choices and key.split(" block")[0] in rows:
            text = rows[key.split(" block")[0]]
            missing = [c for c in rule.choices if c and not re.search(rf"\b{c}\b", text)]
            assert not missing, f"{key}: README's row does not name the choices {missing}"


def test_derived_defaults_are_what_the_readme_says():
    config = Config(newsletter=NewsletterConfig(name="<name>"))
    assert f'"{config.sender}"' == DERIVED["[delivery] from"]

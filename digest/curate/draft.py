"""An editor's draft of the next issue: TOML written by `digest draft`, edited by hand,
built by `digest build --draft PATH`.

The draft lists the stories of each block (url, title, summary), in order; an editor
moves entries between blocks, reorders, deletes, rewrites titles and summaries, adds a
subject and a note, or pastes in a candidate from the commented list at the end. The
draft records when it was made: building it considers the articles new at that time
(placed or passed over), and anything collected later stays new for the next issue.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from digest.collect.textclean import BIDI, clean_line, clean_text
from digest.curate.pins import pin_key
from digest.curate.place import STORY_BLOCKS
from digest.errors import ConfigError
from digest.models import Article, CuratedIssue, Decision, StoryBlock
from digest.render.text import note_links

MAX_CANDIDATES = 60  # commented out at the end of a draft, ready to paste in
_ENTRY_KEYS = {"url", "title", "summary"}


@dataclass(frozen=True)
class DraftEntry:
    url: str
    title: str = ""
    summary: str = ""


@dataclass(frozen=True)
class Draft:
    made: datetime
    subject: str
    note: str
    blocks: dict[StoryBlock, tuple[DraftEntry, ...]]


def write_draft(path: Path, issue: CuratedIssue, candidates: Sequence[Article],
                made: datetime, newsletter: str) -> None:
    """Write `issue` as a draft; `candidates` are the stories not placed, best first."""
    lines = [
        f"# Draft of issue #{issue.number} of {newsletter}, made from the articles new at",
        "# `made`. Edit titles and summaries, move entries between blocks, reorder or delete",
        "# them, or paste in a candidate from the end. Then:",
        f"#   digest build --draft {path.name} --preview   (look at it, as often as you like)",
        f"#   digest build --draft {path.name}             (build the issue)",
        f"made = {_string(made.isoformat())}",
        'subject = ""  # empty: the usual subject',
        "# This issue's note above the big story: paragraphs, [words](https://...) links,",
        "# *emphasis*.",
        'note = """',
        '"""',
    ]
    for block, stories in (("big_story", [issue.big_story] if issue.big_story else []),
                           ("need_to_know", list(issue.need_to_know)),
                           ("read_more", list(issue.read_more))):
        for article in stories:
            lines += ["", *_entry(block, article)]
    if candidates:
        lines += ["", f"# Candidates not placed ({min(len(candidates), MAX_CANDIDATES)} "
                  "best shown): uncomment one in a block to use it."]
        for article in candidates[:MAX_CANDIDATES]:
            lines += ["#", *(f"# {line}" for line in _entry("read_more", article))]
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text("\n".join(lines) + "\n", "utf-8")
    temp.replace(path)


def _entry(block: str, article: Article) -> list[str]:
    return [f"[[{block}]]", f"url = {_string(article.url)}", f"title = {_string(article.title)}",
            f"summary = {_string(article.summary)}"]


def _string(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's, for what json.dumps writes)."""
    return json.dumps(text, ensure_ascii=False)


def read_draft(path: Path) -> Draft:
    """Read and check a draft; ConfigError names the file, the entry and what to do."""
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"draft {path} not found; make one with `digest draft`") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"draft {path}: cannot read it: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"draft {path}: not valid TOML: {e}") from None
    except RecursionError:
        raise ConfigError(f"draft {path}: nested too deeply to be a draft") from None
    unknown = set(data) - {"made", "subject", "note", *STORY_BLOCKS}
    if unknown:
        raise ConfigError(f"draft {path}: unknown key {sorted(unknown)[0]!r}; a draft has "
                          "made, subject, note, and [[big_story]], [[need_to_know]], "
                          "[[read_more]] entries")
    made = data.get("made")
    if made is None:
        raise ConfigError(f"draft {path}: `made` is missing; make the draft again with "
                          "`digest draft`")
    if not isinstance(made, datetime) and not isinstance(made, str):
        raise ConfigError(f"draft {path}: made = {made!r} is not a date and time with a zone, "
                          "like \"2026-11-30T08:00:00+00:00\"")
    try:
        when = made if isinstance(made, datetime) else datetime.fromisoformat(made)
    except ValueError:
        raise ConfigError(f"draft {path}: made = {made!r} is not a date and time") from None
    if when.tzinfo is None:
        raise ConfigError(f"draft {path}: made = {made!r} has no time zone")
    blocks = {block: tuple(_entries(path, block, data.get(block, []))) for block in STORY_BLOCKS}
    seen: dict[str, str] = {}
    for block, entries in blocks.items():
        for entry in entries:
            key = pin_key(entry.url)
            if key in seen:
                raise ConfigError(f"draft {path}: {entry.url} is listed twice ({seen[key]} and "
                                  f"{block}); keep one")
            seen[key] = block
    if len(blocks["big_story"]) > 1:
        raise ConfigError(f"draft {path}: {len(blocks['big_story'])} [[big_story]] entries; "
                          "an issue has one big story: move the others to another block")
    note = clean_text(_text(path, data, "note"))
    for target in note_links(note):
        if not re.match(r"(?i)^(https?://\S+|mailto:\S+)$", target):
            raise ConfigError(f"draft {path}: note links to {target!r}; links must be absolute "
                              "http(s) or mailto: addresses")
    subject = _text(path, data, "subject")
    if any(c != " " and not c.isprintable() for c in subject) or BIDI.search(subject) \
            or len(subject) > 200:
        raise ConfigError(f"draft {path}: subject must be one line of at most 200 printable "
                          "characters (no line breaks, tabs, controls or direction overrides)")
    return Draft(when, subject, note, blocks)


def _text(path: Path, data: dict[str, Any], key: str) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise ConfigError(f"draft {path}: {key} must be a string")
    return value.strip()


def _entries(path: Path, block: str, raw: Any) -> list[DraftEntry]:
    if not isinstance(raw, list):
        raise ConfigError(f"draft {path}: {block} must be [[{block}]] entries")
    out = []
    for i, entry in enumerate(raw, 1):
        at = f"draft {path}: [[{block}]] #{i}"
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
            raise ConfigError(f"{at}: needs url = \"https://...\"")
        extra = set(entry) - _ENTRY_KEYS
        if extra:
            raise ConfigError(f"{at}: unknown key {sorted(extra)[0]!r}; an entry has url, "
                              "title and summary")
        if any(not isinstance(entry.get(k, ""), str) for k in ("title", "summary")):
            raise ConfigError(f"{at}: title and summary must be strings")
        # Cleaned as a feed's fields are: one line, nothing XML refuses, no bidi override.
        out.append(DraftEntry(entry["url"].strip(),
                              " ".join(clean_line(entry.get("title", "")).split()),
                              clean_text(entry.get("summary", "")).strip()))
    return out


def curate_from_draft(draft: Draft, path: Path, candidates: Sequence[Article],
                      used: dict[str, int], base: CuratedIssue) -> CuratedIssue:
    """The issue the draft describes. `candidates` are the unused articles, `used` maps a
    URL key of an article already in an issue to that issue's number, and `base` is the
    issue as curated now (its number, date and Coming up are kept). Raises ConfigError
    (exit 2) naming an unknown URL or one already in an issue."""
    by_key: dict[str, Article] = {}
    for article in candidates:
        by_key.setdefault(pin_key(article.url), article)
    placed: dict[str, list[Article]] = {block: [] for block in STORY_BLOCKS}
    for block, entries in draft.blocks.items():
        for entry in entries:
            key = pin_key(entry.url)
            if key in used:
                raise ConfigError(f"draft {path}: {entry.url} is already in issue #{used[key]}; "
                                  "remove it from the draft")
            found = by_key.get(key)
            if found is None:
                raise ConfigError(f"draft {path}: {entry.url} is not a new article of any "
                                  "feed; check the URL, or run `digest collect` first")
            placed[block].append(replace(found, title=entry.title or found.title,
                                         summary=entry.summary or found.summary))
    if not any(placed.values()):
        raise ConfigError(f"draft {path}: no story in any block; put at least one entry "
                          "in [[big_story]], [[need_to_know]] or [[read_more]]")
    decisions: list[Decision] = []
    chosen = set()
    for block in STORY_BLOCKS:
        for i, article in enumerate(placed[block]):
            decisions.append(Decision(article.id, block, i, "placed in the draft"))
            chosen.add(article.id)
    for article in candidates:  # considered when the draft was made, not placed
        if article.id not in chosen and article.first_seen and article.first_seen <= draft.made:
            decisions.append(Decision(article.id, "passed_over", len(decisions),
                                      "not placed in the draft"))
    big = placed["big_story"][0] if placed["big_story"] else None
    return replace(base, big_story=big, need_to_know=tuple(placed["need_to_know"]),
                   read_more=tuple(placed["read_more"]), decisions=tuple(decisions),
                   notes=(), note=draft.note, subject=draft.subject)

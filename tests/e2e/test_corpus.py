"""The hostile-feed corpus (tests/corpus/, made by tests/make_corpus.py) through the front
door: `digest collect`, `digest build --preview` and `digest build`.

Whatever a feed holds, no command crashes (a feed that is not a feed is reported as a
failed feed), the email carries no executable markup, and text from a feed that looks
like a placeholder reaches the reader as it was written, never personalised.

The executable-markup checker and the message reader here are shared with
test_property.py.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lxml.html
import pytest

from digest.config.load import load_config
from digest.models import Article
from digest.state.store import open_readonly
from tests.helpers import (
    CORPUS,
    CORPUS_CONFIG,
    NOW_UTC_ENV,
    TEST_SECRET,
    URL_ATTRS,
    FeedServer,
    Route,
    executable_markup,
    header_problems,
    message_parts,
    personalisation_problems,
    run,
)
from tests.make_corpus import make_cases

pytestmark = pytest.mark.slow  # about 40 s in all; CI runs it (scripts/test selects all)

INDEX: dict[str, dict[str, Any]] = json.loads((CORPUS / "index.json").read_text("utf-8"))
# Entity-expansion bombs: seconds of parsing each, so only the whole-corpus run reads them.
ENTITY_BOMBS = {"xml-billion-laughs.xml", "xml-quadratic-blowup.xml"}


def check_folder(folder: Path) -> None:
    """No executable markup in any HTML the folder holds; nothing personalised by feed
    text in its message."""
    html_part, _ = message_parts((folder / "message.eml").read_bytes())
    for name, html in (("email.html", (folder / "email.html").read_text("utf-8")),
                       ("email.template.html",
                        (folder / "email.template.html").read_text("utf-8")),
                       ("message.eml html part", html_part)):
        assert executable_markup(html) == [], f"{folder.name}/{name}"
    assert personalisation_problems(folder) == [], folder.name
    assert header_problems((folder / "message.eml").read_bytes()) == [], folder.name
    # Every placed headline reaches the reader as the feed wrote it (placeholder
    # look-alikes included): the text part carries each title, wrapped (line breaks
    # anywhere, for CJK) and, past 140 characters, cut with "…" (its first 100
    # non-space characters are always there).
    _, text = message_parts((folder / "message.eml").read_bytes())
    manifest = json.loads((folder / "issue.json").read_text("utf-8"))
    titles = [story["title"] for section in ("big_story", "need_to_know", "read_more")
              for story in manifest["sections"][section]]
    flat = re.sub(r"\s+", "", text)
    missing = [t for t in titles if re.sub(r"\s+", "", t)[:100] not in flat]
    assert titles and missing == [], folder.name


def project(folder: Path, feeds: Iterable[tuple[str, str]], exclude: Iterable[str] = ()) -> Path:
    """A config in `folder` reading `feeds` (url, name); names are the corpus file names.
    `exclude` goes to [editor] exclude."""
    rules = json.dumps(list(exclude))
    lines = [CORPUS_CONFIG.replace("max_age_days = 0\n", f"max_age_days = 0\nexclude = {rules}\n")]
    for url, name in feeds:
        lines += ["[[feeds]]", f"url = {json.dumps(url)}", f"name = {json.dumps(name)}", ""]
    config = folder / "config.toml"
    config.write_text("\n".join(lines), "utf-8")
    return config


def local_feeds(names: Iterable[str]) -> list[tuple[str, str]]:
    return [((CORPUS / name).as_uri(), name) for name in names]


def feed_health(config: Path) -> dict[str, tuple[str, str | None]]:
    """name -> (last status, last error) as `collect` stored it."""
    store = open_readonly(load_config(config).state_path)
    try:
        return {s.name: (s.last_status, s.last_error) for s in store.feed_states().values()}
    finally:
        store.close()


# -- the corpus itself -------------------------------------------------------------------

def test_corpus_is_what_make_corpus_writes():
    files = sorted(p.name for p in CORPUS.iterdir() if p.name not in ("index.json", "README.md"))
    assert files == sorted(INDEX), "run python3 tests/make_corpus.py"
    made = {case.name: case.data for case in make_cases()}
    assert sorted(made) == files
    assert [f for f in files if (CORPUS / f).read_bytes() != made[f]] == [], \
        "edited by hand? run python3 tests/make_corpus.py"
    assert len(files) >= 300
    sizes = [(CORPUS / f).stat().st_size for f in files]
    assert sum(sizes) < 4_000_000 and max(sizes) < 1_100_000
    assert any(s == 0 for s in sizes)  # the empty file is there


# -- every feed at once: collect, preview, build ---------------------------------------------

@dataclass(frozen=True)
class Collected:
    config: Path
    output: str
    health: dict[str, tuple[str, str | None]]  # name -> (status, error)
    stored: dict[str, list[Article]]  # name -> articles stored


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collected]:
    """The whole corpus collected once into one state database."""
    folder = tmp_path_factory.mktemp("whole")
    # The 6,000,000-character title the quadratic blowup expands to is collected and
    # checked (test_feed_collects_as_expected) but left out of curation: near-duplicate
    # matching spends ~40 s on it per build (a finding, see KNOWN).
    config = project(folder, local_feeds(sorted(INDEX)),
                     exclude=["feed:xml-quadratic-blowup.xml"])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DIGEST_SECRET", TEST_SECRET)
        output = run(config, "collect", env=NOW_UTC_ENV, expect=0).output
        store = open_readonly(load_config(config).state_path)
        try:
            stored: dict[str, list[Article]] = {}
            for article in store.unused_articles():
                stored.setdefault(article.feed_name, []).append(article)
        finally:
            store.close()
        yield Collected(config, output, feed_health(config), stored)


# Findings this corpus turned up that are not fixed yet: each case fails as marked.
# (Fixed and so removed: out-of-range dates, feedparser's deprecated date fallback, an
# unknown encoding name, entity expansion into a 6,000,000-character title, items with
# only a description sharing one id.)
KNOWN: dict[str, str] = {}


def _feed_params() -> Iterator[Any]:
    for name in sorted(INDEX):
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN[name])] if name in KNOWN else []
        yield pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", list(_feed_params()))
def test_feed_collects_as_expected(name: str, whole: Collected):
    """ok feeds: status ok and the expected number of articles stored; not-a-feed files:
    a failed feed whose message names it and is not an internal error."""
    meta = INDEX[name]
    status, error = whole.health[name]
    # Nothing stored from a feed is longer than the feed: no entity amplification.
    size = (CORPUS / name).stat().st_size
    assert [len(a.title) for a in whole.stored.get(name, []) if len(a.title) > size] == []
    if status == "error":
        assert name in (error or ""), f"the error does not name the feed: {error}"
    if meta["expect"] == "ok":
        assert (status, len(whole.stored.get(name, []))) == ("ok", meta["entries"]), error
    elif meta["expect"] == "error":
        assert status == "error" and "unexpected" not in (error or ""), error
        assert name not in whole.stored


def test_collect_reports_every_feed(whole: Collected):
    assert sorted(whole.health) == sorted(INDEX)
    failed = sum(1 for status, _ in whole.health.values() if status == "error")
    assert f" from {len(INDEX)} feed(s), {failed} failed" in whole.output


def test_preview_then_build_the_whole_corpus(whole: Collected, monkeypatch):
    config = whole.config
    monkeypatch.chdir(config.parent)
    preview = run(config, "build", "--preview", env=NOW_UTC_ENV, expect=0)
    assert "preview of issue #1 written to" in preview.output
    check_folder(config.parent / "outbox" / "preview")

    built = run(config, "build", env=NOW_UTC_ENV, expect=0)
    assert "issue #1 written to" in built.output
    folders = [p for p in (config.parent / "outbox").iterdir() if p.name != "preview"]
    assert len(folders) == 1
    check_folder(folders[0])
    manifest = json.loads((folders[0] / "issue.json").read_text("utf-8"))
    placed = {d["section"] for d in manifest["decisions"]}
    assert {"big_story", "need_to_know", "read_more", "passed_over"} <= placed

    # Everything was considered and used up: the next build has nothing new.
    again = run(config, "build", env=NOW_UTC_ENV, expect=0)
    assert "nothing new" in again.output


# -- a few dozen feeds at a time, so every article that can be placed is ---------------------

def _entries_estimate(name: str) -> int:
    data = (CORPUS / name).read_bytes()
    return max(1, len(re.findall(rb"<(?:item|entry|ITEM)\b", data)))


def chunks(limit: int = 140) -> list[list[str]]:
    """The corpus (less the bulk feeds and entity bombs, which only the whole-corpus
    build reads) in consecutive runs of at most `limit` entries,
    so one issue with 151 story slots places every article that is not a duplicate or
    without a link."""
    out: list[list[str]] = [[]]
    used = 0
    for name in sorted(INDEX):
        if name.startswith("bulk-") or name in ENTITY_BOMBS:
            continue
        size = _entries_estimate(name)
        if out[-1] and used + size > limit:
            out.append([])
            used = 0
        out[-1].append(name)
        used += size
    return out


CHUNKS = chunks()


@pytest.mark.parametrize("names", CHUNKS, ids=[f"{c[0]}..{c[-1]}" for c in CHUNKS])
def test_chunk_collect_and_preview(names: list[str], tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = project(tmp_path, local_feeds(names))
    run(config, "collect", env=NOW_UTC_ENV, expect=0)
    preview = run(config, "build", "--preview", env=NOW_UTC_ENV, expect=0)
    assert "preview of issue #1 written to" in preview.output
    folder = tmp_path / "outbox" / "preview"
    check_folder(folder)

    manifest = json.loads((folder / "issue.json").read_text("utf-8"))
    unplaced = [d for d in manifest["decisions"]
                if d["section"] not in ("big_story", "need_to_know", "read_more", "duplicate",
                                        "excluded")]
    assert unplaced == [], "every article that can be placed is placed"
    _, text = message_parts((folder / "message.eml").read_bytes())
    flat = re.sub(r"\s+", "", text)  # the text part wraps lines: compare without them
    missing = {name: s for name in names for s in INDEX[name].get("text", [])
               if re.sub(r"\s+", "", s) not in flat}
    assert missing == {}, "text that must reach the reader as written"


# -- over HTTP, with the Content-Types servers really send -----------------------------------

# Where the Content-Type or an http base URL can make a difference; the HTML payloads
# (san-html-*) are read the same way whatever carried them.
OVER_HTTP = ("enc-", "fmt-", "xml-", "ctl-", "link-", "img-", "san-url-", "san-xhtml-",
             "ph-", "date-")

CONTENT_TYPES = [
    "application/rss+xml", "application/atom+xml; charset=utf-8", "text/xml",
    "text/xml; charset=iso-8859-1", "application/xml; charset=shift_jis",
    "text/html; charset=windows-1252", "text/plain", "application/octet-stream",
    "application/json", "text/xml; charset=x-unknown-42", "", "image/png",
]


def test_served_over_http(feed_server: FeedServer, tmp_path: Path, monkeypatch):
    """The small feeds (under 64 KB) over a real HTTP server, each with a Content-Type
    from the list in turn (charset parameters that agree, disagree or make no sense),
    plus gzip bodies with and without a truthful Content-Encoding. The entity bombs
    stay local: they cost seconds of parsing whatever the Content-Type."""
    monkeypatch.chdir(tmp_path)
    names = [n for n in sorted(INDEX) if n.startswith(OVER_HTTP)
             and (CORPUS / n).stat().st_size < 65_536 and n not in ENTITY_BOMBS]
    feeds = []
    for i, name in enumerate(names):
        feed_server.routes[f"/{i}"] = Route((CORPUS / name).read_bytes(),
                                            content_type=CONTENT_TYPES[i % len(CONTENT_TYPES)])
        feeds.append((feed_server.url(f"/{i}"), name))
    body = (CORPUS / "fmt-rss092.xml").read_bytes()
    feed_server.routes["/gzip"] = Route(gzip.compress(body, mtime=0),
                                        headers={"Content-Encoding": "gzip"})
    feed_server.routes["/not-gzip"] = Route(body, headers={"Content-Encoding": "gzip"})
    feed_server.routes["/gzip-undeclared"] = Route(gzip.compress(body, mtime=0))
    feeds += [(feed_server.url("/gzip"), "gzip"), (feed_server.url("/not-gzip"), "not-gzip"),
              (feed_server.url("/gzip-undeclared"), "gzip-undeclared")]
    config = project(tmp_path, feeds)

    run(config, "collect", env=NOW_UTC_ENV, expect=0)
    health = feed_health(config)
    assert health["gzip"][0] == "ok"
    assert health["not-gzip"][0] == "error" and "not-gzip" in (health["not-gzip"][1] or "")
    assert health["gzip-undeclared"][0] == "error"
    assert [n for n in names if INDEX[n]["expect"] == "error" and health[n][0] != "error"] == []
    run(config, "build", "--preview", env=NOW_UTC_ENV, expect=0)
    check_folder(tmp_path / "outbox" / "preview")
    run(config, "build", env=NOW_UTC_ENV, expect=0)
    built = [p for p in (tmp_path / "outbox").iterdir() if p.name != "preview"]
    assert len(built) == 1
    check_folder(built[0])
    for folder in (tmp_path / "outbox" / "preview", built[0]):
        html = (folder / "email.html").read_text("utf-8")
        assert local_urls(html) == [], "a remote feed never points the reader at a file:"


def local_urls(html: str) -> list[str]:
    root = lxml.html.document_fromstring(html.encode("utf-8"))
    return [f"<{el.tag} {name}={value!r}>" for el in root.iter() if isinstance(el.tag, str)
            for name, value in el.attrib.items()
            if name in URL_ATTRS and value.strip().lower().startswith("file:")]


def test_the_checker_sees_what_it_must():
    """The checker itself: each of these must be caught, the template's markup not."""
    for bad in ['<a href="javascript:alert(1)">x</a>', '<img src=" java\tscript:x">',
                '<img src="data:image/png;base64,AA">', "<div onclick=x>",
                '<a href="VBScript:x">', "<script>1</script>", "<iframe src=x>",
                "<object data=x>", "<embed src=x>", "<form action=x>",
                '<meta http-equiv="Refresh" content="0">', '<p style="background:url(data:x)">',
                '<img srcset="https://a/x.jpg 1x, javascript:x 2x">', "<svg onload=x>",
                "<SCRIPT>"]:
        assert executable_markup(f"<html><body>{bad}</body></html>") != [], bad
    for good in ['<a href="https://example.com/?q=javascript">javascript</a>',
                 "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>",
                 '<img src="https://example.com/data:x.jpg" alt="onload=1">']:
        assert executable_markup(f"<html><body>{good}</body></html>") == [], good


def test_no_raw_markup_in_attribute_values(tmp_path: Path, monkeypatch):
    """Alt text from a media:title of `<!--<script>...` kept a raw <script> in a quoted
    attribute (premailer's serializer leaves values starting with '<!--' unescaped);
    picture texts are plain text now."""
    monkeypatch.chdir(tmp_path)
    config = project(tmp_path, local_feeds(["san-html-comment-script.xml"]))
    run(config, "build", "--preview", env=NOW_UTC_ENV, expect=0)
    html = (tmp_path / "outbox" / "preview" / "email.html").read_text("utf-8")
    assert re.findall(r"<script[^>]*>", html, re.I) == []

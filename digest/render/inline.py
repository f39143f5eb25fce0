"""premailer, paid for once: the CSS of the MJML output inlined into its elements.

premailer stays the engine (it matches each rule's selector over the DOM and merges the
declarations into each element's style); what it spent its time on is cssutils, which
parses a declaration list in about 0.5 ms and the issue's style sheets in about
18 ms. Matching the selectors is under 1 ms. Measured on the sample issue
(bench/bench_render.py): of a first render's ~60 ms, ~45 ms was cssutils parsing:

- the style sheets (~18 ms), the same text in every issue of a newsletter;
- each distinct `style` attribute and rule body (~60 of them, ~25 ms), almost all the
  skeleton's, written by MJML from the template's attributes;
- each picture's style once more (~3 ms), only to look for `float` (premailer then sets
  `align`, for Outlook).

What cssutils makes of a text depends on nothing but the text, so each answer is kept:
for the process in a dict (premailer's own cache holds 128 entries, shared with its
compiled selectors, and evicts), and between processes in a JSON file in the cache
folder beside the state (digest.render.caches), which holds only what the last renders
used. A picture's style is parsed only when it can name `float` at all. The output is
byte for byte premailer's own: tests/render/test_inline_css.py runs plain premailer in
a fresh interpreter on the same HTML and compares.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from digest import __version__
from digest.render.caches import make_folder, trusted

# Enough for every distinct text of several issues with their variants; a process that
# renders more (a daemon over months) starts the memo again rather than grow.
MEMO_LIMIT = 4096
MEMO_FORMAT = 1
OPTIONS: dict[str, Any] = dict(
    keep_style_tags=True,
    strip_important=False,
    allow_network=False,
    disable_validation=True,
    remove_classes=False,
    # MJML writes each <img>'s width and height in pixels, which is how Outlook for
    # Windows sizes it; premailer would overwrite them from the inlined CSS
    # (width="100%", height="auto").
    disable_basic_attributes=["width", "height"],
    cssutils_logging_level=logging.CRITICAL,
)

Pairs = list[tuple[str, str]]
Rule = tuple[tuple[int, ...], str, str]  # premailer's (specificity, selector, declarations)


class _Memo:
    """cssutils' answers: declaration text -> (name, value) pairs; (sheet index, sheet
    text) -> premailer's rules. `used` is what this process looked up, all it saves."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.pairs: dict[str, Pairs] = {}
        self.rules: dict[tuple[int, str], list[Rule]] = {}
        self.used_pairs: set[str] = set()
        self.used_rules: set[tuple[int, str]] = set()
        # folder -> the keys its file holds, as last read or written
        self.files: dict[Path, tuple[set[str], set[tuple[int, str]]]] = {}

    def clear(self) -> None:
        self.pairs.clear()
        self.rules.clear()
        self.used_pairs.clear()
        self.used_rules.clear()

    def size(self) -> int:
        return len(self.pairs) + len(self.rules)


_MEMO = _Memo()


def inline_css(html: str, folder: Path | None = None) -> str:
    """premailer's `transform(pretty_print=False)` of `html` with OPTIONS, the same
    bytes. `folder`: where the parsed CSS is kept between processes (None: not kept)."""
    from lxml import etree

    premailer = _premailer()
    memo = _MEMO
    with memo.lock:
        if memo.size() > MEMO_LIMIT:
            memo.clear()
        if folder is not None and folder not in memo.files:
            _load(memo, folder)
        # As premailer parses a string: its own parser, and the doctype written only
        # when the text starts with it as lxml spells it.
        stripped = html.strip()
        tree = etree.fromstring(stripped, etree.HTMLParser()).getroottree()
        page = tree.getroot()
        root = tree if stripped.startswith(tree.docinfo.doctype) else page
        premailer(page, align_floating_images=False, **OPTIONS).transform()
        _align_floating_images(page)
        out: str = etree.tostring(root, method="html", pretty_print=False,
                                  encoding="utf-8").decode("utf-8")
        if folder is not None and _stale(memo, folder):
            _save(memo, folder)
    return out


def _align_floating_images(page: Any) -> None:
    """premailer's `align_floating_images`, parsing only a style that can say `float`
    (cssutils reads a property name's escapes, hence the backslash)."""
    import cssutils

    for item in page.xpath("//img[@style]"):
        style = item.attrib["style"]
        if "float" not in style.lower() and "\\" not in style:
            continue
        image_css = cssutils.parseStyle(style)
        if image_css.float == "right":
            item.attrib["align"] = "right"
        elif image_css.float == "left":
            item.attrib["align"] = "left"


@functools.cache
def _premailer() -> type:
    """premailer's class with its cssutils work kept in the memo, and cssutils' property
    validation off.

    premailer parses every inline style through `cssutils.parseStyle`, which validates
    each property against regular expressions compiled on first use: 0.3 s of a 0.4 s
    first transform, for nothing, since validation only logs (and the log is off) and
    never changes what is written. Turned off once, here, for the whole process."""
    # here, not at the top: cssutils is heavy and only this needs it
    import inspect

    import cssutils
    import premailer.merge_style
    import premailer.premailer
    from premailer import Premailer

    parse_style = cssutils.parseStyle

    def without_validation(css_text: str, encoding: str = "utf-8",
                           validate: bool = True) -> Any:
        return parse_style(css_text, encoding=encoding, validate=False)

    cssutils.parseStyle = without_validation

    # the function under premailer's cache: its 128 entries are left to the selectors
    parse_pairs = inspect.unwrap(premailer.merge_style.csstext_to_pairs)

    def kept_pairs(csstext: str, validate: bool = True) -> Pairs:
        memo = _MEMO
        with memo.lock:
            memo.used_pairs.add(csstext)
            found = memo.pairs.get(csstext)
            if found is None:
                found = memo.pairs[csstext] = parse_pairs(csstext, validate=validate)
            return found

    kept_pairs._lock = premailer.merge_style.csstext_to_pairs._lock  # type: ignore[attr-defined]
    # merge_styles (for each element's style) and transform (for each rule's body) look
    # the function up in their own modules
    premailer.merge_style.csstext_to_pairs = kept_pairs
    premailer.premailer.csstext_to_pairs = kept_pairs  # type: ignore[attr-defined]

    selectors: dict[str, Any] = {}  # selector -> lxml's CSSSelector, a compiled XPath
    make_selector = inspect.unwrap(premailer.premailer._create_cssselector)

    def kept_selector(selector: str) -> Any:
        # premailer's cache would do, but its LFU bookkeeping costs more than the lookup
        found = selectors.get(selector)
        if found is None:
            if len(selectors) > MEMO_LIMIT:
                selectors.clear()
            found = selectors[selector] = make_selector(selector)
        return found

    premailer.premailer._create_cssselector = kept_selector

    class KeptRules(Premailer):  # type: ignore[misc]
        def _parse_style_rules(self, css_body: str, ruleset_index: int
                               ) -> tuple[list[Rule], list[Any]]:
            if not self.keep_style_tags:  # then premailer writes the leftover rules out
                return super()._parse_style_rules(css_body, ruleset_index)
            # With keep_style_tags the <style> keeps its own text and premailer reads no
            # leftover rule (those inside @media, or with a pseudo-class).
            memo, key = _MEMO, (ruleset_index, css_body or "")
            with memo.lock:
                memo.used_rules.add(key)
                found = memo.rules.get(key)
                if found is None:
                    found = memo.rules[key] = super()._parse_style_rules(css_body,
                                                                         ruleset_index)[0]
                return list(found), []

    return KeptRules


# -- between processes ------------------------------------------------------------------

def _file(folder: Path) -> Path:
    """The file for this digest, premailer and cssutils (which carries no version
    number: its serializer's file stands for it)."""
    import cssutils.serialize
    import premailer

    serializer = os.stat(cssutils.serialize.__file__)
    versions = (f"{MEMO_FORMAT}|{__version__}|{premailer.__version__}|"
                f"{cssutils.serialize.__file__}|{serializer.st_size}|{serializer.st_mtime_ns}")
    return folder / f"premailer-{hashlib.sha256(versions.encode()).hexdigest()[:12]}.json"


def _load(memo: _Memo, folder: Path) -> None:
    """Read the kept answers; a file missing, damaged or of another shape is ignored
    (everything is parsed again)."""
    memo.files[folder] = (set(), set())
    if not trusted(folder):
        return
    try:
        data = json.loads(_file(folder).read_bytes())
        pairs = {text: [(str(k), str(v)) for k, v in found]
                 for text, found in data["pairs"].items() if isinstance(text, str)}
        rules = {(int(index), str(text)): [(tuple(int(n) for n in spec), str(sel), str(body))
                                           for spec, sel, body in found]
                 for index, text, found in data["rules"]}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return
    for text, found_pairs in pairs.items():
        memo.pairs.setdefault(text, found_pairs)
    for key, found_rules in rules.items():
        memo.rules.setdefault(key, found_rules)
    memo.files[folder] = (set(pairs), set(rules))


def _stale(memo: _Memo, folder: Path) -> bool:
    """The file lacks something this process used, or holds much more than it uses
    (older issues' texts)."""
    pairs, rules = memo.files[folder]
    used = len(memo.used_pairs) + len(memo.used_rules)
    return (not memo.used_pairs <= pairs or not memo.used_rules <= rules
            or len(pairs) + len(rules) > 2 * used + 64)


def _save(memo: _Memo, folder: Path) -> None:
    """Write what this process used, atomically; skipped when the folder is missing or
    cannot be written (the cache folder's rules: digest.render.caches)."""
    pairs = {t: memo.pairs[t] for t in sorted(memo.used_pairs) if t in memo.pairs}
    rules = [key for key in sorted(memo.used_rules) if key in memo.rules]
    data = {"pairs": pairs, "rules": [[i, text, memo.rules[(i, text)]] for i, text in rules]}
    import tempfile

    if not make_folder(folder):
        return
    path = _file(folder)
    try:
        fd, temp = tempfile.mkstemp(dir=folder, prefix=path.name, suffix=".tmp")
    except OSError:
        return
    try:
        with open(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, separators=(",", ":"))
        os.replace(temp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        return
    memo.files[folder] = (set(pairs), set(rules))

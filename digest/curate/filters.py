"""Which candidates an issue may use at all: a headline and a web link, not excluded, not
paid content, on topic ([editor] require) and in an allowed language."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence

from digest.collect.language import base as base_language
from digest.collect.parse import PAID_LABELS
from digest.config.load import is_web
from digest.config.schema import Config
from digest.curate.pins import pin_key
from digest.curate.rank import (
    matches,
)
from digest.models import (
    UNTITLED,
    Article,
)


def allowed_languages(config: Config) -> frozenset[str]:
    """The languages a story may be in ([editor] languages, else the newsletter's);
    empty when any is allowed."""
    chosen = config.editor.languages or [config.newsletter.language]
    if "*" in chosen:
        return frozenset()
    return frozenset(base_language(lang) for lang in chosen)


def on_topic(article: Article, require: Sequence[str]) -> bool:
    """The story names one of `require` in its title, summary or categories."""
    text = _topic_text(article)
    return any(matches(word, text) for word in require)


def _topic_text(article: Article) -> str:
    return f"{article.title}\n{article.summary}\n{article.category}\n" + "\n".join(article.tags)


def has_headline(title: str) -> bool:
    return bool(title.strip()) and title != UNTITLED


def excluded_by(article: Article, rules: Sequence[str]) -> str | None:
    """The first [editor] exclude rule the story falls under: a URL pattern, a URL (as
    pins compare them), `feed:NAME`, or words matched as `require` matches them (whole
    words, any case, in the title, summary or categories)."""
    text = ""
    for rule in rules:
        if "*" in rule:  # a URL pattern: "*/shopping/*", "https://x.example/live/*"
            if fnmatch.fnmatchcase(article.url.lower(), rule.lower()):
                return rule
        elif is_web(rule):
            if article.url and pin_key(article.url) == pin_key(rule):
                return rule
        elif rule.startswith("feed:"):
            if rule[5:].strip().lower() in (article.feed_name.lower(), article.feed_url.lower()):
                return rule
        else:
            text = text or _topic_text(article)
            if matches(rule, text):
                return rule
    return None


def paid_label(article: Article) -> str:
    """The category or title label ("Sponsored: ...", "[Anzeige] ...") that marks the
    story as paid content, or ""."""
    for tag in (article.category, *article.tags):
        if tag.strip().casefold() in PAID_LABELS:
            return tag.strip()
    head = re.match(r"\s*[\[(]?([^\]):|]{1,30})[\]):|]", article.title)
    if head and head.group(1).strip().casefold() in PAID_LABELS:
        return head.group(1).strip()
    return ""

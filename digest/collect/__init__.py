"""Collect: fetch the feeds (conditional GET, host limits), parse them into Articles, clean
their text.
"""

from __future__ import annotations

from digest.exports import lazy

_EXPORTS = {
    "FeedResult": "digest.collect.feeds",
    "collect_feeds": "digest.collect.feeds",
    "feed_state_after": "digest.collect.feeds",
    "make_client": "digest.collect.feeds",
    "Fetched": "digest.collect.fetch",
    "fetch_linked": "digest.collect.fetch",
    "internal_feed": "digest.collect.fetch",
    "LookupFailures": "digest.collect.hosts",
    "Resolver": "digest.collect.hosts",
    "remembering": "digest.collect.hosts",
    "system_resolve": "digest.collect.hosts",
    "html_text": "digest.collect.htmltext",
    "base": "digest.collect.language",
    "PAID_LABELS": "digest.collect.parse",
    "canonical_url": "digest.collect.parse",
    "html_to_paragraphs": "digest.collect.parse",
    "html_to_text": "digest.collect.parse",
    "sanitize_html": "digest.collect.parse",
    "BIDI": "digest.collect.textclean",
    "clean_line": "digest.collect.textclean",
    "clean_text": "digest.collect.textclean",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy(__name__, _EXPORTS)

"""[editor] pin: the stories an editor placed by URL, found among the candidates however
their links are spelt."""

from __future__ import annotations

import re
from collections.abc import Sequence

from digest.collect.parse import canonical_url
from digest.config.schema import PinConfig
from digest.models import (
    Article,
)

Pins = dict[str, tuple[int, str]]  # article id -> (index in [editor] pin, block asked for)


def pin_key(url: str) -> str:
    """A URL as pins compare it: canonical (host in lower case, no default port, no
    fragment, no utm_*, fbclid, gclid ...), without a trailing slash, and the same over
    http and https (a site's links are copied with either)."""

    try:
        canonical = canonical_url(url)
    except ValueError:
        return url.strip()
    head, _, query = canonical.partition("?")
    head = re.sub(r"^https?://", "", head).rstrip("/")
    host, slash, path = head.partition("/")
    if not host.isascii():  # bücher.example and xn--bcher-kva.example are one host
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            pass
    head = f"{host.rstrip('.')}{slash}{path}"
    return f"{head}?{query}" if query else head


def find_pins(ranked: Sequence[Article], pins: Sequence[PinConfig]) -> Pins:
    """Which candidates the pins name, each with its pin; the first pin naming an
    article wins."""
    if not pins:  # no canonical URL worked out for 50,000 articles for nothing
        return {}
    by_key: dict[str, Article] = {}
    for article in ranked:
        by_key.setdefault(pin_key(article.url), article)
    found: Pins = {}
    for i, pin in enumerate(pins):
        named = by_key.get(pin_key(pin.url))
        if named is not None and named.id not in found:
            found[named.id] = (i, pin.block)
    return found


def unmatched_pins(pins: Sequence[PinConfig], found: Pins) -> tuple[str, ...]:
    used = {i for i, _ in found.values()}
    return tuple(f"[editor] pin[{i}] {pin.url} matches no new article (already in an issue, "
                 "excluded, too old, or not in any feed yet); nothing pinned for it"
                 for i, pin in enumerate(pins) if i not in used)


def unplaced_pins(pins: Sequence[PinConfig], found: Pins, placed: set[str]) -> tuple[str, ...]:
    """Pinned stories the blocks had no room for (more pins than places)."""
    return tuple(f"[editor] pin[{i}] {pins[i].url}: no room left in its block (more pins than "
                 "places); it was passed over"
                 for article_id, (i, _) in sorted(found.items(), key=lambda x: x[1][0])
                 if article_id not in placed)

"""The size budget of an issue's HTML: Gmail clips a message past about 100 KB, and each
reader's copy is larger than the template by their own fields (name, address, unsubscribe
link), measured over the whole list."""

from __future__ import annotations

import re
from collections.abc import Mapping
from email.utils import parseaddr
from html import escape as html_escape

from digest.config.schema import Config
from digest.deliver.recipients import RecipientList, load_recipients
from digest.tokens import load_secret, unsubscribe_link

PERSONAL_ROOM = 300  # bytes assumed for a personal field no reader on the list has


GMAIL_CLIP = 100_000  # bytes of HTML after which Gmail shows "[Message clipped]" (measured)


CLIP_MARGIN = 2_000


def html_budget(config: Config) -> int:
    """Bytes the HTML part may take: [layout] max_html_kb (the default, 95, stays
    CLIP_MARGIN under Gmail's clip; an editor may raise it knowingly)."""
    return config.layout.max_html_kb * 1024


def sent_size(html: str, marker: str, longest: Mapping[str, int]) -> int:
    """The HTML's size as the reader with the longest values gets it: each placeholder
    filled in with as many bytes as that field's longest value (escaped)."""
    pattern = re.compile(rf"%%digest:{re.escape(marker)}:([a-z0-9-]+)%%")
    return len(pattern.sub(lambda m: "x" * longest.get(m.group(1), PERSONAL_ROOM),
                           html).encode())


def personal_sizes(config: Config, listed: RecipientList | None = None) -> dict[str, int]:
    """Bytes of the longest value of each personal field over the whole list (the
    sender's, for a list not written yet), unsubscribe link included, as HTML text.
    `listed` is `load_recipients(config)`, read here when not given."""

    delivery = config.delivery
    readers = (listed or load_recipients(config)).recipients
    emails = [r.email for r in readers] or [parseaddr(config.sender)[1]]
    longest: dict[str, int] = {}
    for reader in readers:
        for field, value in reader.values().items():
            longest[field] = max(longest.get(field, 0), len(html_escape(value).encode()))
    # A token's length follows its address's, so the longest address has the longest.
    email = max(emails, key=lambda e: len(e.encode()))
    url = unsubscribe_link(delivery.unsubscribe_url, delivery.unsubscribe_mailto,
                           load_secret(config), email)
    longest["unsubscribe-url"] = len(html_escape(url).encode())
    return longest

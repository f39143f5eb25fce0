"""A tolerant reader for the dates feeds write, for those feedparser cannot read.

feedparser reads RFC 822 and ISO 8601 dates; content systems also write
`Mon,30 Nov 2026 06:10:00 +0000` (no space after the comma), `29/11/2026 10:30`
(day first), `2026-11-29 18:00` (no zone) and `30 Nov 2026 7:10 GMT`. Those are read
here (digest.collect.parse asks when feedparser gave no parsed date); a date without a zone
is taken as UTC. Every date ends up in UTC (`*_parsed` is UTC).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

_COMMA = re.compile(r"^\s*([A-Za-z]{3,9}),(?=\S)")
_DMY = re.compile(r"^\s*(\d{1,2})[/.](\d{1,2})[/.](\d{4})(?:[ T,]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?"
                  r"\s*(Z|UTC|GMT|[+-]\d{2}:?\d{2})?\s*$", re.I)
_ISO_LOOSE = re.compile(r"^\s*\d{4}-\d{2}-\d{2}[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*"
                        r"(?:Z|[+-]\d{2}:?\d{2})?\s*$")


def read_date(text: str) -> datetime | None:
    """A feed's date string as an aware UTC datetime, or None if it is not a date."""
    text = (text or "").strip()[:80]
    if not text:
        return None
    mended = _COMMA.sub(r"\1, ", text)
    try:
        value = parsedate_to_datetime(mended)
    except (TypeError, ValueError, IndexError):
        value = None
    if value is None and re.fullmatch(r"(?:[A-Za-z]{3,9},\s*)?\d{1,2} [A-Za-z]{3,9} \d{4}", mended):
        try:  # a date without a time: midnight UTC
            value = parsedate_to_datetime(f"{mended} 00:00:00 +0000")
        except (TypeError, ValueError, IndexError):
            value = None
    if value is None:
        value = _iso(mended) or _day_first(mended)
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def _iso(text: str) -> datetime | None:
    if not _ISO_LOOSE.match(text):
        return None
    try:
        return datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        hour = re.sub(r"T(\d):", r"T0\1:", text.strip().replace(" ", "T", 1))
        try:
            return datetime.fromisoformat(hour)
        except ValueError:
            return None


def _day_first(text: str) -> datetime | None:
    """29/11/2026 [10:30]: day first, as everywhere but the US writes it; a first
    number over 12 or a second one at most 12 is read so, anything else refused."""
    match = _DMY.match(text)
    if not match:
        return None
    day, month, year = (int(match.group(i)) for i in (1, 2, 3))
    if month > 12 and day <= 12:
        day, month = month, day
    hour, minute, second = (int(match.group(i) or 0) for i in (4, 5, 6))
    zone = (match.group(7) or "").upper()
    try:
        value = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    if zone and zone not in ("Z", "UTC", "GMT"):
        offset = zone.replace(":", "")
        try:
            return datetime.strptime(f"{value:%Y-%m-%dT%H:%M:%S}{offset}", "%Y-%m-%dT%H:%M:%S%z")
        except ValueError:
            return None
    return value.replace(tzinfo=UTC)

"""The one clock. Every "what time is it" in digest asks here, so `DIGEST_NOW` pins
them all: build dates, collect and delivery stamps, which schedule slot is due, the
times `digest schedule` lists.

    DIGEST_NOW=2026-11-30T08:00:00+08:00   ISO 8601; without an offset it is UTC

`utcnow()` and `now(tz)` return the pinned moment itself, every time, so one build
stamps one instant and its output is reproducible. A process that runs for a while
and waits on real time (the `digest run` daemon, whose APScheduler sleeps on the
system clock) uses a `RunningClock` instead: it starts at the pinned moment and then
advances with real time, so a pinned daemon neither freezes (deciding the same
instant forever) nor waits for a date that the real clock will not reach for a year.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from digest.errors import ConfigError

ENV = "DIGEST_NOW"


def pinned() -> datetime | None:
    """The moment DIGEST_NOW pins, in UTC, or None when it is not set."""
    value = os.environ.get(ENV)
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{ENV}={value!r} is not an ISO 8601 time; write e.g. "
                          "2026-11-30T08:00:00+08:00, or unset it") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def utcnow() -> datetime:
    """The current time in UTC, or the moment DIGEST_NOW pins."""
    return pinned() or datetime.now(UTC)


def now(tz: tzinfo) -> datetime:
    """`utcnow()` in the zone `tz`."""
    return utcnow().astimezone(tz)


@dataclass(frozen=True)
class RunningClock:
    """A clock for a long-running process: DIGEST_NOW (else the real time) when it was
    made, then advancing with real time. `offset` is its lead over the system clock
    (zero unless pinned): `to_real` turns one of its times into the system-clock time
    that a scheduler sleeping on real time must wait for."""

    offset: timedelta

    def now(self, tz: tzinfo) -> datetime:
        return (datetime.now(UTC) + self.offset).astimezone(tz)

    def to_real(self, moment: datetime) -> datetime:
        return moment.astimezone(UTC) - self.offset  # in UTC: no wall-clock arithmetic


def running_clock() -> RunningClock:
    start = pinned()
    return RunningClock(start - datetime.now(UTC) if start else timedelta(0))

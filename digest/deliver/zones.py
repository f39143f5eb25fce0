"""Delivery in the reader's morning: `[schedule] deliver = "local"`.

Each recipient gets an issue at `[schedule] local_time` (e.g. "07:00") in their own time
zone. A recipient's zone is, in this order: the `tz` (or `time_zone`) column of
`[delivery] recipients_file`, the subscriber's `time_zone` (the subscribe form's hidden
field, filled in by the browser, or the import's column), else `[newsletter] timezone`.
Every zone name comes from outside and is checked here (`clean_zone`): an IANA name
zoneinfo knows, at most ZONE_MAX characters; anything else is ignored and the
newsletter's zone applies, never an error.

When a zone's batch is due: for an issue whose slot is S (the scheduled fire time; an
issue built by hand: its build time), the first `local_time` in that zone *at or after*
S. So nobody gets an issue before it exists, and everybody gets it within 24 hours of
it: with a build at 00:00 UTC, Kathmandu (+05:45) has it at 07:00 the same morning
(01:15 UTC), New York at 07:00 its time (11:00 or 12:00 UTC), Shanghai at 07:00 the
next morning (23:00 UTC). Build the issue shortly before the earliest morning you serve.

Computed with zoneinfo, so DST is right: on a changeover day 07:00 is 07:00 on the new
clock. A `local_time` the clocks skip (02:30 in New York on the spring-forward night)
is read with the offset before the jump (PEP 495's fold=0) and so falls at 03:30 on the
new clock, one hour after 01:30, as cron does; a time that happens twice (01:30 on the
fall-back night) is its first occurrence.

A batch is `waiting` before its instant, `due` from it until `[schedule] max_lateness`
after it, and `held` after that: never sent stale. Its rows stay pending in the
delivery log (the issue stays "sending"), each send pass logs a WARNING naming the
zone, the issue and the count, and `digest status` lists them; `digest send N --late`
sends them anyway. The delivery log's exactly-once rules are untouched: this only
chooses which of the owed recipients a send pass takes.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from digest.config.load import parse_duration
from digest.config.schema import Config
from digest.errors import ConfigError
from digest.models import IssueRecord
from digest.state.backend import Connection

if TYPE_CHECKING:
    from digest.state.store import Store

ZONE_MAX = 64  # the longest IANA name is 32 characters
ZONE_COLUMNS = ("tz", "time-zone")  # recipients_file columns (time_zone reads as time-zone)
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+){0,3}")
# Names in the zone database that are not a place's zone: the server's own, a default
_NOT_PLACES = frozenset({"localtime", "posixrules", "Factory"})
_LOCAL_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
LOCAL_TIME_KEY = "[schedule] local_time"
LATENESS_KEY = "[schedule] max_lateness"

BatchState = Literal["waiting", "due", "held"]


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) - _NOT_PLACES


def clean_zone(value: object) -> str:
    """`value` if it is an IANA zone name zoneinfo knows, else "" (the newsletter's zone
    applies). Never raises: the value is a browser's or a file's."""
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > ZONE_MAX or not _ZONE_NAME.fullmatch(text):
        return ""
    return text if text in _known_zones() else ""


def local_time_of(config: Config) -> time:
    match = _LOCAL_TIME.fullmatch(config.schedule.local_time.strip())
    if not match:
        raise ConfigError(f"{LOCAL_TIME_KEY}: {config.schedule.local_time!r} is not a time "
                          "of day; write 24-hour HH:MM, e.g. '07:00'")
    return time(int(match.group(1)), int(match.group(2)))


def max_lateness_of(config: Config) -> timedelta:
    # at most 7 days: digest.config.checks.DURATION_LIMITS
    return timedelta(seconds=parse_duration(config.schedule.max_lateness, LATENESS_KEY))


def check_local_delivery(config: Config) -> None:
    """The local-delivery keys (digest.config.checks calls this)."""
    local_time_of(config)
    max_lateness_of(config)
    if config.schedule.deliver == "local" and config.delivery.mode != "smtp":
        raise ConfigError('[schedule] deliver = "local" sends each reader\'s batch over SMTP '
                          'at their local time: set [delivery] mode = "smtp", or deliver = '
                          '"slot"')


def delivery_instant(start: datetime, zone: ZoneInfo, at: time) -> datetime:
    """The first `at` on the wall clock of `zone` at or after `start`, in UTC."""
    start = start.astimezone(UTC)  # compare in UTC: same-zone comparisons ignore fold
    day = start.astimezone(zone).date()
    for offset in range(3):  # a zone's day can be 23 or 25 hours long
        instant = datetime.combine(day + timedelta(days=offset), at, tzinfo=zone)
        if instant.astimezone(UTC) >= start:
            return instant.astimezone(UTC)
    raise AssertionError("unreachable: a wall-clock time comes round within two days")


def issue_start(issue: IssueRecord, schedule_tz: ZoneInfo) -> datetime:
    """S: the issue's slot (wall-clock time in the schedule's zone), else its build time."""
    if issue.slot:
        return datetime.fromisoformat(issue.slot).replace(tzinfo=schedule_tz).astimezone(UTC)
    built = datetime.fromisoformat(issue.created_at)
    return (built if built.tzinfo else built.replace(tzinfo=UTC)).astimezone(UTC)


@dataclass(frozen=True)
class Batch:
    """The recipients of one issue who share a zone, and when they are due."""

    zone: str
    due_at: datetime  # UTC
    keys: frozenset[str]
    state: BatchState
    late_by: timedelta  # how far `now` is past due_at (zero when waiting)

    def local(self) -> str:
        return self.due_at.astimezone(ZoneInfo(self.zone)).strftime("%Y-%m-%d %H:%M %Z")

    def describe(self, issue: int, lateness: timedelta, late: bool = False) -> str:
        n = len(self.keys)
        if self.state == "held" and late:
            return (f"issue #{issue}: sending {n} reader(s) in {self.zone} late, as asked "
                    f"(--late): due at {self.local()}, {_span(self.late_by)} ago")
        if self.state == "held":
            return (f"issue #{issue}: held {n} reader(s) in {self.zone}: due at "
                    f"{self.local()}, {_span(self.late_by)} ago, more than {LATENESS_KEY} "
                    f"{_span(lateness)}; not sent stale (`digest send {issue} --late` sends "
                    "them anyway)")
        if self.state == "waiting":
            return f"issue #{issue}: {n} reader(s) in {self.zone} due at {self.local()}"
        return f"issue #{issue}: {n} reader(s) in {self.zone} due since {self.local()}"


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return f"{minutes}m"
    return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"


@dataclass(frozen=True)
class ZoneOf:
    """Recipient key -> zone name: the list's column, the subscriber's, the newsletter's."""

    default: str
    subscribers: Mapping[str, str]

    def __call__(self, key: str, fields: Iterable[tuple[str, str]] = ()) -> str:
        for column, value in fields:
            if column in ZONE_COLUMNS and (zone := clean_zone(value)):
                return zone
        return clean_zone(self.subscribers.get(key, "")) or self.default


def zone_of(config: Config, conn: Connection) -> ZoneOf:
    from digest.state.zones import subscriber_zones

    return ZoneOf(config.newsletter.timezone, subscriber_zones(conn))


def plan_batches(config: Config, issue: IssueRecord,
                 recipients: Iterable[tuple[str, str]], now: datetime) -> list[Batch]:
    """(key, zone) pairs of the owed recipients -> one Batch a zone, soonest first."""
    at = local_time_of(config)
    lateness = max_lateness_of(config)
    start = issue_start(issue, config.schedule_tz)
    now = now.astimezone(UTC)
    by_zone: dict[str, set[str]] = {}
    for key, zone in recipients:
        by_zone.setdefault(zone, set()).add(key)
    batches = []
    for zone, keys in by_zone.items():
        due_at = delivery_instant(start, ZoneInfo(zone), at)
        late_by = max(now - due_at, timedelta(0))
        state: BatchState = "waiting" if due_at > now else \
            "held" if late_by > lateness else "due"
        batches.append(Batch(zone, due_at, frozenset(keys), state, late_by))
    return sorted(batches, key=lambda b: (b.due_at, b.zone))


def owed_batches(config: Config, store: Store, issue: IssueRecord,
                 now: datetime) -> list[Batch]:
    """The batches of `issue` still owed: the recipients on the list now, not suppressed,
    with no row yet or a pending or deferred one (what `digest status` and the daemon's
    plan read; the send itself plans from its own job list)."""
    from digest.deliver.recipients import load_recipients
    from digest.state.deliveries import TO_SEND, DeliveryLog

    log = DeliveryLog.of(store)
    suppressed = log.suppressed()
    rows = log.rows(issue.number)
    zone = zone_of(config, store.conn)
    owed = [(r.key, zone(r.key, r.fields)) for r in load_recipients(config).recipients
            if r.key not in suppressed and (r.key not in rows or rows[r.key].state in TO_SEND)]
    return plan_batches(config, issue, owed, now)


def may_be_due(config: Config, issue: IssueRecord, now: datetime) -> bool:
    """A scheduled issue not fully sent whose zones can still be due: every zone's time
    is within a day of the slot. An older one holds only late batches."""
    oldest = now.astimezone(UTC) - timedelta(days=1) - max_lateness_of(config)
    return bool(issue.slot) and issue.state in ("built", "sending") and \
        issue_start(issue, config.schedule_tz) >= oldest


def next_pass(config: Config, now: datetime) -> datetime | None:
    """The next instant a zone's batch of a scheduled issue not fully sent falls due
    (strictly after `now`, the last pass's time), for the daemon to plan a send pass
    at; None if none waits."""
    from digest.state.store import open_readonly

    store = open_readonly(config.state_db)
    try:
        instants = [b.due_at for issue in store.issues() if may_be_due(config, issue, now)
                    for b in owed_batches(config, store, issue, now) if b.state == "waiting"]
    finally:
        store.close()
    return min(instants) if instants else None


__all__ = ["Batch", "BatchState", "ZoneOf", "check_local_delivery", "clean_zone",
           "delivery_instant", "issue_start", "local_time_of", "max_lateness_of", "may_be_due",
           "next_pass", "owed_batches", "plan_batches", "zone_of"]

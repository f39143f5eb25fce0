"""When the jobs run: the issue's crontab trigger (read with cron's meaning by
digest.schedule.crontab), the collect interval, and the slot key that names each scheduled
issue.

An issue's slot key is its scheduled fire time as wall-clock time in the schedule's
time zone, e.g. "2026-11-02T08:00:00". Every way of arriving at one slot (the DST
fall-back hour firing twice, `digest run --once` beside the daemon, a restart) gives
the same key, and the database keeps one issue per key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from digest import clock
from digest.config.load import parse_duration
from digest.config.schema import Config
from digest.schedule.crontab import parse_crontab


@dataclass(frozen=True)
class Schedule:
    """The two jobs: collect on an interval, publish on a cron trigger."""

    collect_every: timedelta
    issue: BaseTrigger
    misfire_grace: timedelta
    tz: ZoneInfo


@dataclass(frozen=True)
class FireTimes:
    collect: list[datetime]
    issue: list[datetime]


def load_schedule(config: Config) -> Schedule:
    tz = config.schedule_tz
    return Schedule(
        collect_every=timedelta(seconds=parse_duration(config.schedule.collect_every,
                                                       "[schedule] collect_every")),
        issue=parse_crontab(config.schedule.issue, tz),
        misfire_grace=timedelta(seconds=parse_duration(config.schedule.misfire_grace,
                                                       "[schedule] misfire_grace")),
        tz=tz,
    )


def slot_key(fire_time: datetime, tz: ZoneInfo) -> str:
    """The wall-clock fire time in the schedule's zone; both 01:30s of a DST fall-back
    night give one key. Going through UTC normalizes a time the spring-forward gap
    skipped (01:30 that never happened becomes the 02:30 it fired at)."""
    local = fire_time.astimezone(UTC).astimezone(tz)
    return local.replace(tzinfo=None).isoformat(timespec="seconds")


def issue_times(schedule: Schedule, after: datetime, n: int) -> list[datetime]:
    """The next n issue fire times at or after `after`, in the schedule's zone."""
    times: list[datetime] = []
    fire = schedule.issue.get_next_fire_time(None, after)
    while fire is not None and len(times) < n:
        times.append(fire.astimezone(UTC).astimezone(schedule.tz))
        fire = schedule.issue.get_next_fire_time(fire, fire)
    return times


def latest_slot(schedule: Schedule, now: datetime, within: timedelta) -> datetime | None:
    """The most recent issue fire time in [now - within, now], or None."""
    latest = None
    fire = schedule.issue.get_next_fire_time(None, now - within)
    while fire is not None and fire <= now:
        latest = fire
        fire = schedule.issue.get_next_fire_time(fire, fire)
    return latest.astimezone(UTC).astimezone(schedule.tz) if latest else None


def collect_times(schedule: Schedule, now: datetime, last: datetime | None,
                  n: int) -> list[datetime]:
    """Next n collect runs: now if one is due, then every `collect_every`."""
    first = now if last is None or collect_due(schedule, now, last) else \
        last + schedule.collect_every
    first = first.astimezone(UTC)  # an interval is elapsed time, not wall-clock time
    return [(first + i * schedule.collect_every).astimezone(schedule.tz) for i in range(n)]


def collect_due(schedule: Schedule, now: datetime, last: datetime | None) -> bool:
    """Due when the last collect is `collect_every` old, less a little slack so an
    hourly cron line that starts a second early doesn't skip an hour."""
    if last is None:
        return True
    slack = min(timedelta(minutes=1), schedule.collect_every / 10)
    return now - last >= schedule.collect_every - slack


def collect_trigger(schedule: Schedule, start: datetime) -> IntervalTrigger:
    return IntervalTrigger(seconds=schedule.collect_every.total_seconds(), start_date=start,
                           timezone=schedule.tz)


def next_fire_times(schedule: Schedule, n: int, now: datetime | None = None,
                    last_collect: datetime | None = None) -> FireTimes:
    """The next n runs of both jobs in the schedule's zone, as `digest schedule` shows;
    from `now`, else the clock (DIGEST_NOW)."""
    now = now.astimezone(schedule.tz) if now else clock.now(schedule.tz)
    return FireTimes(collect_times(schedule, now, last_collect, n),
                     issue_times(schedule, now, n))

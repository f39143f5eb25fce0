"""The `[schedule] issue` crontab line read with cron's meaning, as an APScheduler
trigger.

APScheduler's ``CronTrigger.from_crontab`` numbers weekdays from Monday = 0 and ANDs the
day-of-month and day-of-week fields; cron numbers them from Sunday = 0 (7 is Sunday too)
and ORs the two fields when both are restricted. So the line is parsed here and the
triggers are built field by field:

    "0 8 * * 0"       Sundays at 08:00            (cron: 0 and 7 are Sunday)
    "0 8 * * MON-FRI" weekdays at 08:00
    "0 8 1 * MON"     the 1st of the month *and* every Monday (cron's OR rule)
    "@weekly"         "0 0 * * 0"; also @hourly, @daily, @midnight, @monthly, @yearly
    "*/5 0 8 * * MON" a sixth, leading field gives seconds (for tests and demos)

digest.config.checks checks the line with this module when it loads a config, so this module
imports nothing of digest but its errors, and APScheduler only when a line is parsed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from digest.errors import ConfigError

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

ISSUE_KEY = "[schedule] issue"

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # cron's 0..6
_FIELD = re.compile(r"^(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(\d+))?$", re.IGNORECASE)


def parse_crontab(line: str, tz: ZoneInfo) -> BaseTrigger:
    """A cron line -> an APScheduler trigger that fires when cron would."""
    # here, not at the top: apscheduler is heavy and only this needs it
    from apscheduler.triggers.combining import OrTrigger
    from apscheduler.triggers.cron import CronTrigger

    text = " ".join(line.split())
    expanded = _MACROS.get(text.lower(), text)
    if expanded.startswith("@"):
        raise ConfigError(f"{ISSUE_KEY}: {line!r} is not a crontab line: unknown macro; use one of "
                          f"{', '.join(_MACROS)} or five fields like '0 8 * * MON'")
    fields = expanded.split(" ")
    if len(fields) == 5:
        second, (minute, hour, dom, month, dow) = "0", fields
    elif len(fields) == 6:
        second, minute, hour, dom, month, dow = fields
    else:
        raise ConfigError(
            f"{ISSUE_KEY}: {line!r} is not a crontab line: it has {len(fields)} field(s); write "
            "five: minute hour day-of-month month day-of-week, e.g. '0 8 * * MON'"
        )
    try:
        days = _day_of_week(dow)
        common = dict(second=second, minute=minute, hour=hour, month=month.lower(),
                      timezone=tz)
        # cron: when both day fields are restricted, a day matching either one fires.
        if not dom.startswith("*") and not dow.startswith("*"):
            return OrTrigger([CronTrigger(day=dom, day_of_week="*", **common),
                              CronTrigger(day="*", day_of_week=days, **common)])
        return CronTrigger(day=dom, day_of_week=days, **common)
    except ValueError as e:
        raise ConfigError(f"{ISSUE_KEY}: {line!r} is not a crontab line: {_which(fields, e)}; "
                          "write e.g. '0 8 * * MON' (minute hour day-of-month month "
                          "day-of-week)") from None


def _which(fields: list[str], error: ValueError) -> str:
    """APScheduler's message names the value but not the field; name it."""
    # here, not at the top: apscheduler is heavy and only this needs it
    from apscheduler.triggers.cron import CronTrigger

    names = ["minute", "hour", "day", "month"]
    values = fields[-5:-1]
    for name, value in zip(names, values, strict=True):
        try:
            CronTrigger(**{name: value.lower()})
        except ValueError as e:
            label = {"day": "day-of-month"}.get(name, name)
            return f"{label} {value!r}: {_bare(e)}"
    if len(fields) == 6:
        try:
            CronTrigger(second=fields[0])
        except ValueError as e:
            return f"second {fields[0]!r}: {_bare(e)}"
    return str(error)


def _bare(error: ValueError) -> str:
    return re.sub(r"^(Error validating expression )?'[^']*': ", "", str(error))


def _day_of_week(field: str) -> str:
    """cron's day-of-week field (0 or 7 = Sunday) -> APScheduler's (names, Monday first)."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        match = _FIELD.match(part)
        if not match:
            raise ValueError(f"day-of-week {part!r} is not a day, range or step")
        span, step = match.group(1), int(match.group(2) or 1)
        if step < 1:
            raise ValueError(f"day-of-week {part!r}: the step must be 1 or more")
        if span == "*":
            first, last = 0, 6
        elif "-" in span:
            a, b = span.split("-")
            first, last = _day(a), _day(b)
            if last == 0 and b.isdigit() and int(b) == 7:
                last = 7  # "5-7" is Friday to Sunday
            if first > last:
                raise ValueError(f"day-of-week range {part!r} runs backwards")
        else:
            first = last = _day(span)
            if match.group(2):
                last = 6  # "1/2": from Monday, every other day
        days.update(d % 7 for d in range(first, last + 1, step))
    return ",".join(_CRON_DAYS[d] for d in sorted(days))


def _day(text: str) -> int:
    if text.isdigit():
        if not 0 <= int(text) <= 7:
            raise ValueError(f"day-of-week {text} is out of range (0-7, 0 and 7 are Sunday)")
        return int(text) % 7
    if text.lower() in _CRON_DAYS:
        return _CRON_DAYS.index(text.lower())
    raise ValueError(f"day-of-week {text!r} is not a day; use 0-7 or SUN..SAT")

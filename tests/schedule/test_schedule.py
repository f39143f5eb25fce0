"""Crontab lines read as cron reads them, fire times across DST, slot keys, and
`digest schedule` through the front door."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from digest.config.load import load_config
from digest.errors import ConfigError
from digest.schedule.crontab import parse_crontab
from digest.schedule.slots import (
    collect_due,
    issue_times,
    latest_slot,
    load_schedule,
    next_fire_times,
    slot_key,
)
from tests.helpers import run

LONDON = ZoneInfo("Europe/London")


def fires(line: str, start: datetime, n: int, tz: ZoneInfo = LONDON) -> list[str]:
    trigger = parse_crontab(line, tz)
    out, fire = [], trigger.get_next_fire_time(None, start)
    while len(out) < n:
        out.append(fire.isoformat())
        fire = trigger.get_next_fire_time(fire, fire)
    return out


def with_schedule(write_config, schedule: str) -> Path:
    """A config whose [schedule] table holds `schedule` (the base config has one)."""
    path = write_config()
    text = path.read_text("utf-8").replace("[schedule]\n", "[schedule]\n" + schedule + "\n", 1)
    path.write_text(text, "utf-8")
    return path


SUNDAYS_ACROSS_OCTOBER = [
    "2026-10-18T08:00:00+01:00",
    "2026-10-25T08:00:00+00:00",  # clocks went back at 02:00 BST that morning
    "2026-11-01T08:00:00+00:00",
]


@pytest.mark.parametrize("line", ["0 8 * * 0", "0 8 * * 7", "0 8 * * SUN", "0 8 * * sun",
                                  "0 8 * * 0,7"])
def test_sunday_is_0_and_7_as_in_cron(line: str):
    start = datetime(2026, 10, 12, tzinfo=LONDON)
    assert fires(line, start, 3) == SUNDAYS_ACROSS_OCTOBER


@pytest.mark.parametrize(("line", "weekdays"), [
    ("0 8 * * MON", {"Mon"}),
    ("0 8 * * 1", {"Mon"}),
    ("0 8 * * 1-5", {"Mon", "Tue", "Wed", "Thu", "Fri"}),
    ("0 8 * * MON-FRI", {"Mon", "Tue", "Wed", "Thu", "Fri"}),
    ("0 8 * * 5-7", {"Fri", "Sat", "Sun"}),
    ("0 8 * * 0-2", {"Sun", "Mon", "Tue"}),
    ("0 8 * * */2", {"Sun", "Tue", "Thu", "Sat"}),
    ("0 8 * * 1-5/2", {"Mon", "Wed", "Fri"}),
    ("0 8 * * 6,0", {"Sat", "Sun"}),
])
def test_weekday_fields(line: str, weekdays: set[str]):
    start = datetime(2026, 11, 2, tzinfo=LONDON)
    got = {datetime.fromisoformat(f).strftime("%a") for f in fires(line, start, 14)}
    assert got == weekdays


def test_several_lines():
    start = datetime(2026, 11, 2, 9, 0, tzinfo=LONDON)  # a Monday
    assert fires("0 8 * * MON", start, 2) == ["2026-11-09T08:00:00+00:00",
                                              "2026-11-16T08:00:00+00:00"]
    assert fires("*/20 9 * * *", start, 4) == [
        "2026-11-02T09:00:00+00:00", "2026-11-02T09:20:00+00:00",
        "2026-11-02T09:40:00+00:00", "2026-11-03T09:00:00+00:00"]
    assert fires("0 6 1,15 JAN,jul *", start, 3) == [
        "2027-01-01T06:00:00+00:00", "2027-01-15T06:00:00+00:00", "2027-07-01T06:00:00+01:00"]
    assert fires("@weekly", start, 1) == ["2026-11-08T00:00:00+00:00"]  # Sunday midnight
    assert fires("@daily", start, 1) == ["2026-11-03T00:00:00+00:00"]
    shanghai = ZoneInfo("Asia/Shanghai")
    assert fires("0 8 * * MON", datetime(2026, 11, 2, tzinfo=shanghai), 1, shanghai) == [
        "2026-11-02T08:00:00+08:00"]


def test_day_of_month_and_weekday_are_ored_like_cron():
    start = datetime(2026, 11, 25, tzinfo=LONDON)
    assert fires("0 8 1 * MON", start, 3) == [
        "2026-11-30T08:00:00+00:00",  # a Monday
        "2026-12-01T08:00:00+00:00",  # the 1st, a Tuesday
        "2026-12-07T08:00:00+00:00",  # a Monday
    ]
    # A '*' in either field means cron ANDs them: only Mondays in the first week.
    assert fires("0 8 1-7 * */1", start, 1) == ["2026-12-01T08:00:00+00:00"]


def test_seconds_field_for_tests():
    start = datetime(2026, 11, 2, 9, 0, 0, tzinfo=LONDON)
    assert fires("*/20 * * * * *", start, 3) == [
        "2026-11-02T09:00:00+00:00", "2026-11-02T09:00:20+00:00", "2026-11-02T09:00:40+00:00"]


def test_dst_fall_back_double_fire_has_one_slot_key():
    start = datetime(2026, 10, 25, 0, 0, tzinfo=LONDON)
    first, second = fires("30 1 * * *", start, 2)
    assert (first, second) == ("2026-10-25T01:30:00+01:00", "2026-10-25T01:30:00+00:00")
    keys = {slot_key(datetime.fromisoformat(f), LONDON) for f in (first, second)}
    assert keys == {"2026-10-25T01:30:00"}


def test_dst_spring_forward_fires_once_after_the_gap():
    start = datetime(2026, 3, 28, 12, 0, tzinfo=LONDON)
    fire = parse_crontab("30 1 * * *", LONDON).get_next_fire_time(None, start)
    assert fire.astimezone(ZoneInfo("UTC")).isoformat() == "2026-03-29T01:30:00+00:00"
    assert slot_key(fire, LONDON) == "2026-03-29T02:30:00"  # the wall time it fired at


def test_slot_key_is_wall_time_in_the_schedule_zone():
    moment = datetime(2026, 11, 2, 8, 0, tzinfo=ZoneInfo("UTC"))
    assert slot_key(moment, LONDON) == "2026-11-02T08:00:00"
    assert slot_key(moment, ZoneInfo("Asia/Shanghai")) == "2026-11-02T16:00:00"


def test_latest_slot_within_grace(write_config):
    config = load_config(with_schedule(write_config, 'issue = "0 8 * * MON"\n'
                                       'timezone = "Europe/London"'))
    schedule = load_schedule(config)
    monday = datetime(2026, 11, 2, 8, 0, tzinfo=LONDON)
    assert latest_slot(schedule, monday + timedelta(minutes=59), timedelta(hours=1)) == monday
    assert latest_slot(schedule, monday, timedelta(hours=1)) == monday
    assert latest_slot(schedule, monday + timedelta(minutes=61), timedelta(hours=1)) is None
    assert latest_slot(schedule, monday - timedelta(seconds=1), timedelta(days=8)) == \
        monday - timedelta(days=7)
    assert issue_times(schedule, monday, 2) == [monday, monday + timedelta(days=7)]


def test_collect_due_allows_a_little_slack(write_config):
    schedule = load_schedule(load_config(with_schedule(write_config, 'collect_every = "1h"')))
    last = datetime(2026, 11, 2, 9, 0, 2, tzinfo=LONDON)
    assert collect_due(schedule, last, None)
    assert not collect_due(schedule, last + timedelta(minutes=30), last)
    # cron started the next run two seconds "early" relative to the last collect's end
    assert collect_due(schedule, last + timedelta(minutes=59, seconds=58), last)


@pytest.mark.parametrize(("line", "says"), [
    ("0 8 * * FUNDAY", "day-of-week 'FUNDAY' is not a day; use 0-7 or SUN..SAT"),
    ("0 8 * * 8", "day-of-week 8 is out of range (0-7, 0 and 7 are Sunday)"),
    ("0 8 * * 5-1", "day-of-week range '5-1' runs backwards"),
    ("0 25 * * *", "hour '25': the last value (25) is higher than the maximum value (23)"),
    ("0 8 32 * *", "day-of-month '32'"),
    ("0 8 * FOO *", "month 'FOO'"),
    ("0 8 * *", "it has 4 field(s); write five"),
    ("@reboot", "unknown macro"),
])
def test_bad_crontab_lines_name_the_key(write_config, line: str, says: str):
    with pytest.raises(ConfigError) as e:
        load_config(with_schedule(write_config, f'issue = "{line}"'))
    message = str(e.value)
    assert message.startswith(f"[schedule] issue: {line!r} is not a crontab line: ")
    assert says in message


def test_bad_durations_name_the_key(write_config):
    with pytest.raises(ConfigError, match=r"^\[schedule\] misfire_grace: 'soon' is not a"):
        load_config(with_schedule(write_config, 'misfire_grace = "soon"'))


def test_digest_schedule_lists_sundays_across_october(write_config):
    config = with_schedule(write_config, 'issue = "0 8 * * 0"\ntimezone = "Europe/London"')
    result = run(config, "schedule", "-n", "4", env={"DIGEST_NOW": "2026-10-12T12:00:00+01:00"})
    assert result.exit_code == 0, result.output
    assert result.output == (
        "issue '0 8 * * 0' in Europe/London (misfire grace 1h):\n"
        "  Sun 2026-10-18 08:00:00 BST\n"
        "  Sun 2026-10-25 08:00:00 GMT\n"
        "  Sun 2026-11-01 08:00:00 GMT\n"
        "  Sun 2026-11-08 08:00:00 GMT\n"
        "collect every 1h:\n"
        "  Mon 2026-10-12 12:00:00 BST\n"
        "  Mon 2026-10-12 13:00:00 BST\n"
        "  Mon 2026-10-12 14:00:00 BST\n"
        "  Mon 2026-10-12 15:00:00 BST\n"
    )


def test_digest_schedule_defaults_to_the_newsletter_zone(write_config):
    config = with_schedule(write_config, 'issue = "0 8 * * MON"')
    result = run(config, "schedule", "-n", "1", env={"DIGEST_NOW": "2026-11-01T00:00:00+08:00"})
    assert result.exit_code == 0, result.output
    assert "issue '0 8 * * MON' in Asia/Shanghai" in result.output
    assert "  Mon 2026-11-02 08:00:00 CST\n" in result.output


def test_digest_schedule_reports_a_bad_line(write_config):
    config = with_schedule(write_config, 'issue = "0 8 * * FUNDAY"')
    result = run(config, "schedule")
    assert result.exit_code == 2
    assert "[schedule] issue: '0 8 * * FUNDAY' is not a crontab line" in result.output


def test_next_fire_times_start_from_the_pinned_clock(write_config, monkeypatch):
    config = load_config(with_schedule(write_config, 'issue = "0 8 * * MON"\n'
                                                     'timezone = "Europe/London"'))
    monkeypatch.setenv("DIGEST_NOW", "2026-11-09T08:00:01+00:00")
    times = next_fire_times(load_schedule(config), 2)
    assert [t.isoformat() for t in times.issue] == ["2026-11-16T08:00:00+00:00",
                                                    "2026-11-23T08:00:00+00:00"]
    assert times.collect[0].isoformat() == "2026-11-09T08:00:01+00:00"


def test_digest_schedule_lists_times_after_the_pinned_moment(write_config):
    config = with_schedule(write_config, 'issue = "*/20 * * * *"\ntimezone = "UTC"')
    result = run(config, "schedule", "-n", "2", env={"DIGEST_NOW": "2031-02-03T04:05:06Z"})
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:3] == ["  Mon 2031-02-03 04:20:00 UTC",
                                               "  Mon 2031-02-03 04:40:00 UTC"]


def test_a_bad_digest_now_is_a_config_error_naming_it(write_config):
    config = with_schedule(write_config, "")
    result = run(config, "schedule", env={"DIGEST_NOW": "next tuesday"})
    assert result.exit_code == 2, result.output
    assert "DIGEST_NOW='next tuesday' is not an ISO 8601 time" in result.output


def test_importing_config_imports_neither_schedule_nor_apscheduler():
    """config checks the crontab line through digest.schedule.crontab, which needs neither
    digest.schedule.slots nor, until a line is parsed, APScheduler (no config <-> schedule
    cycle)."""
    code = ("import sys, digest.config.load, digest.schedule.crontab\n"
            "print(sorted(m for m in sys.modules if m == 'digest.schedule.slots'"
            " or m.startswith('apscheduler')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"

"""digest.deliver.zones: which zone names count, when a zone's batch is due (DST: a
changeover morning, a local time inside the spring-forward gap, one that happens twice),
and the `[schedule] deliver/local_time/max_lateness` keys' errors."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from digest.config.load import load_config
from digest.deliver.zones import clean_zone, delivery_instant, plan_batches
from digest.models import IssueRecord
from tests.helpers import config_with, error_line, run

NEW_YORK = ZoneInfo("America/New_York")
SEVEN = time(7, 0)


@pytest.mark.parametrize("name", ["Asia/Kathmandu", "America/Argentina/Buenos_Aires", "UTC",
                                  "Etc/GMT+5", " Europe/London "])
def test_a_known_iana_name_counts(name: str) -> None:
    assert clean_zone(name) == name.strip()


@pytest.mark.parametrize("name", ["", "Mars/Olympus", "../../etc/passwd", "/etc/localtime",
                                  "localtime", "posixrules", "Factory", "Europe/\nLondon",
                                  "Europe/" + "x" * 100, "Asia/Kathmandu\x00", "asia/kathmandu",
                                  "Europe/London/../Paris", "Europe\\London", 42, None])
def test_anything_else_is_ignored_without_an_error(name: object) -> None:
    assert clean_zone(name) == ""


def test_the_first_local_time_at_or_after_the_slot() -> None:
    slot = datetime(2027, 3, 14, tzinfo=UTC)
    kathmandu = delivery_instant(slot, ZoneInfo("Asia/Kathmandu"), SEVEN)
    assert kathmandu == datetime(2027, 3, 14, 1, 15, tzinfo=UTC)  # +05:45
    # Shanghai's 07:00 on the 14th was before the slot: the next morning's.
    assert delivery_instant(slot, ZoneInfo("Asia/Shanghai"), SEVEN) == \
        datetime(2027, 3, 14, 23, 0, tzinfo=UTC)
    # A slot exactly at someone's 07:00 is that 07:00.
    assert delivery_instant(kathmandu, ZoneInfo("Asia/Kathmandu"), SEVEN) == kathmandu


def test_the_morning_the_clocks_go_forward_0700_is_on_the_new_clock() -> None:
    slot = datetime(2027, 3, 14, tzinfo=UTC)  # 19:00 EST on the 13th
    due = delivery_instant(slot, NEW_YORK, SEVEN)
    assert due == datetime(2027, 3, 14, 11, 0, tzinfo=UTC)  # 07:00 EDT, not 12:00 UTC
    assert due.astimezone(NEW_YORK).strftime("%H:%M %Z") == "07:00 EDT"


def test_a_local_time_inside_the_spring_forward_gap_falls_an_hour_later() -> None:
    """02:30 never happens in New York on 14 March 2027 (02:00 EST -> 03:00 EDT): read
    with the offset before the jump (fold=0), it is 07:30 UTC, 03:30 on the new clock."""
    due = delivery_instant(datetime(2027, 3, 14, tzinfo=UTC), NEW_YORK, time(2, 30))
    assert due == datetime(2027, 3, 14, 7, 30, tzinfo=UTC)
    assert due.astimezone(NEW_YORK).strftime("%H:%M %Z") == "03:30 EDT"
    # The next day's 02:30 exists again: exactly 23 hours later.
    later = delivery_instant(due + timedelta(minutes=1), NEW_YORK, time(2, 30))
    assert later - due == timedelta(hours=23)


def test_a_local_time_that_happens_twice_is_its_first() -> None:
    """01:30 happens twice in New York on 7 November 2027 (EDT, then EST)."""
    due = delivery_instant(datetime(2027, 11, 7, tzinfo=UTC), NEW_YORK, time(1, 30))
    assert due == datetime(2027, 11, 7, 5, 30, tzinfo=UTC)  # 01:30 EDT
    assert due.astimezone(NEW_YORK).strftime("%H:%M %Z") == "01:30 EDT"


def test_batches_wait_fall_due_and_are_held_past_max_lateness(tmp_path: Path) -> None:
    config = load_config(_local_config(tmp_path, 'max_lateness = "30m"'))
    issue = IssueRecord(1, "2027-03-14T00:00:00", "2027-03-14", "s", "x", "sending",
                        "2027-03-14T00:00:01+00:00")
    owed = [("a@x.net", "Asia/Kathmandu"), ("b@x.net", "Europe/London"),
            ("c@x.net", "Europe/London"), ("d@x.net", "America/New_York")]
    now = datetime(2027, 3, 14, 7, 20, tzinfo=UTC)
    batches = {b.zone: b for b in plan_batches(config, issue, owed, now)}
    assert {z: (b.state, len(b.keys)) for z, b in batches.items()} == {
        "Asia/Kathmandu": ("held", 1), "Europe/London": ("due", 2),
        "America/New_York": ("waiting", 1)}
    assert batches["Asia/Kathmandu"].late_by == timedelta(hours=6, minutes=5)
    assert batches["Asia/Kathmandu"].describe(1, timedelta(minutes=30)) == (
        "issue #1: held 1 reader(s) in Asia/Kathmandu: due at 2027-03-14 07:00 +0545, "
        "6h05m ago, more than [schedule] max_lateness 30m; not sent stale (`digest send 1 "
        "--late` sends them anyway)")


def _local_config(folder: Path, extra: str = "", mode: str = "smtp") -> Path:
    path = config_with(folder, None, extra="")
    text = path.read_text("utf-8").replace(
        'recipients = ["editor@example.com"]', f'recipients = ["editor@example.com"]\n'
        f'mode = "{mode}"')
    path.write_text(text.replace("[schedule]\n", '[schedule]\ndeliver = "local"\n'
                                 'timezone = "UTC"\n' + extra + "\n", 1), "utf-8")
    return path


@pytest.mark.parametrize(("extra", "mode", "expect"), [
    ('local_time = "7am"', "smtp",
     "error: [schedule] local_time: '7am' is not a time of day; write 24-hour HH:MM, e.g. "
     "'07:00'"),
    ('local_time = "24:00"', "smtp", "error: [schedule] local_time: '24:00' is not a time"),
    ('max_lateness = "8d"', "smtp", "error: [schedule] max_lateness: at most 7 days"),
    ('max_lateness = "soon"', "smtp", "error: [schedule] max_lateness: 'soon' is not a "
     "duration"),
    ("", "outbox", 'error: [schedule] deliver = "local" sends each reader\'s batch over SMTP'),
])
def test_bad_local_delivery_keys_are_one_line(tmp_path: Path, extra: str, mode: str,
                                              expect: str) -> None:
    config = _local_config(tmp_path, extra, mode)
    assert error_line(run(config, "check", expect=2)).startswith(expect)


def test_an_unknown_deliver_value_names_the_choices(tmp_path: Path) -> None:
    config = _local_config(tmp_path).read_text("utf-8").replace('deliver = "local"',
                                                                  'deliver = "tomorrow"')
    (tmp_path / "config.toml").write_text(config, "utf-8")
    line = error_line(run(tmp_path / "config.toml", "check", expect=2))
    assert line.startswith("error: [schedule] deliver: 'tomorrow'"), line
    assert '"local"' in line, line

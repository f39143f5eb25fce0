"""`[schedule] deliver = "local"`: each reader gets the issue at 07:00 in their own time
zone. `digest run --once` (cron) with DIGEST_NOW stepping through a day, and the daemon
as a real subprocess stopped for six hours, both against a real aiosmtpd server."""

from __future__ import annotations

import re
import signal
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.helpers import Digest, run, set_schedule
from tests.smtp_server import Recorder, SmtpServer

# 14 March 2027: clocks in the United States go forward at 02:00 (EST -> EDT).
DAY = datetime(2027, 3, 14, tzinfo=UTC)
# address -> the zone its 07:00 is in. The list's `tz` column gives the first four, an
# unknown name and an empty cell fall back to the newsletter's zone (Asia/Shanghai).
READERS = {
    "kathmandu@example.net": "Asia/Kathmandu",  # +05:45
    "newyork@example.net": "America/New_York",  # the DST change, that morning
    "london@example.net": "Europe/London",
    "losangeles@example.net": "America/Los_Angeles",  # the DST change too
    "mars@example.net": "Asia/Shanghai",  # its tz cell is "Mars/Olympus"
    "nozone@example.net": "Asia/Shanghai",
}
CELLS = {"mars@example.net": "Mars/Olympus", "nozone@example.net": ""}


def local_project(config: Path, port: int, readers: dict[str, str], extra: str = "") -> Path:
    rows = "".join(f"{a},{CELLS.get(a, z)}\n" for a, z in readers.items())
    (config.parent / "readers.csv").write_text("email,tz\n" + rows, "utf-8")
    text = config.read_text("utf-8").replace(
        'recipients = ["editor@example.com"]', 'mode = "smtp"\nrecipients_file = "readers.csv"')
    config.write_text(text + f'\n[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
                      "connections = 1\ntimeout = 10\n", "utf-8")
    return set_schedule(config, 'collect_every = "7d"\nissue = "0 0 * * *"\n'
                                'timezone = "UTC"\nmisfire_grace = "2h"\n'
                                'deliver = "local"\n' + extra)


def delivered(config: Path) -> dict[str, str]:
    with sqlite3.connect(config.parent / ".digest" / "state.db") as conn:
        return dict(conn.execute("SELECT email, updated_at FROM deliveries WHERE "
                                 "issue_number = 1 AND state = 'delivered'"))


def test_stepping_through_a_day_each_reader_gets_the_issue_in_their_0700_hour(
        sample_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with SmtpServer(Recorder(keep_content=False)) as smtp:
        config = local_project(sample_project, smtp.port, READERS,
                               'local_time = "07:00"\nmax_lateness = "1h"')
        sent_at: dict[str, datetime] = {}
        step = DAY
        while step <= DAY + timedelta(days=1):
            result = run(config, "run", "--once", now=step.isoformat(), expect=0)
            for address in set(delivered(config)) - set(sent_at):
                sent_at[address] = step
            if step == DAY:
                assert "issue: slot 2027-03-14T00:00:00: built issue #1" in result.output
                assert "6 waiting for their local time" in result.output, result.output
            step += timedelta(minutes=30)
        assert dict(smtp.handler.counts) == {a: 1 for a in READERS}  # each once
        for address, zone in READERS.items():
            local = sent_at[address].astimezone(ZoneInfo(zone))
            assert (local.date(), local.hour) == (datetime(2027, 3, 14).date()
                                                  if zone != "Asia/Shanghai"
                                                  else datetime(2027, 3, 15).date(), 7), \
                (address, local)
        # New York's 07:00 that morning is EDT: 11:00 UTC, not the 12:00 of winter time.
        assert sent_at["newyork@example.net"] == DAY + timedelta(hours=11)
        assert sent_at["losangeles@example.net"] == DAY + timedelta(hours=14)
        assert sent_at["kathmandu@example.net"] == DAY + timedelta(hours=1, minutes=30)
        status = run(config, "status", "1", now=(DAY + timedelta(days=1)).isoformat(), expect=0)
        assert "issue #1" in status.output and ": sent" in status.output, status.output


def test_a_daemon_stopped_for_six_hours_holds_the_late_batches_and_names_them(
        sample_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readers = {"kathmandu@example.net": "Asia/Kathmandu",  # 07:00 = 01:15 UTC
               "kolkata@example.net": "Asia/Kolkata",  # 01:30 UTC
               "dubai@example.net": "Asia/Dubai",  # 03:00 UTC
               "lagos@example.net": "Africa/Lagos",  # 06:00 UTC
               "london@example.net": "Europe/London",  # 07:00 UTC
               "newyork@example.net": "America/New_York"}  # 11:00 UTC
    with SmtpServer(Recorder(keep_content=False)) as smtp:
        config = local_project(sample_project, smtp.port, readers, 'max_lateness = "1h"')  # 07:00
        # The daemon starts at 01:14:50: the 00:00 slot is within the grace, so it is
        # built at once, and the pass at Kathmandu's 07:00 is planned.
        first = Digest(config, "run", now="2027-03-14T01:14:50+00:00")
        try:
            first.wait_for(lambda ls: any("built issue #1" in line for line in ls), 60)
            first.wait_for(lambda ls: smtp.handler.total >= 1, 30)
        finally:
            first.proc.send_signal(signal.SIGTERM)
        assert first.finish() == 0, first.log
        assert dict(smtp.handler.counts) == {"kathmandu@example.net": 1}, first.log
        assert "local-send: next pass at 2027-03-14 01:15:00 UTC" in first.log \
            or "1 delivered" in first.log, first.log

        # Stopped for almost six hours: started again at 06:59:45, Kolkata's (01:30) and
        # Dubai's (03:00) batches are more than an hour late: held and named, never sent.
        # Lagos' (06:00) is 59 minutes late: sent at once. London's is planned for 07:00.
        second = Digest(config, "run", now="2027-03-14T06:59:45+00:00")
        try:
            second.wait_for(lambda ls: smtp.handler.counts["london@example.net"] == 1, 60)
        finally:
            second.proc.send_signal(signal.SIGTERM)
        assert second.finish() == 0, second.log
    assert dict(smtp.handler.counts) == {"kathmandu@example.net": 1, "lagos@example.net": 1,
                                         "london@example.net": 1}, second.log
    log = second.log
    assert re.search(r"WARNING digest\.deliver\.smtp issue #1: held 1 reader\(s\) in "
                     r"Asia/Kolkata: due at 2027-03-14 07:00 IST, 5h(29|30)m ago, more than "
                     r"\[schedule\] max_lateness 1h; not sent stale", log), log
    assert re.search(r"held 1 reader\(s\) in Asia/Dubai: due at 2027-03-14 07:00 \+04, "
                     r"(3h59m|4h) ago", log), log
    assert "local-send: next pass at 2027-03-14 07:00:00 UTC" in log, log
    rows = dict(sqlite3.connect(config.parent / ".digest" / "state.db").execute(
        "SELECT email, state FROM deliveries WHERE issue_number = 1"))
    assert rows == {"kathmandu@example.net": "delivered", "lagos@example.net": "delivered",
                    "london@example.net": "delivered", "kolkata@example.net": "pending",
                    "dubai@example.net": "pending", "newyork@example.net": "pending"}
    status = run(config, "status", now="2027-03-14T07:30:00+00:00", expect=0)
    assert "held 1 reader(s) in Asia/Kolkata" in status.output, status.output
    assert "held 1 reader(s) in Asia/Dubai" in status.output, status.output
    assert "1 reader(s) in America/New_York due at 2027-03-14 07:00 EDT" in status.output


def test_a_local_time_inside_the_spring_forward_gap_goes_out_an_hour_later(
        sample_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """02:30 does not exist in New York on 14 March 2027 (02:00 EST -> 03:00 EDT): the
    batch goes out at 03:30 EDT (07:30 UTC), once."""
    with SmtpServer(Recorder(keep_content=False)) as smtp:
        config = local_project(sample_project, smtp.port,
                               {"newyork@example.net": "America/New_York"},
                               'local_time = "02:30"\nmax_lateness = "1h"')
        run(config, "run", "--once", now="2027-03-14T00:00:00+00:00", expect=0)
        before = run(config, "run", "--once", now="2027-03-14T07:29:00+00:00", expect=0)
        assert "1 waiting for their local time" in before.output, before.output
        assert smtp.handler.total == 0
        status = run(config, "status", now="2027-03-14T07:29:00+00:00", expect=0)
        assert "1 reader(s) in America/New_York due at 2027-03-14 03:30 EDT" in status.output
        at = run(config, "run", "--once", now="2027-03-14T07:30:00+00:00", expect=0)
        assert "send: sent issue #1: 1 delivered" in at.output, at.output
        run(config, "run", "--once", now="2027-03-14T07:45:00+00:00", expect=0)
    assert dict(smtp.handler.counts) == {"newyork@example.net": 1}


def test_a_held_batch_stays_pending_until_send_late_sends_it_once(
        sample_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with SmtpServer(Recorder(keep_content=False)) as smtp:
        config = local_project(sample_project, smtp.port,
                               {"kathmandu@example.net": "Asia/Kathmandu",
                                "newyork@example.net": "America/New_York"},
                               'max_lateness = "30m"')
        run(config, "run", "--once", now="2027-03-14T00:00:00+00:00", expect=0)
        late = run(config, "run", "--once", now="2027-03-14T02:00:00+00:00", expect=0)
        assert ("issue #1: held 1 reader(s) in Asia/Kathmandu: due at 2027-03-14 07:00 "
                "+0545, 45m ago, more than [schedule] max_lateness 30m") in late.output
        assert "1 held (too late in 1 zone(s))" in late.output, late.output
        assert smtp.handler.total == 0
        sent = run(config, "send", "1", "--late", now="2027-03-14T02:05:00+00:00", expect=0)
        assert "sending 1 reader(s) in Asia/Kathmandu late, as asked (--late)" in sent.output
        assert "issue #1: 1 delivered" in sent.output and "1 waiting" in sent.output
        run(config, "send", "1", "--late", now="2027-03-14T02:10:00+00:00", expect=0)
        assert dict(smtp.handler.counts) == {"kathmandu@example.net": 1}
        run(config, "run", "--once", now="2027-03-14T11:00:00+00:00", expect=0)
    assert dict(smtp.handler.counts) == {"kathmandu@example.net": 1, "newyork@example.net": 1}


def test_a_subscribers_own_zone_decides_and_the_list_column_comes_first(
        sample_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The zone a subscriber has (the form's field, the import's column) decides their
    batch; for an address also on the recipients file, the file's `tz` column wins."""
    with SmtpServer(Recorder(keep_content=False)) as smtp:
        config = local_project(sample_project, smtp.port,
                               {"both@example.net": "Europe/London"}, 'max_lateness = "1h"')
        people = sample_project.parent / "people.csv"
        people.write_text("email,time_zone\nkath@example.net,Asia/Kathmandu\n"
                          "both@example.net,Asia/Kathmandu\nplain@example.net,\n", "utf-8")
        run(config, "subscribers", "import", str(people), expect=0)
        run(config, "run", "--once", now="2027-03-14T00:00:00+00:00", expect=0)
        assert smtp.handler.total == 0
        run(config, "run", "--once", now="2027-03-14T01:15:00+00:00", expect=0)
        assert dict(smtp.handler.counts) == {"kath@example.net": 1}
        run(config, "run", "--once", now="2027-03-14T07:00:00+00:00", expect=0)
        assert dict(smtp.handler.counts) == {"kath@example.net": 1, "both@example.net": 1}
        # No zone: the newsletter's (Asia/Shanghai), 07:00 there is 23:00 UTC.
        run(config, "run", "--once", now="2027-03-14T22:59:00+00:00", expect=0)
        assert "plain@example.net" not in smtp.handler.counts
        run(config, "run", "--once", now="2027-03-14T23:00:00+00:00", expect=0)
    assert dict(smtp.handler.counts) == {"kath@example.net": 1, "both@example.net": 1,
                                         "plain@example.net": 1}

"""`digest run` through the front door: as a real subprocess on a seconds-apart
schedule, `--once` with a pinned clock, and two processes contending for the lock."""

from __future__ import annotations

import re
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from digest.clock import RunningClock
from digest.config.load import load_config
from digest.schedule.crontab import parse_crontab
from digest.schedule.daemon import OnRealTime, run_issue
from digest.schedule.slots import load_schedule
from tests.helpers import Digest, FeedServer, Route, issues, rss, run, set_schedule

LONDON = ZoneInfo("Europe/London")


def count(lines: list[str], pattern: str) -> int:
    return sum(1 for line in lines if re.search(pattern, line))


def test_daemon_collects_builds_once_and_stops_on_sigterm(sample_project: Path):
    config = set_schedule(sample_project, 'collect_every = "2s"\n'
                                          'issue = "*/3 * * * * *"\n'
                                          'misfire_grace = "1h"')
    daemon = Digest(config, "run")
    try:
        # Start: the slot of the last 3 s is within the grace and unbuilt, so it is built.
        daemon.wait_for(lambda ls: count(ls, r"INFO digest.run issue: slot .*: built issue #1") == 1)
        second = Digest(config, "run")  # one daemon per state database
        assert second.finish() == 1
        assert "`digest run` is already running" in second.log
        assert f"pid {daemon.proc.pid}" in second.log
        # Later slots find nothing new; collects keep their 2 s rhythm.
        daemon.wait_for(lambda ls: count(ls, r"INFO digest.run collect: ") >= 3
                        and count(ls, r"INFO digest.run issue: slot .*nothing new") >= 2)
    finally:
        daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.finish() == 0, daemon.log
    lines = daemon.lines
    # A collect may be running when the signal comes: "letting a running job finish"
    # then comes between the two.
    stop = next(i for i, line in enumerate(lines) if "SIGTERM received" in line)
    assert len(lines) - stop <= 4 and lines[-1].endswith("INFO digest.run stopped"), lines[stop:]
    assert count(lines, r"built issue") == 1
    for line in lines:
        if " INFO digest.run collect: " in line:
            assert re.search(r"collect: 0 new article\(s\) from 5 feed\(s\); took \d+\.\ds; "
                             r"next collect at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d CST$", line), line
    # The interval, not a burst of catch-up runs: each collect plans the next one 2 s (or,
    # when a run under load outlasted the interval, a multiple of 2 s) after the last plan,
    # and no two collects end in one second. (Line times have whole seconds: a collect's own
    # length moves them, the plans do not.)
    collect_lines = [line for line in lines if " INFO digest.run collect: " in line]
    plans = [datetime.fromisoformat(re.search(r"next collect at (\S+ \S+)", line)[1])  # type: ignore[index]
             for line in collect_lines]
    plan_gaps = [(b - a).total_seconds() for a, b in zip(plans, plans[1:], strict=False)]
    assert all(g >= 2 and g % 2 == 0 for g in plan_gaps), (plan_gaps, lines)
    ends = [datetime.fromisoformat(line.split(" ", 1)[0]) for line in collect_lines]
    assert all(a < b for a, b in zip(ends, ends[1:], strict=False)), lines
    [(number, slot, state)] = issues(config)
    assert (number, state) == (1, "built")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", slot or "")
    assert int(slot[-2:]) % 3 == 0  # type: ignore[index]
    assert len(list((config.parent / "outbox").iterdir())) == 1

    # A restart adds no job twice and builds nothing more: the new slot has nothing new.
    again = Digest(config, "run")
    try:
        again.wait_for(lambda ls: count(ls, r"INFO digest.run issue: slot ") >= 1)
    finally:
        again.proc.send_signal(signal.SIGINT)
    assert again.finish() == 0, again.log
    assert count(again.lines, r"INFO digest.run issue: slot .*nothing new") >= 1
    assert len(issues(config)) == 1


def test_a_pinned_daemon_decides_on_the_pinned_clock_and_waits_real_seconds(
        sample_project: Path):
    """DIGEST_NOW three seconds before a weekly slot: the daemon neither waits for that
    date on the real clock nor decides one frozen instant over and over."""
    config = set_schedule(sample_project, 'issue = "0 8 * * MON"\ntimezone = "Europe/London"')
    daemon = Digest(config, "run", now="2026-11-09T07:59:57+00:00")
    try:
        daemon.wait_for(lambda ls: count(ls, r"INFO digest.run issue: ") == 1)
    finally:
        daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.finish() == 0, daemon.log
    [started] = [line for line in daemon.lines if "INFO digest.run digest run (pid" in line]
    assert re.search(r"first collect 2026-11-09 07:59:5\d GMT; next issue 2026-11-09 08:00:00 GMT$",
                     started), started
    [issue] = [line for line in daemon.lines if "INFO digest.run issue: " in line]
    assert re.search(r"issue: slot 2026-11-09T08:00:00: built issue #1 .*; next issue at "
                     r"2026-11-16 08:00:00 GMT$", issue), issue
    assert issues(config) == [(1, "2026-11-09T08:00:00", "built")]


def test_triggers_on_a_clock_ahead_of_the_system_clock_fire_on_real_time():
    real_now = datetime.now(UTC)
    clock = RunningClock(datetime(2026, 10, 25, 7, 59, 30, tzinfo=UTC) - real_now)
    trigger = OnRealTime(parse_crontab("0 8 * * *", LONDON), clock.offset, LONDON)
    fire = trigger.get_next_fire_time(None, real_now)
    assert fire is not None
    assert abs((fire - real_now) - timedelta(seconds=30)) < timedelta(seconds=1)
    # the next one is a day of elapsed time later, though London's clocks went back
    following = trigger.get_next_fire_time(fire, fire)
    assert following is not None and following - fire == timedelta(hours=24)
    assert clock.to_real(clock.now(LONDON)) - datetime.now(UTC) < timedelta(seconds=1)


def once(config: Path, now: str):
    return run(config, "run", "--once", env={"DIGEST_NOW": now})


def test_run_once_builds_a_missed_slot_within_the_grace(sample_project: Path):
    config = set_schedule(sample_project, 'issue = "0 8 * * MON"\ntimezone = "Europe/London"\n'
                                          'misfire_grace = "1h"')
    late = once(config, "2026-11-02T09:30:00+00:00")  # 90 minutes after the slot
    assert late.exit_code == 0, late.output
    assert re.search(r"INFO digest.run collect: \d+ new article\(s\) from 5 feed\(s\); took", late.output)
    assert issues(config) == []

    on_time = once(config, "2026-11-09T08:20:00+00:00")
    assert on_time.exit_code == 0, on_time.output
    assert re.search(r"INFO digest.run issue: slot 2026-11-09T08:00:00: built issue #1 \(\d+ article\(s\)\)",
                     on_time.output)
    again = once(config, "2026-11-09T08:40:00+00:00")
    assert again.exit_code == 0, again.output
    assert "issue:" not in again.output
    assert issues(config) == [(1, "2026-11-09T08:00:00", "built")]


def test_dst_double_fire_gives_one_issue(sample_project: Path):
    config = set_schedule(sample_project, 'issue = "30 1 * * *"\ntimezone = "Europe/London"')
    # 01:30 happens twice on 25 October 2026 in London: at 00:30 and at 01:30 UTC.
    first = once(config, "2026-10-25T00:40:00+00:00")
    assert "slot 2026-10-25T01:30:00: built issue #1" in first.output, first.output
    second = once(config, "2026-10-25T01:40:00+00:00")
    assert second.exit_code == 0 and "built" not in second.output, second.output
    assert issues(config) == [(1, "2026-10-25T01:30:00", "built")]

    # The daemon's job, asked directly for both fire times, agrees.
    loaded = load_config(config)
    schedule = load_schedule(loaded)
    for fire in ("2026-10-25T01:30:00+01:00", "2026-10-25T01:30:00+00:00"):
        said = run_issue(loaded, schedule, datetime.fromisoformat(fire), threading.Event())
        assert said == "slot 2026-10-25T01:30:00: issue #1 was already built for this slot"
    assert len(issues(config)) == 1


def test_manual_build_waits_for_the_daemons_lock_then_names_the_holder(
        feed_server: FeedServer, write_config):
    gate = threading.Event()  # the holder's fetch lasts until the impatient build gave up
    feed_server.routes["/slow.xml"] = Route(rss(5, "Slow"), gate=gate)
    config = write_config([{"url": feed_server.url("/slow.xml"), "name": "Slow"}],
                          extra="[state]\nlock_timeout = 0.5\n[collect]\ntimeout = 90")
    patient = config.with_name("patient.toml")
    patient.write_text(config.read_text("utf-8").replace("lock_timeout = 0.5",
                                                         "lock_timeout = 20"), "utf-8")
    lock = config.parent / ".digest" / "state.db.lock"

    holder = Digest(config, "run", "--once")  # collect is due: it fetches the slow feed
    deadline = time.monotonic() + 10
    while not (lock.exists() and f"pid {holder.proc.pid}" in lock.read_text()):
        assert time.monotonic() < deadline, holder.log
        time.sleep(0.02)
    started = time.monotonic()
    impatient = Digest(config, "build")
    waiting = Digest(patient, "build", "--no-collect")
    try:
        assert impatient.finish() == 1
    finally:
        gate.set()
    assert time.monotonic() - started >= 0.5
    assert (f"another digest process holds {lock} (pid {holder.proc.pid}: digest --config "
            f"{config} run --once); waited 0.5s") in impatient.log
    assert waiting.finish() == 0, waiting.log
    assert "issue #1 written to" in waiting.stdout
    assert holder.finish() == 0, holder.log
    assert "collect: 5 new article(s) from 1 feed(s)" in holder.log

"""`digest run`: collect on an interval and build (and send) on the issue's schedule, unattended.

Two jobs on an APScheduler 3 BackgroundScheduler, with fixed ids, coalescing, one
instance each and `[schedule] misfire_grace`:

    collect  every `collect_every`       pipeline.collect_locked
    issue    on the `issue` crontab      pipeline.build(slot=<key>), then send (smtp)

Every job takes the same state lock as the manual commands, so `digest build` typed
beside the daemon waits for it (and the daemon for it). Jobs of this process also run
one at a time, so they queue behind each other instead of timing out on the lock.

The scheduler keeps no state of its own. What has run is read from the database: the
last collect is the newest `feeds.last_fetched`, a slot is done when `issues.slot`
holds its key. On start the daemon (and `digest run --once`) looks for the latest slot
within the misfire grace; if no issue has its key, it is built at once. A send that was
stopped is picked up the same way: the issue exists, so only its send resumes.

With `[schedule] deliver = "local"` (digest.deliver.zones) a send passes only the
readers whose local time has come; after every job the daemon plans a one-off
`local-send` job at the next instant a zone's batch falls due, and that job sends
each scheduled issue not fully sent (a batch too late is held and named, not sent).

SIGTERM or SIGINT sets one `threading.Event`: no new job starts, a running send
finishes the message in hand and records it, the scheduler shuts down, exit 0.

Time: every "what is due now" decision reads a `clock.RunningClock`, which starts at
DIGEST_NOW when that is set and then runs at real speed. APScheduler sleeps on the
system clock, so the jobs' triggers are shifted by the clock's lead (`OnRealTime`):
a daemon started with DIGEST_NOW five seconds before a slot builds that slot five
real seconds later, instead of waiting for the real date or deciding one frozen
instant over and over. Unpinned, the lead is zero and nothing is shifted.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger

from digest import clock, pipeline
from digest.config.schema import Config
from digest.errors import DigestError
from digest.models import IssueRecord
from digest.schedule.slots import (
    Schedule,
    collect_due,
    collect_trigger,
    issue_times,
    latest_slot,
    load_schedule,
    slot_key,
)
from digest.schedule.stopping import stop_on_signals
from digest.state.backend import describe
from digest.state.lock import Lead, exclusive, leader_lock
from digest.state.store import Store, locked_store, open_store

log = logging.getLogger("digest.run")

COLLECT_JOB = "collect"
ISSUE_JOB = "issue"
LOCAL_JOB = "local-send"  # [schedule] deliver = "local": a pass at each zone's time
# A job that starts a little late still finds its slot; the scheduler has already
# dropped runs later than the grace.
_SLOT_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True)
class Due:
    """What the database says is owed at `now`."""

    collect: bool
    last_collect: datetime | None
    slot: datetime | None  # the latest slot within the misfire grace, if it has no issue
    resume: int | None  # smtp: a scheduled issue whose send is not finished


def check_due(config: Config, schedule: Schedule, now: datetime) -> Due:
    with locked_store(config) as store:  # opening migrates: same lock as writers
        last = last_collect(store)
        latest = latest_slot(schedule, now, schedule.misfire_grace)
        issue = store.issue_for_slot(slot_key(latest, schedule.tz)) if latest else None
        resume = None
        if config.delivery.mode == "smtp":
            if issue and issue.state not in ("sent", "recovered", "paused"):
                resume = issue.number  # built in time, never (fully) sent
            else:  # a send that was stopped, however long ago: finish it
                begun = [i for i in store.issues() if i.slot and i.state == "sending"]
                resume = begun[-1].number if begun else None
    return Due(collect_due(schedule, now, last), last, latest if issue is None else None,
               resume)


def last_collect(store: Store) -> datetime | None:
    stamps = [s.last_fetched for s in store.feed_states().values() if s.last_fetched]
    return max(datetime.fromisoformat(s) for s in stamps) if stamps else None


# The jobs ------------------------------------------------------------------------


def run_collect(config: Config) -> str:
    report = pipeline.collect_locked(config)
    warn_failed_feeds(report)
    failed = f", {report.failed} feed(s) failed" if report.failed else ""
    return f"{report.new} new article(s) from {len(report.feeds)} feed(s){failed}"


def warn_failed_feeds(report: pipeline.CollectReport | None) -> None:
    """A WARNING per feed that failed, with its name and reason (the summary line only
    counts them)."""
    for feed in report.feeds if report else ():
        if feed.status == "error":
            streak = f" (failed {feed.failures}x in a row)" if feed.failures > 1 else ""
            reason = feed.error or "no reason given"
            named = reason if reason.startswith(f"feed {feed.name!r}") else \
                f"feed {feed.name!r}: {reason}"  # collect's errors name the feed already
            log.warning("collect failed: %s%s", named, streak)


def warn_waiting(config: Config, handled: int | None = None) -> None:
    """smtp delivery: a WARNING per issue not fully sent, but `handled` (the issue the
    job just sent): an issue built by hand and never sent is never silently passed by."""
    if config.delivery.mode != "smtp":
        return
    for unsent in pipeline.unsent_issues(config):
        if unsent.number != handled:
            log.warning("waiting: %s", unsent.describe())


def run_issue(config: Config, schedule: Schedule, slot: datetime,
              stop: threading.Event, now: Callable[[], datetime] | None = None) -> str:
    """Build the slot's issue (once per key, whoever asks) and send it when smtp."""
    key = slot_key(slot, schedule.tz)
    result = pipeline.build(config, slot=key)
    warn_failed_feeds(result.collected)
    if result.status == "built" and result.rendered:
        issue = result.rendered.issue
        summary = f"built issue #{issue.number} ({len(issue.placed)} article(s)) in {result.path}"
        number: int | None = issue.number
    elif result.status == "exists":
        record = _issue_for_slot(config, key)
        summary = f"issue #{record.number if record else '?'} was already built for this slot"
        number = record.number if record and record.state not in ("sent", "recovered",
                                                                  "paused") \
            else None
    else:
        return f"slot {key}: {result.message}"
    if config.delivery.mode == "smtp" and number is not None:
        summary += "; " + run_send(config, number, stop, now)
    warn_waiting(config, number)
    return f"slot {key}: {summary}"


def run_send(config: Config, number: int, stop: threading.Event,
             now: Callable[[], datetime] | None = None, *, in_turn: bool = False) -> str:
    """Send issue `number`; with local-time delivery, to the readers whose time has come
    at `now()`, read as the send starts (the daemon's running clock; default: the
    clock). `in_turn`: a local-time pass over local_issues, oldest first, which keeps
    each reader's order itself (see local_issues), so the order rule does not apply."""
    if stop.is_set():
        return f"stopping, so issue #{number} was not sent (the next start sends it)"
    from digest.deliver.smtp import send_issue  # only smtp delivery needs it

    try:  # never an issue older than one that went out (`digest send N --allow-older`)
        if not in_turn:
            pipeline.check_send_order(config, number)
    except DigestError as e:
        log.warning("send: %s", e)
        return f"issue #{number} not sent: it is older than an issue that went out"

    report = send_issue(config, number, stop=stop, now=now() if now else None)
    return "sent " + report.message + (" (stopped early)" if report.stopped else "")


def local_issues(config: Config, now: datetime) -> list[int]:
    """Local-time delivery: the scheduled issues not fully sent whose zones can still be
    due (every zone's time is within a day of the slot), oldest first; each send pass
    takes the readers whose time has come. An older one holds only late batches:
    `digest status` shows them. A zone's batch of an issue falls due no later than
    its batch of a newer one (each is the first local_time after the issue's slot),
    so a pass over these, oldest first, never mails a reader an older issue after a
    newer one: two issues due at once in a zone go out in turn."""
    from digest.deliver.zones import may_be_due

    store = open_store(config.state_db)
    try:
        return [i.number for i in store.issues() if may_be_due(config, i, now)]
    finally:
        store.close()


def _issue_for_slot(config: Config, key: str) -> IssueRecord | None:
    store = open_store(config.state_db)
    try:
        return store.issue_for_slot(key)
    finally:
        store.close()


# The daemon ---------------------------------------------------------------------


class Daemon:
    """`digest run` in the foreground until SIGTERM/SIGINT."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.schedule = load_schedule(config)
        self.clock = clock.running_clock()
        self.stop = threading.Event()
        self._busy = threading.Lock()
        self._triggers: dict[str, BaseTrigger] = {}
        self._last_pass: datetime | None = None  # the running clock at the last send
        self._replan = threading.Event()  # a job ran: plan the next local-send pass
        self._planned: datetime | None = None  # the local-send pass planned last
        grace = int(self.schedule.misfire_grace.total_seconds())
        self.scheduler = BackgroundScheduler(
            timezone=self.schedule.tz,
            executors={"default": ThreadPoolExecutor(2)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace},
        )

    def run(self) -> int:
        code = 0
        with stop_on_signals(self.stop, _log_signal), run_lock(self.config, self.stop) as lead:
            if lead is None:  # stopped while a standby
                log.info("stopped (a standby, never leading)")
                return 0
            self._start()
            while not self.stop.wait(0.5):
                if self._replan.is_set():
                    # Here, in the main thread: a job thread adding a job could deadlock
                    # with shutdown, which holds the job store while it waits for jobs.
                    self._replan.clear()
                    self._plan_local()
                if not lead.held():
                    log.error("lost the lead (the connection to the state database ended): "
                              "stopping, so that only the new leader builds; start this "
                              "daemon again to stand by")
                    code = 1
                    self.stop.set()
            log.info("stopping: letting a running job finish")
            self.scheduler.shutdown(wait=True)
        log.info("stopped")
        return code

    def _start(self) -> None:
        now = self.clock.now(self.schedule.tz)
        real = self.clock.to_real
        due = check_due(self.config, self.schedule, now)
        catch_up = due.slot is not None
        if due.resume is not None:
            self.scheduler.add_job(self.send_job, "date", run_date=real(now), args=[due.resume],
                                   id="resume-send", name="resume send",
                                   replace_existing=True)
        if catch_up:  # the build collects first
            first_collect = now.astimezone(UTC) + self.schedule.collect_every
        elif due.collect or due.last_collect is None:
            first_collect = now
        else:
            first_collect = due.last_collect + self.schedule.collect_every
        self._triggers = {COLLECT_JOB: collect_trigger(self.schedule, start=first_collect),
                          ISSUE_JOB: self.schedule.issue}
        self.scheduler.add_job(self.collect_job, self._on_real_time(COLLECT_JOB),
                               id=COLLECT_JOB, name="collect", replace_existing=True,
                               next_run_time=real(first_collect))
        extra = {"next_run_time": real(now)} if catch_up else {}
        self.scheduler.add_job(self.issue_job, self._on_real_time(ISSUE_JOB), id=ISSUE_JOB,
                               name="issue", replace_existing=True, **extra)
        next_issue = issue_times(self.schedule, now, 1)
        log.info(
            "digest run (pid %d): collect every %s, issue %r in %s, misfire grace %s; "
            "first collect %s; %s",
            os.getpid(), self.config.schedule.collect_every, self.config.schedule.issue,
            self.schedule.tz.key, self.config.schedule.misfire_grace,
            fmt(first_collect.astimezone(self.schedule.tz)),
            (f"missed slot {slot_key(due.slot, self.schedule.tz)} runs now"
             if catch_up and due.slot else
             f"next issue {fmt(next_issue[0]) if next_issue else 'never'}")
            + (f"; resuming the send of issue #{due.resume}" if due.resume else ""),
        )
        if not catch_up:  # else the issue job, running now, reports them
            warn_waiting(self.config, due.resume)
        self.scheduler.start()
        self._replan.set()

    def _on_real_time(self, job_id: str) -> BaseTrigger:
        trigger = self._triggers[job_id]
        offset = self.clock.offset
        return OnRealTime(trigger, offset, self.schedule.tz) if offset else trigger

    def collect_job(self) -> None:
        self._job(COLLECT_JOB, lambda: run_collect(self.config))
        self._replan.set()  # a reader who subscribed since may be in a new zone

    def send_job(self, number: int) -> None:
        self._job("send", lambda: run_send(self.config, number, self.stop, self._pass_now),
                  ISSUE_JOB)
        self._replan.set()

    # Local-time delivery ----------------------------------------------------------

    def _plan_local(self) -> None:
        """One `local-send` job at the next instant a zone's batch falls due."""
        if self.config.schedule.deliver != "local" or self.stop.is_set():
            return
        from digest.deliver.zones import next_pass

        # From the time the last send pass looked: a zone that fell due while it ran
        # gets a pass at once.
        try:
            when = next_pass(self.config, self._last_pass or self.clock.now(self.schedule.tz))
        except DigestError as e:
            log.error("local-send: cannot plan the next pass: %s", e)
            return
        except Exception:  # keep the daemon alive; the next job plans again
            log.exception("local-send: cannot plan the next pass")
            return
        if when is None or when == self._planned:  # nothing waits, or planned already
            return
        self._planned = when
        log.info("local-send: next pass at %s", fmt(when.astimezone(self.schedule.tz)))
        self.scheduler.add_job(self.local_job, "date", run_date=self.clock.to_real(when),
                               id=LOCAL_JOB, name="local-time send", replace_existing=True)

    def _pass_now(self) -> datetime:
        """The running clock, as a send pass reads it (the next plan starts there)."""
        self._last_pass = self.clock.now(self.schedule.tz)
        return self._last_pass

    def local_job(self) -> None:
        def send_due() -> str:
            now = self.clock.now(self.schedule.tz)
            done = [run_send(self.config, number, self.stop, self._pass_now, in_turn=True)
                    for number in local_issues(self.config, now)]
            return "; ".join(done) or "no issue waits for a local time"

        self._job(LOCAL_JOB, send_due)
        self._replan.set()

    def issue_job(self) -> None:
        def publish() -> str:
            done: list[str] = []
            handled = None
            while not self.stop.is_set():
                now = self.clock.now(self.schedule.tz)
                grace = self.schedule.misfire_grace + _SLOT_MARGIN
                slot = latest_slot(self.schedule, now, grace)
                if slot is None or slot == handled:
                    break
                # A slot that fell due while this job ran was skipped by the scheduler
                # (one instance at a time), so it is taken here before the job ends.
                done.append(run_issue(self.config, self.schedule, slot, self.stop,
                                      self._pass_now))
                handled = slot
            return "; ".join(done) or "no slot within the misfire grace; nothing to do"

        self._job(ISSUE_JOB, publish)
        self._replan.set()

    def _job(self, job_id: str, work: Any, next_of: str | None = None) -> None:
        with self._busy:
            if self.stop.is_set():
                return
            started = time.monotonic()
            try:
                summary, level = work(), logging.INFO
            except DigestError as e:
                summary, level = f"failed: {e}", logging.ERROR
            except Exception as e:  # keep the daemon alive; the traceback goes to the log
                log.exception("%s: unexpected error", job_id)
                summary, level = f"failed: {type(e).__name__}: {e}", logging.ERROR
            took = time.monotonic() - started
            next_of = next_of or job_id
            log.log(level, "%s: %s; took %.1fs; next %s at %s", job_id, summary, took,
                    next_of, self._next(next_of))

    def _next(self, job_id: str) -> str:
        # From our own triggers: asking the scheduler would deadlock while it shuts down
        # (shutdown holds its job store lock while it waits for this job).
        if job_id == LOCAL_JOB:
            from digest.deliver.zones import next_pass

            planned = next_pass(self.config, self.clock.now(self.schedule.tz))
            return fmt(planned.astimezone(self.schedule.tz)) if planned else "never"
        fire = self._triggers[job_id].get_next_fire_time(None, self.clock.now(self.schedule.tz))
        return fmt(fire.astimezone(self.schedule.tz)) if fire else "never"


class OnRealTime(BaseTrigger):
    """`trigger`, whose times are on a clock `offset` ahead of the system clock, as
    fire times on the system clock that APScheduler sleeps on."""

    __slots__ = ("trigger", "offset", "tz")

    def __init__(self, trigger: BaseTrigger, offset: timedelta, tz: tzinfo) -> None:
        self.trigger, self.offset, self.tz = trigger, offset, tz

    def get_next_fire_time(self, previous_fire_time: datetime | None,
                           now: datetime) -> datetime | None:
        # In UTC: an aware datetime plus a timedelta is wall-clock arithmetic, an hour
        # off across a DST change.
        previous = (previous_fire_time.astimezone(UTC) + self.offset
                    if previous_fire_time else None)
        fire = self.trigger.get_next_fire_time(previous, now.astimezone(UTC) + self.offset)
        return (fire.astimezone(UTC) - self.offset).astimezone(self.tz) if fire else None


def fmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z")


def _log_signal(name: str, again: bool) -> None:
    if again:
        log.warning("%s again: still finishing the running job (SIGKILL forces)", name)
    else:
        log.info("%s received: finishing the running job, then stopping", name)


@contextmanager
def run_lock(config: Config, stop: threading.Event | None = None) -> Iterator[Lead | None]:
    """One `digest run` leads per state database, for its whole life. On a SQLite file
    a second one exits at once; with PostgreSQL, a second one (on any machine) waits as
    a standby and takes over when the leader stops or dies (None: `stop` came first)."""
    where = config.state_db
    if isinstance(where, str):
        def waiting(holder: str) -> None:
            log.info("standby: %s leads for %s; waiting to take over", holder, describe(where))

        with leader_lock(where, stop or threading.Event(), waiting) as lead:
            if lead is not None:
                log.info("leading for %s (pid %d)", describe(where), os.getpid())
            yield lead
        return
    path = config.state_path.with_name(config.state_path.name + ".run.lock")
    with exclusive(path, 0, lambda holder: (
            f"`digest run` is already running for {config.state_path} ({holder}); stop it "
            "first, or use `digest run --once`")):
        yield Lead()


def run_once(config: Config, now: datetime | None = None) -> list[str]:
    """Run whatever is due at `now` and return one line per job run (for system cron)."""
    schedule = load_schedule(config)
    now = now.astimezone(schedule.tz) if now else clock.now(schedule.tz)
    stop = threading.Event()
    due = check_due(config, schedule, now)
    lines = []
    if not due.slot:  # an issue job reports them itself
        warn_waiting(config, due.resume)
    with stop_on_signals(stop, _log_signal):
        resume = due.resume
        if config.delivery.mode == "smtp" and config.schedule.deliver == "local":
            # Every issue a zone may be due for, oldest first, before a new slot's
            # issue: cron's passes are the daemon's local-send job too.
            for number in local_issues(config, now):
                lines.append(_timed("send", lambda n=number: run_send(
                    config, n, stop, lambda: now, in_turn=True)))
                resume = None if resume == number else resume
        if due.slot:
            slot = due.slot
            lines.append(_timed("issue", lambda: run_issue(config, schedule, slot, stop,
                                                           lambda: now)))
        if resume is not None:
            number = resume
            lines.append(_timed("send", lambda: run_send(config, number, stop, lambda: now)))
        if due.collect and not due.slot and not stop.is_set():  # a build collects anyway
            lines.append(_timed("collect", lambda: run_collect(config)))
    if not lines:
        last = fmt(due.last_collect.astimezone(schedule.tz)) if due.last_collect else "never"
        upcoming = issue_times(schedule, now, 1)
        lines.append(f"nothing due: last collect {last}, next issue "
                     f"{fmt(upcoming[0]) if upcoming else 'never'}")
    return lines


def _timed(job: str, work: Any) -> str:
    started = time.monotonic()
    summary = work()
    return f"{job}: {summary}; took {time.monotonic() - started:.1f}s"


"""Send a built issue to the subscriber list over SMTP: exactly once, resumable.

`send_issue` holds the state lock, opens one connection first (so a wrong password
or host fails before the delivery log is touched), logs every recipient as pending,
then runs `[smtp] connections` worker threads. Each worker keeps its connection
open across messages and, per recipient: looks the address up in the suppression list
again (an unsubscribe during a long send is honoured: the row becomes `suppressed`),
MAIL, RCPT, DATA; on the server's 354 it commits the row as `sending`, transmits the
pre-encoded message and commits the reply (`delivered`, `failed` on 5xx, `deferred` and
requeued with backoff on 4xx). A connection lost before the end-of-data dot went out is
retried like a 4xx; lost after the dot but before the reply, the row stays `sending` (in
flight): every send ends with a WARNING naming how many, and `resolve_in_flight` (`digest
send N --resolve-in-flight sent|retry`) settles them, so no one gets an issue twice
unless the operator says so. A send that passes a `[delivery] pause_*` threshold stops
starting messages and leaves the issue `paused` (digest.deliver.pause): only
`send_issue(..., resume=True)` (`digest send N --resume`) goes on with it.

A state database that cannot be written (a full disk) stops the send with one line
naming the file; every row keeps the state the server got to (see digest.deliver.engine).
"""

from __future__ import annotations

import logging
import smtplib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from digest.config.schema import Config
from digest.deliver.connection import (
    connect,
    connection,
    password_for,
    quit_quietly,
    reply_line,
)
from digest.deliver.engine import Progress, Run
from digest.deliver.limiter import Job
from digest.deliver.message import MessageTemplate
from digest.deliver.recipients import Recipient, load_recipients
from digest.deliver.redact import secret_forms
from digest.deliver.variants import Letters, issue_letters
from digest.errors import DeliveryError, HeaderRefused, StateError
from digest.models import IssueRecord, IssueState
from digest.outbox.folder import IssueFolder
from digest.state.audit import clear_pause, note_counted_from, note_pause, pause_note
from digest.state.deliveries import TO_SEND, DeliveryLog
from digest.state.lock import state_lock
from digest.state.store import Store, open_readonly, open_store
from digest.tokens import load_secret


@dataclass(frozen=True)
class SendReport:
    issue: int | None
    message: str
    recipients: int = 0  # on the list, not suppressed
    to_send: int = 0  # what this run set out to send
    delivered: int = 0  # this run
    failed: int = 0  # permanently, this run
    deferred: int = 0  # still to retry (4xx after [smtp] max_attempts, or a stop)
    in_flight: tuple[str, ...] = ()  # sent, unconfirmed: not re-sent without the flag
    already_delivered: int = 0
    previously_failed: int = 0
    suppressed: int = 0  # on the suppression list when the send began
    suppressed_during: int = 0  # unsubscribed while it ran: not sent
    not_sent: int = 0  # never attempted because of a stop
    waiting: int = 0  # [schedule] deliver = "local": their local time has not come yet
    held: tuple[str, ...] = ()  # ... and batches past max_lateness, one line each
    held_readers: int = 0  # how many readers those batches hold
    stopped: bool = False
    dry_run: bool = False
    problems: tuple[str, ...] = field(default=())  # recipient list rows skipped
    seconds: float = 0.0
    paused: str = ""  # why the send paused itself (a pause_* threshold), or ""

    @property
    def complete(self) -> bool:
        return not (self.deferred or self.in_flight or self.not_sent)


logger = logging.getLogger(__name__)

InFlightResolution = Literal["sent", "retry"]  # the CLI's --resolve-in-flight choices


def send_issue(
    config: Config,
    number: int | None = None,
    *,
    dry_run: bool = False,
    resend_in_flight: bool = False,
    stop: threading.Event | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    resume: bool = False,
    late: bool = False,
    now: datetime | None = None,
) -> SendReport:
    """Send issue `number` (None: the latest issue not fully sent) to every subscriber
    who hasn't had it. With `[schedule] deliver = "local"` only the readers whose
    local time has come at `now` (default: the clock; see digest.deliver.zones), and
    of those who are late only with `late`. Setting `stop` lets messages in progress
    finish, records them and returns. A `paused` issue is sent only with `resume`;
    without, the report says why it paused and nothing is sent. Raises DeliveryError
    when the server can't be reached or refuses the login (before anything is logged),
    StateError when the state database cannot be written (the send stops; `digest
    send` goes on later)."""
    return _locked_send(config, number, dry_run=dry_run, resend_in_flight=resend_in_flight,
                        only_in_flight=False, stop=stop, on_progress=on_progress,
                        resume=resume, late=late, now=now)


def resolve_in_flight(
    config: Config,
    number: int,
    how: InFlightResolution,
    *,
    stop: threading.Event | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> SendReport:
    """Settle issue `number`'s messages in flight (sent in full, never confirmed):
    `how="sent"` records them as delivered and sends nothing (they arrived); `"retry"`
    sends them again, and only them (a recipient suppressed or gone from the list since
    is marked `suppressed` instead). Nothing else of the issue is sent."""
    if how == "retry":
        return _locked_send(config, number, dry_run=False, resend_in_flight=True,
                            only_in_flight=True, stop=stop, on_progress=on_progress)
    started = time.monotonic()
    with state_lock(config.state_db, config.state.lock_timeout):
        issue = _existing_issue(config, number)
        delivery_log = DeliveryLog.open_shared(config.state_db)
        try:
            marked = delivery_log.mark_in_flight(
                issue.number, "delivered",
                f"marked delivered by `digest send {issue.number} --resolve-in-flight sent`")
            counts = delivery_log.counts(issue.number)
            if not (counts["sending"] or counts["pending"] or counts["deferred"]):
                delivery_log.set_issue_state(issue.number, "sent")
        finally:
            delivery_log.close()
    return SendReport(
        issue.number, f"issue #{issue.number}: {marked} message(s) in flight marked "
        f"delivered; nothing sent", already_delivered=counts["delivered"],
        seconds=time.monotonic() - started)


def _existing_issue(config: Config, number: int) -> IssueRecord:
    store = open_store(config.state_db)
    try:
        issue = store.get_issue(number)
    finally:
        store.close()
    if issue is None:
        raise DeliveryError(f"issue #{number} does not exist; `digest status` lists the "
                            "issues")
    return issue


def _locked_send(config: Config, number: int | None, *, dry_run: bool,
                 resend_in_flight: bool, only_in_flight: bool,
                 stop: threading.Event | None,
                 on_progress: Callable[[Progress], None] | None,
                 resume: bool = True, late: bool = False,
                 now: datetime | None = None) -> SendReport:
    load_secret(config)  # a missing token secret stops us before anything else
    stop = stop or threading.Event()
    started = time.monotonic()
    with state_lock(config.state_db, config.state.lock_timeout):
        store = open_store(config.state_db)
        try:
            issue = _pick_issue(store, number)
            if issue is None:
                what = f"issue #{number} does not exist" if number else \
                    "nothing to send: every issue has been sent to everyone"
                if number:
                    raise DeliveryError(f"{what}; `digest status` lists the issues")
                return SendReport(None, what, dry_run=dry_run)
            folder = IssueFolder.open(config.outbox_path / issue.outbox_path)
            folder.check_owner(config.newsletter.slug, store.state_id)
            if issue.state == "paused" and not resume and not only_in_flight:
                return still_paused(issue.number, pause_note(store.conn, issue.number),
                                    dry_run)
        finally:
            store.close()
        delivery_log = DeliveryLog.open_shared(config.state_db)
        try:
            report = _send(config, issue, folder, delivery_log, dry_run=dry_run,
                           resend_in_flight=resend_in_flight, only_in_flight=only_in_flight,
                           stop=stop, on_progress=on_progress, started=started, late=late,
                           now=now)
        except StateError as e:
            raise StateError(f"{e}; the send of issue #{issue.number} stopped there, every "
                             "message recorded as far as the server got: `digest send "
                             f"{issue.number}` goes on") from None
        finally:
            delivery_log.close()
    if report.in_flight:
        logger.warning("%s", in_flight_warning(report))
    return report


def still_paused(number: int, why: str | None, dry_run: bool) -> SendReport:
    """The report of a send of a paused issue without `resume`: nothing sent."""
    said = why or f"issue #{number} paused"
    how = why.removeprefix(f"issue #{number} paused: ") if why else \
        f"`digest send {number} --resume` goes on"
    return SendReport(number, f"issue #{number} is paused, nothing sent: {how}", paused=said,
                      dry_run=dry_run)


def _paused(log: DeliveryLog, number: int, run: Run, left: bool) -> str:
    """After a run: mark the issue paused when a threshold stopped it with messages
    left to send, say so in the log and note why (`digest status` shows it)."""
    why = run.pause.reason
    if why is None or not left:
        return ""
    log.set_issue_state(number, "paused")
    with log.lock:
        note_pause(log.conn, number, why)
    logger.warning("%s", why)
    return why


def in_flight_warning(report: SendReport) -> str:
    """The end-of-send line about messages in flight: how many, and what to run."""
    n = report.issue
    return (f"issue #{n}: {len(report.in_flight)} message(s) in flight: sent in full but "
            "never confirmed by the server, so they may or may not have arrived, and are not "
            f"re-sent by `digest send`; `digest status {n}` lists them; run `digest send {n} "
            "--resolve-in-flight sent` if they arrived, or `digest send "
            f"{n} --resolve-in-flight retry` to send them (only them) again")


def send_test(config: Config, number: int | None, addresses: list[str]) -> SendReport:
    """Send issue `number` (None: the latest built) to `addresses` only, its subject
    marked [TEST]. Nothing is logged and no suppression applies: the list's record of
    the issue is untouched, and the real send later goes to everyone as before."""
    load_secret(config)
    started = time.monotonic()
    store = open_readonly(config.state_db)
    try:
        issue = store.get_issue(number) if number is not None else \
            next(iter(reversed(store.issues())), None)
        if issue is None:
            raise DeliveryError(f"issue #{number} does not exist; `digest status` lists the "
                                "issues" if number else "no issue built yet; run `digest "
                                "build` first (or `digest build --preview --test ADDR`)")
        folder = IssueFolder.open(config.outbox_path / issue.outbox_path)
        folder.check_owner(config.newsletter.slug, store.state_id)
    finally:
        store.close()
    return send_test_folder(config, folder, addresses, started)


def send_test_folder(config: Config, folder: IssueFolder, addresses: list[str],
                     started: float | None = None) -> SendReport:
    """A test send of the issue in `folder` (an outbox issue, or the preview)."""
    started = time.monotonic() if started is None else started
    template = MessageTemplate.from_config(config, folder.manifest, *folder.template_parts(),
                                           test=True)
    recipients = [Recipient(address, "") for address in addresses]
    messages = [(r, template.signed(r)) for r in recipients]  # a bad template fails here
    secrets = secret_forms(config.smtp.username, password_for(config.smtp))
    delivered: list[str] = []
    refused: list[str] = []
    with connection(config.smtp) as conn:
        for recipient, data in messages:
            try:
                conn.sendmail(template.envelope_for(recipient), [recipient.email], data)
                delivered.append(recipient.email)
            except smtplib.SMTPRecipientsRefused as e:
                code, reply = e.recipients[recipient.email]
                refused.append(f"{recipient.email}: {reply_line(code, reply, secrets)}")
            except smtplib.SMTPResponseException as e:
                said = reply_line(e.smtp_code, e.smtp_error, secrets)
                refused.append(f"{recipient.email}: {said}")
    number = folder.manifest.number
    message = (f"test send of issue #{number} to {', '.join(delivered) or 'nobody'}"
               f" in {time.monotonic() - started:.1f}s; nothing logged")
    if refused:
        message += f"; refused: {'; '.join(refused)}"
    return SendReport(number, message, delivered=len(delivered), failed=len(refused),
                      recipients=len(recipients), to_send=len(recipients),
                      seconds=time.monotonic() - started)


def _pick_issue(store: Store, number: int | None) -> IssueRecord | None:
    if number is not None:
        return store.get_issue(number)
    # A recovered issue may have gone out already: only `digest send N` sends it.
    return next((i for i in reversed(store.issues()) if i.state not in ("sent", "recovered")),
                None)


def _send(config: Config, issue: IssueRecord, folder: IssueFolder, log: DeliveryLog, *,
          dry_run: bool, resend_in_flight: bool, only_in_flight: bool,
          stop: threading.Event, on_progress: Callable[[Progress], None] | None,
          started: float, late: bool = False, now: datetime | None = None) -> SendReport:
    listed = load_recipients(config)
    template = issue_letters(config, folder, listed)  # one template per topic edition
    suppressed = log.suppressed()
    recipients = [r for r in listed.recipients if r.key not in suppressed]
    logged = log.rows(issue.number)
    done_before = {k for k, d in logged.items() if d.state == "delivered"}
    failed_before = {k for k, d in logged.items() if d.state == "failed"}
    in_flight = {k for k, d in logged.items() if d.state == "sending"}
    if only_in_flight:
        jobs = [Job(r) for r in recipients if r.key in in_flight]
    else:
        jobs = [Job(r) for r in recipients
                if r.key not in done_before and r.key not in failed_before
                and (r.key not in in_flight or resend_in_flight)]
    owed, jobs, local = _local_time(config, issue, log, jobs, late, only_in_flight, now)
    kept_in_flight = tuple(sorted(logged[r.key].address for r in recipients
                                  if r.key in in_flight and not resend_in_flight))
    base: dict[str, Any] = dict(recipients=len(recipients), to_send=len(jobs),
                already_delivered=sum(r.key in done_before for r in recipients),
                previously_failed=sum(r.key in failed_before for r in recipients),
                suppressed=len(listed.recipients) - len(recipients), problems=listed.problems,
                dry_run=dry_run, **local)
    smtp = config.smtp
    password = password_for(smtp)
    if jobs and recipients:  # a broken template or DKIM key fails here, before the log
        try:
            template.wire(jobs[0].recipient)
        except HeaderRefused:
            pass  # that address's own message: it alone fails, in the run
    if issue.state == "paused" and not only_in_flight and not dry_run:
        with log.lock:  # a resume: the pause counts start afresh (digest.deliver.pause)
            note_counted_from(log.conn, issue.number)
    if local and not jobs and not dry_run:  # nobody's time now: no connection
        _log_owed(log, issue.number, template, owed)
        _settle_issue(log, issue.number, {r.key for r in recipients})
        return _with_message(SendReport(issue.number, "", seconds=time.monotonic() - started,
                                        **base))
    first = connect(smtp, password)  # fails before the log changes
    if dry_run:
        quit_quietly(first)
        return SendReport(
            issue.number, f"dry run: connected to {smtp.host}:{smtp.port} ({smtp.security}"
            f"{', logged in as ' + smtp.username if smtp.username else ''}); issue "
            f"#{issue.number} would go to {len(jobs)} recipient(s), nothing sent",
            in_flight=kept_in_flight, seconds=time.monotonic() - started, **base)
    try:
        if only_in_flight:  # in flight to someone no longer on the list: not re-sent
            keys = {r.key for r in recipients}
            for key in sorted(in_flight - keys):
                log.mark(issue.number, key, "suppressed", "not re-sent: suppressed or no "
                         "longer on the recipient list")
        _log_owed(log, issue.number, template, owed if local else jobs)
        if jobs:
            with log.lock:
                clear_pause(log.conn, issue.number)

    except BaseException:
        quit_quietly(first)
        raise
    run = Run(config, issue.number, template, log, jobs, stop, on_progress,
              listed.subscribers)
    try:
        run.go(first, password)
    finally:
        keys = {r.key for r in recipients}
        # A retry of the messages in flight leaves a paused issue paused: only
        # `--resume` takes up the rest.
        rows = _settle_issue(log, issue.number, keys, "paused" if only_in_flight and
                             issue.state == "paused" else "sending")
    left = any(rows.get(k) and rows[k].state in (*TO_SEND, "sending") for k in keys)
    paused = _paused(log, issue.number, run, left)
    all_in_flight = tuple(sorted(rows[k].address for k in keys
                                 if rows.get(k) and rows[k].state == "sending"))
    not_sent = sum(1 for j in jobs if rows[j.recipient.key].state == "pending")
    deferred = sum(1 for j in jobs if rows[j.recipient.key].state == "deferred")
    report = SendReport(
        issue.number, "", delivered=run.delivered, failed=run.failed, deferred=deferred,
        in_flight=all_in_flight, not_sent=not_sent, stopped=stop.is_set(),
        suppressed_during=run.suppressed, seconds=time.monotonic() - started, paused=paused,
        **base)
    return _with_message(report)


def _settle_issue(log: DeliveryLog, number: int, keys: set[str],
                  busy: IssueState = "sending") -> dict[str, Any]:
    """The issue is `sent` once no recipient on the list is owed it or in flight, else
    `busy`; returns its rows."""
    counts = log.counts(number)
    rows = log.rows(number)
    left = [k for k in keys if rows.get(k) and rows[k].state in (*TO_SEND, "sending")]
    log.set_issue_state(number, busy if left or counts["sending"] else "sent")
    return rows


def _log_owed(log: DeliveryLog, number: int, template: Letters,
              jobs: list[Job]) -> None:
    """Every recipient owed the issue as pending (the issue is then `sending`)."""
    log.add_pending(number, [(j.recipient.key, j.recipient.email,
                              template.message_id(j.recipient)) for j in jobs])
    if jobs:
        log.set_issue_state(number, "sending")


def _local_time(config: Config, issue: IssueRecord, log: DeliveryLog, jobs: list[Job],
                late: bool, only_in_flight: bool, now: datetime | None
                ) -> tuple[list[Job], list[Job], dict[str, Any]]:
    """[schedule] deliver = "local": (everyone owed, the jobs whose local time has come,
    the report's waiting/held fields); with slot delivery the jobs as they are. Every
    owed recipient is logged pending, so the issue stays `sending` until each zone's
    batch has gone (digest.deliver.zones)."""
    if config.schedule.deliver != "local" or only_in_flight:
        return jobs, jobs, {}
    from digest.clock import utcnow
    from digest.deliver.zones import max_lateness_of, plan_batches, zone_of

    with log.lock:
        zone = zone_of(config, log.conn)
    batches = plan_batches(config, issue, [(j.recipient.key, zone(j.recipient.key,
                                                                   j.recipient.fields))
                                           for j in jobs], now or utcnow())
    lateness = max_lateness_of(config)
    held = tuple(b.describe(issue.number, lateness, late) for b in batches
                 if b.state == "held")
    for line in held:  # held and named; or, with `late`, sent late and named
        logger.warning("%s", line)
    go = {k for b in batches if b.state == "due" or (late and b.state == "held")
          for k in b.keys}
    waiting = sum(len(b.keys) for b in batches if b.state == "waiting")
    return jobs, [j for j in jobs if j.recipient.key in go], \
        {"waiting": waiting, "held": () if late else held,
         "held_readers": 0 if late else sum(len(b.keys) for b in batches if b.state == "held")}


def _with_message(r: SendReport) -> SendReport:

    parts = [f"issue #{r.issue}: {r.delivered} delivered"]
    if r.already_delivered:
        parts.append(f"{r.already_delivered} delivered before")
    parts.append(f"{r.failed} failed permanently")
    parts.append(f"{r.deferred} deferred")
    if r.in_flight:
        parts.append(f"{len(r.in_flight)} in flight")
    if r.suppressed:
        parts.append(f"{r.suppressed} suppressed")
    if r.suppressed_during:
        parts.append(f"{r.suppressed_during} unsubscribed during the send (not sent)")
    if r.not_sent:
        parts.append(f"{r.not_sent} not sent ({'paused' if r.paused else 'stopped'})")
    if r.waiting:
        parts.append(f"{r.waiting} waiting for their local time")
    if r.held:
        parts.append(f"{r.held_readers} held (too late in {len(r.held)} zone(s))")
    return replace(r, message=", ".join(parts) + f" in {r.seconds:.1f}s")


__all__ = ["InFlightResolution", "Progress", "SendReport", "connect", "connection",
           "in_flight_warning", "resolve_in_flight", "send_issue", "send_test",
           "send_test_folder"]

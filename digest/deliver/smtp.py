"""Send a built issue to the subscriber list over SMTP: exactly once, resumable.

`send_issue` holds the state lock, opens one connection first (so a wrong password
or host fails before the delivery log is touched), logs every recipient as pending,
then runs `[smtp] connections` worker threads. Each worker keeps its connection
open across messages and, per recipient: MAIL, RCPT, DATA; on the server's 354 it
commits the row as `sending`, transmits the pre-encoded message and commits the
reply (`delivered`, `failed` on 5xx, `deferred` and requeued with backoff on 4xx).
A connection lost before the message went out is retried like a 4xx; lost after
the message went out but before the reply, the row stays `sending` (in flight) and
is re-sent only when asked (`resend_in_flight`), so no one gets an issue twice.
"""

from __future__ import annotations

import smtplib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

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
from digest.errors import DeliveryError
from digest.models import IssueRecord
from digest.outbox.folder import IssueFolder
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
    suppressed: int = 0
    not_sent: int = 0  # never attempted because of a stop
    stopped: bool = False
    dry_run: bool = False
    problems: tuple[str, ...] = field(default=())  # recipient list rows skipped
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return not (self.deferred or self.in_flight or self.not_sent)


def send_issue(
    config: Config,
    number: int | None = None,
    *,
    dry_run: bool = False,
    resend_in_flight: bool = False,
    stop: threading.Event | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> SendReport:
    """Send issue `number` (None: the latest issue not fully sent) to every subscriber
    who hasn't had it. Setting `stop` lets messages in progress finish, records them
    and returns. Raises DeliveryError when the server can't be reached or refuses the
    login (before anything is logged)."""
    load_secret(config)  # a missing token secret stops us before anything else
    stop = stop or threading.Event()
    started = time.monotonic()
    with state_lock(config.state_path, config.state.lock_timeout):
        store = open_store(config.state_path)
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
        finally:
            store.close()
        log = DeliveryLog.open_shared(config.state_path)
        try:
            return _send(config, issue, folder, log, dry_run=dry_run,
                         resend_in_flight=resend_in_flight,
                         stop=stop, on_progress=on_progress, started=started)
        finally:
            log.close()


def send_test(config: Config, number: int | None, addresses: list[str]) -> SendReport:
    """Send issue `number` (None: the latest built) to `addresses` only, its subject
    marked [TEST]. Nothing is logged and no suppression applies: the list's record of
    the issue is untouched, and the real send later goes to everyone as before."""
    load_secret(config)
    started = time.monotonic()
    store = open_readonly(config.state_path)
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
          dry_run: bool, resend_in_flight: bool, stop: threading.Event,
          on_progress: Callable[[Progress], None] | None, started: float) -> SendReport:
    template = MessageTemplate.for_issue(config, folder)
    listed = load_recipients(config)
    suppressed = log.suppressed()
    recipients = [r for r in listed.recipients if r.key not in suppressed]
    logged = log.rows(issue.number)
    done_before = {k for k, d in logged.items() if d.state == "delivered"}
    failed_before = {k for k, d in logged.items() if d.state == "failed"}
    in_flight = {k for k, d in logged.items() if d.state == "sending"}
    jobs = [Job(r) for r in recipients
            if r.key not in done_before and r.key not in failed_before
            and (r.key not in in_flight or resend_in_flight)]
    kept_in_flight = tuple(sorted(logged[r.key].address for r in recipients
                                  if r.key in in_flight and not resend_in_flight))
    base: dict[str, Any] = dict(recipients=len(recipients), to_send=len(jobs),
                already_delivered=sum(r.key in done_before for r in recipients),
                previously_failed=sum(r.key in failed_before for r in recipients),
                suppressed=len(listed.recipients) - len(recipients), problems=listed.problems,
                dry_run=dry_run)
    smtp = config.smtp
    password = password_for(smtp)
    if jobs and recipients:
        template.wire(jobs[0].recipient)  # a broken template or DKIM key fails here
    first = connect(smtp, password)  # fails before the log changes
    if dry_run:
        quit_quietly(first)
        return SendReport(
            issue.number, f"dry run: connected to {smtp.host}:{smtp.port} ({smtp.security}"
            f"{', logged in as ' + smtp.username if smtp.username else ''}); issue "
            f"#{issue.number} would go to {len(jobs)} recipient(s), nothing sent",
            in_flight=kept_in_flight, seconds=time.monotonic() - started, **base)
    log.add_pending(issue.number, [(j.recipient.key, j.recipient.email,
                                    template.message_id(j.recipient)) for j in jobs])
    if jobs:
        log.set_issue_state(issue.number, "sending")
    run = Run(config, issue.number, template, log, jobs, stop, on_progress)
    try:
        run.go(first, password)
    finally:
        counts = log.counts(issue.number)
        keys = {r.key for r in recipients}
        rows = log.rows(issue.number)
        left = [k for k in keys if rows.get(k) and rows[k].state in (*TO_SEND, "sending")]
        log.set_issue_state(issue.number, "sending" if left or counts["sending"] else "sent")
    all_in_flight = tuple(sorted(rows[k].address for k in keys
                                 if rows.get(k) and rows[k].state == "sending"))
    not_sent = sum(1 for j in jobs if rows[j.recipient.key].state == "pending")
    deferred = sum(1 for j in jobs if rows[j.recipient.key].state == "deferred")
    report = SendReport(
        issue.number, "", delivered=run.delivered, failed=run.failed, deferred=deferred,
        in_flight=all_in_flight, not_sent=not_sent, stopped=stop.is_set(),
        seconds=time.monotonic() - started, **base)
    return _with_message(report)


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
    if r.not_sent:
        parts.append(f"{r.not_sent} not sent (stopped)")
    return replace(r, message=", ".join(parts) + f" in {r.seconds:.1f}s")


__all__ = ["Progress", "SendReport", "connect", "send_issue"]


__all__ = ["Progress", "SendReport", "connect", "connection", "send_issue", "send_test",
           "send_test_folder"]

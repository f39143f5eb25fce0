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

import heapq
import itertools
import os
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from digest.config.load import Config, SmtpConfig
from digest.deliver.message import MessageTemplate
from digest.deliver.recipients import Recipient, load_recipients
from digest.deliver.redact import redact, secret_forms
from digest.errors import ConfigError, DeliveryError
from digest.models import DeliveryState, IssueRecord
from digest.outbox.folder import IssueFolder
from digest.state.deliveries import TO_SEND, DeliveryLog
from digest.state.lock import state_lock
from digest.state.store import Store, open_readonly, open_store
from digest.tokens import load_secret


@dataclass(frozen=True)
class Progress:
    """One recipient reached a final state for this run (passed to on_progress)."""

    email: str
    state: DeliveryState  # never "pending" here; "sending": in flight
    reply: str
    done: int
    total: int


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
    secrets = secret_forms(config.smtp.username, _password(config.smtp))
    delivered: list[str] = []
    refused: list[str] = []
    with connection(config.smtp) as conn:
        for recipient, data in messages:
            try:
                conn.sendmail(template.envelope_for(recipient), [recipient.email], data)
                delivered.append(recipient.email)
            except smtplib.SMTPRecipientsRefused as e:
                code, reply = e.recipients[recipient.email]
                refused.append(f"{recipient.email}: {_text(code, reply, secrets)}")
            except smtplib.SMTPResponseException as e:
                refused.append(f"{recipient.email}: {_text(e.smtp_code, e.smtp_error, secrets)}")
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


@dataclass
class _Job:
    recipient: Recipient
    tries: int = 0  # this run


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
    jobs = [_Job(r) for r in recipients
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
    password = _password(smtp)
    if jobs and recipients:
        template.wire(jobs[0].recipient)  # a broken template or DKIM key fails here
    first = connect(smtp, password)  # fails before the log changes
    if dry_run:
        _quit(first)
        return SendReport(
            issue.number, f"dry run: connected to {smtp.host}:{smtp.port} ({smtp.security}"
            f"{', logged in as ' + smtp.username if smtp.username else ''}); issue "
            f"#{issue.number} would go to {len(jobs)} recipient(s), nothing sent",
            in_flight=kept_in_flight, seconds=time.monotonic() - started, **base)
    log.add_pending(issue.number, [(j.recipient.key, j.recipient.email,
                                    template.message_id(j.recipient)) for j in jobs])
    if jobs:
        log.set_issue_state(issue.number, "sending")
    run = _Run(config, issue.number, template, log, jobs, stop, on_progress)
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
    from dataclasses import replace

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


def _password(smtp: SmtpConfig) -> str | None:
    if not smtp.username:
        return None
    if not smtp.password_env:
        raise ConfigError(f"[smtp] password_env: missing; name the environment variable that "
                          f"holds the password for [smtp] username {smtp.username!r}")
    password = os.environ.get(smtp.password_env)
    if password is None:
        raise DeliveryError(
            f"environment variable {smtp.password_env} ([smtp] password_env) is not set; "
            f"export it with the password for {smtp.username!r} at {smtp.host}:{smtp.port}")
    return password


_LOCAL_NAME = socket.gethostname() or "localhost"


@contextmanager
def connection(smtp: SmtpConfig) -> Iterator[smtplib.SMTP]:
    """A logged-in connection for a few messages outside a send (a test send, a
    subscription's confirmation), closed after."""
    conn = connect(smtp, _password(smtp))
    try:
        yield conn
    finally:
        _quit(conn)


def connect(smtp: SmtpConfig, password: str | None) -> smtplib.SMTP:
    """Connect, say EHLO, STARTTLS or TLS as configured, log in. DeliveryError names
    the host, port and the config key to check; the password never appears, not even
    when the server echoes it (see digest.deliver.redact)."""
    where = f"{smtp.host}:{smtp.port}"
    secrets = secret_forms(smtp.username, password)
    context = ssl.create_default_context(cafile=smtp.ca_file or None) \
        if smtp.security != "none" else None
    conn: smtplib.SMTP | None = None
    try:
        if smtp.security == "tls":
            conn = smtplib.SMTP_SSL(smtp.host, smtp.port, local_hostname=_LOCAL_NAME,
                                    timeout=smtp.timeout, context=context)
        else:
            conn = smtplib.SMTP(smtp.host, smtp.port, local_hostname=_LOCAL_NAME,
                                timeout=smtp.timeout)
        conn.ehlo()
        if smtp.security == "starttls":
            if not conn.has_extn("starttls"):
                raise DeliveryError(f"SMTP server {where} does not offer STARTTLS; check "
                                    "[smtp] security ('tls' for port 465, 'none' for a "
                                    "trusted local relay)")
            conn.starttls(context=context)
            conn.ehlo()
        if smtp.username:
            conn.login(smtp.username, password or "")
        return conn
    except DeliveryError:
        _quit(conn)
        raise
    except smtplib.SMTPAuthenticationError as e:
        _quit(conn)
        raise DeliveryError(
            f"SMTP server {where} refused the login for {smtp.username!r} "
            f"({_reply(e, secrets, auth=True)}); "
            f"check [smtp] username and the password in ${smtp.password_env} "
            "([smtp] password_env)") from None
    except UnicodeEncodeError:  # smtplib sends the login in ASCII only
        _quit(conn)
        raise DeliveryError(
            f"cannot log in to SMTP server {where}: [smtp] username or the password in "
            f"${smtp.password_env} ([smtp] password_env) is not ASCII") from None
    except smtplib.SMTPNotSupportedError:
        _quit(conn)
        raise DeliveryError(
            f"SMTP server {where} does not offer AUTH on this connection; check [smtp] "
            "security (most servers allow login only after STARTTLS) and [smtp] "
            "username") from None
    except ssl.SSLError as e:
        _quit(conn)
        raise DeliveryError(
            f"TLS with SMTP server {where} failed ({e.reason or e}); check [smtp] security "
            "('tls' for port 465, 'starttls' for 587) and [smtp] ca_file") from None
    except smtplib.SMTPResponseException as e:
        _quit(conn)
        raise DeliveryError(f"SMTP server {where} refused us ({_reply(e, secrets)}); check "
                            "[smtp] host and port") from None
    except (OSError, smtplib.SMTPException) as e:
        _quit(conn)
        reason = e.strerror if isinstance(e, OSError) and e.strerror else \
            redact(str(e), secrets) or type(e).__name__
        raise DeliveryError(f"cannot connect to SMTP server {where}: {reason}; check [smtp] "
                            "host, port and security") from None


def _reply(e: smtplib.SMTPResponseException, secrets: tuple[str, ...], *,
           auth: bool = False) -> str:
    """The server's reply, one line, redacted (`auth`: a reply to AUTH)."""
    return _text(e.smtp_code, e.smtp_error, secrets, auth=auth)


def _quit(conn: smtplib.SMTP | None) -> None:
    if conn is None:
        return
    try:
        conn.quit()
    except (OSError, smtplib.SMTPException):
        conn.close()


class _Limiter:
    """A shared pace of `rate` messages per second across all connections."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next = time.monotonic()
        self.lock = threading.Lock()

    def wait(self, stop: threading.Event) -> bool:
        if not self.interval:
            return not stop.is_set()
        with self.lock:
            now = time.monotonic()
            slot = max(now, self.next)
            self.next = slot + self.interval
        delay = slot - time.monotonic()
        return not stop.wait(delay) if delay > 0 else not stop.is_set()


class _Queue:
    """Jobs by due time; `take` returns None when all are finished or on stop."""

    def __init__(self, jobs: list[_Job]) -> None:
        self.cond = threading.Condition()
        self.order = itertools.count()
        self.heap = [(0.0, next(self.order), j) for j in jobs]
        self.outstanding = len(jobs)

    def take(self, stop: threading.Event) -> _Job | None:
        with self.cond:
            while True:
                if stop.is_set() or self.outstanding == 0:
                    return None
                now = time.monotonic()
                if self.heap and self.heap[0][0] <= now:
                    return heapq.heappop(self.heap)[2]
                wait = self.heap[0][0] - now if self.heap else 0.1
                self.cond.wait(min(wait, 0.1))

    def again(self, job: _Job, delay: float) -> None:
        with self.cond:
            heapq.heappush(self.heap, (time.monotonic() + delay, next(self.order), job))
            self.cond.notify()

    def finished(self) -> None:
        with self.cond:
            self.outstanding -= 1
            if self.outstanding == 0:
                self.cond.notify_all()


class _Dropped(Exception):
    """The connection went away before the message was sent: safe to retry."""


class _Run:
    def __init__(self, config: Config, issue: int, template: MessageTemplate,
                 log: DeliveryLog, jobs: list[_Job], stop: threading.Event,
                 on_progress: Callable[[Progress], None] | None) -> None:
        self.smtp = config.smtp
        self.issue = issue
        self.template = template
        self.log = log
        self.queue = _Queue(jobs)
        self.total = len(jobs)
        self.stop = stop
        self.on_progress = on_progress
        self.limiter = _Limiter(self.smtp.rate_per_second)
        self.lock = threading.Lock()
        self.done = self.delivered = self.failed = 0
        self.errors: list[BaseException] = []
        self.secrets: tuple[str, ...] = ()  # the password's forms, kept out of replies

    def go(self, first: smtplib.SMTP, password: str | None) -> None:
        self.secrets = secret_forms(self.smtp.username, password)
        workers = max(1, min(self.smtp.connections, self.total))
        threads = [threading.Thread(target=self._worker, args=(first if i == 0 else None,
                                                              password),
                                    name=f"smtp-{i}", daemon=True) for i in range(workers)]
        if not self.total:
            _quit(first)
            return
        for t in threads:
            t.start()
        try:
            for t in threads:
                while t.is_alive():
                    t.join(0.2)
        except BaseException:
            self.stop.set()  # e.g. KeyboardInterrupt: let messages in progress finish
            for t in threads:
                t.join()
            raise
        if self.errors:
            raise self.errors[0]

    def _worker(self, conn: smtplib.SMTP | None, password: str | None) -> None:
        try:
            while (job := self.queue.take(self.stop)) is not None:
                if not self.limiter.wait(self.stop):
                    self.queue.again(job, 0)
                    break
                if conn is None:
                    try:
                        conn = connect(self.smtp, password)
                    except DeliveryError as e:
                        self._retry(job, str(e))
                        continue
                try:
                    conn = self._deliver(conn, job)
                except _Dropped as e:
                    conn = None
                    self._retry(job, str(e))
        except BaseException as e:  # a bug or the database: stop everyone, re-raise
            self.errors.append(e)
            self.stop.set()
        finally:
            _quit(conn)

    def _deliver(self, conn: smtplib.SMTP, job: _Job) -> smtplib.SMTP | None:
        """One transaction. Returns the connection, or None when it must be reopened."""
        recipient = job.recipient
        data = self.template.wire(recipient)
        try:
            code, reply = conn.mail(self.template.envelope_for(recipient))
            if code == 250:
                code, reply = conn.rcpt(recipient.email)
            if code in (250, 251):
                conn.putcmd("data")
                code, reply = conn.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as e:
            _close(conn)
            raise _Dropped(f"connection lost: {e or type(e).__name__}") from None
        if code != 354:
            return self._refused(conn, job, code, reply)
        self.log.mark(self.issue, recipient.key, "sending", attempt=True)
        try:
            conn.send(data)
        except (smtplib.SMTPServerDisconnected, OSError) as e:
            # sendall failed: the end-of-data dot never arrived, nothing was accepted
            _close(conn)
            job.tries += 1
            self._requeue(job, f"connection lost while sending: {e or type(e).__name__}")
            return None
        try:
            code, reply = conn.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as e:
            _close(conn)
            self.log.mark(self.issue, recipient.key, "sending",
                          f"connection lost after the message was sent, before the server "
                          f"confirmed it ({e or type(e).__name__}); re-send with "
                          "--resend-in-flight if it did not arrive")
            self._final(recipient, "sending", "unconfirmed")
            return None
        text = _text(code, reply, self.secrets)
        if 200 <= code < 300:
            self.log.mark(self.issue, recipient.key, "delivered", text)
            self._final(recipient, "delivered", text)
        elif 400 <= code < 500:
            job.tries += 1
            self._requeue(job, text)
            if code == 421:
                _close(conn)
                return None
        else:
            self.log.mark(self.issue, recipient.key, "failed", text)
            self._final(recipient, "failed", text)
        return conn

    def _refused(self, conn: smtplib.SMTP, job: _Job, code: int, reply: bytes
                 ) -> smtplib.SMTP | None:
        """MAIL, RCPT or DATA was refused: nothing was sent."""
        text = _text(code, reply, self.secrets)
        key = job.recipient.key
        if 500 <= code < 600:
            self.log.mark(self.issue, key, "failed", text, attempt=True)
            self._final(job.recipient, "failed", text)
        else:
            job.tries += 1
            self.log.mark(self.issue, key, "deferred", text, attempt=True)
            self._requeue(job, text, logged=True)
        if code == 421 or code == -1:
            _close(conn)
            return None
        try:
            conn.rset()
        except (smtplib.SMTPException, OSError):
            _close(conn)
            return None
        return conn

    def _retry(self, job: _Job, reason: str) -> None:
        job.tries += 1
        self.log.mark(self.issue, job.recipient.key, "deferred", reason, attempt=True)
        self._requeue(job, reason, logged=True)

    def _requeue(self, job: _Job, reply: str, *, logged: bool = False) -> None:
        if not logged:
            self.log.mark(self.issue, job.recipient.key, "deferred", reply)
        if job.tries >= self.smtp.max_attempts:
            self._final(job.recipient, "deferred", reply)
        else:
            self.queue.again(job, self.smtp.retry_delay * 2 ** (job.tries - 1))

    def _final(self, recipient: Recipient, state: DeliveryState, reply: str) -> None:
        with self.lock:
            self.done += 1
            self.delivered += state == "delivered"
            self.failed += state == "failed"
            done = self.done
        self.queue.finished()
        if self.on_progress:
            self.on_progress(Progress(recipient.email, state, reply, done, self.total))


def _text(code: int, reply: bytes | str, secrets: tuple[str, ...], *,
          auth: bool = False) -> str:
    """A server reply as logged and shown: one line, without the password."""
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    return redact(f"{code} {' '.join(text.split())}", secrets, auth=auth)


def _close(conn: smtplib.SMTP) -> None:
    try:
        conn.close()
    except OSError:
        pass


__all__ = ["Progress", "SendReport", "connect", "send_issue"]

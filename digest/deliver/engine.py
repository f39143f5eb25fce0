"""The send itself: `[smtp] connections` worker threads, each keeping its connection
open across messages and, per recipient, MAIL, RCPT, DATA; the row is committed as
`sending` on the server's 354 and as the reply's outcome after it (see digest.deliver.smtp
for the rules).

Just before each message (a retry too) the recipient is looked up again in the
suppression list, and, if the address came from the subscribers table, its status: a
reader who unsubscribes while a long send runs is not mailed after that (the row becomes
`suppressed`). One indexed look-up per message: cheaper than the SMTP round trips.

The message goes out in two writes: everything but the end-of-data dot, then a look at
the connection, then the dot. A connection found closed before the dot was written
cannot have delivered anything (the server only accepts at the dot): the message is
retried. Lost after the dot, before the reply, it may have arrived: the row stays
`sending` (in flight) for the operator to resolve (`digest send N --resolve-in-flight`).
"""

from __future__ import annotations

import smtplib
import threading
from collections.abc import Callable
from dataclasses import dataclass

from digest.config.schema import Config
from digest.deliver.connection import (
    close_quietly,
    connect,
    quiet_since_data,
    quit_quietly,
    reply_line,
)
from digest.deliver.limiter import Job, JobQueue, Limiter
from digest.deliver.pause import PauseWatch
from digest.deliver.recipients import Recipient
from digest.deliver.redact import secret_forms
from digest.deliver.variants import Letters  # a MessageTemplate, or one per topic edition
from digest.errors import DeliveryError, HeaderRefused
from digest.models import DeliveryState
from digest.state.deliveries import DeliveryLog


@dataclass(frozen=True)
class Progress:
    """One recipient reached a final state for this run (passed to on_progress)."""

    email: str
    state: DeliveryState  # never "pending" here; "sending": in flight
    reply: str
    done: int
    total: int


def in_flight_reply(issue: int, reason: str) -> str:
    """The last reply recorded for a message lost after its end-of-data dot."""
    return (f"connection lost after the whole message was sent, before the server "
            f"answered ({reason}): it may have arrived; see `digest send {issue} "
            "--resolve-in-flight`")


class Dropped(Exception):
    """The connection went away before the message was sent: safe to retry."""


class Run:
    def __init__(self, config: Config, issue: int, template: Letters,
                 log: DeliveryLog, jobs: list[Job], stop: threading.Event,
                 on_progress: Callable[[Progress], None] | None,
                 subscribers: frozenset[str] = frozenset()) -> None:
        self.smtp = config.smtp
        self.subscribers = subscribers  # keys that came from the subscribers table
        self.issue = issue
        self.template = template
        self.log = log
        self.queue = JobQueue(jobs)
        self.total = len(jobs)
        self.stop = stop
        self.on_progress = on_progress
        self.limiter = Limiter(self.smtp.rate_per_second)
        self.lock = threading.Lock()
        self.done = self.delivered = self.failed = self.suppressed = 0
        self.errors: list[BaseException] = []
        self.secrets: tuple[str, ...] = ()  # the password's forms, kept out of replies
        self.pause = PauseWatch(config.delivery, issue, log,
                                whole_issue=config.schedule.deliver == "local")

    def go(self, first: smtplib.SMTP, password: str | None) -> None:
        self.secrets = secret_forms(self.smtp.username, password)
        workers = max(1, min(self.smtp.connections, self.total))
        threads = [threading.Thread(target=self._worker, args=(first if i == 0 else None,
                                                              password),
                                    name=f"smtp-{i}", daemon=True) for i in range(workers)]
        if not self.total:
            quit_quietly(first)
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
                if self._unwanted(job):
                    continue
                if conn is None:
                    try:
                        conn = connect(self.smtp, password)
                    except DeliveryError as e:
                        self._retry(job, str(e))
                        continue
                try:
                    conn = self._deliver(conn, job)
                except Dropped as e:
                    conn = None
                    self._retry(job, str(e))
        except BaseException as e:  # a bug or the database: stop everyone, re-raise
            self.errors.append(e)
            self.stop.set()
        finally:
            quit_quietly(conn)

    def _deliver(self, conn: smtplib.SMTP, job: Job) -> smtplib.SMTP | None:
        """One transaction. Returns the connection, or None when it must be reopened."""
        recipient = job.recipient
        try:
            data = self.template.wire(recipient)
        except HeaderRefused as e:  # this address's message only: it fails, the rest go on
            self.log.mark(self.issue, recipient.key, "failed", str(e), attempt=True)
            self._final(recipient, "failed", str(e))
            return conn
        try:
            code, reply = conn.mail(self.template.envelope_for(recipient))
            if code == 250:
                code, reply = conn.rcpt(recipient.email)
            if code in (250, 251):
                conn.putcmd("data")
                code, reply = conn.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as e:
            close_quietly(conn)
            raise Dropped(f"connection lost: {e or type(e).__name__}") from None
        if code != 354:
            return self._refused(conn, job, code, reply)
        try:
            self.log.mark(self.issue, recipient.key, "sending", attempt=True,
                          variant=self.template.variant(recipient))
        except BaseException:
            close_quietly(conn)  # no end-of-data dot: the server keeps nothing
            raise
        assert data.endswith(b"\r\n.\r\n")  # wire()'s end-of-data line
        body, dot = data[:-3], data[-3:]
        try:
            sock = conn.sock
            if sock is None:
                raise ConnectionResetError("the connection was closed")
            sock.sendall(body)
            if not quiet_since_data(sock):
                raise ConnectionResetError("the server closed the connection during DATA")
            sock.sendall(dot)
        except OSError as e:
            # The dot never left this side: whatever the server read, it has not
            # accepted the message. Retrying cannot deliver it twice.
            close_quietly(conn)
            job.tries += 1
            self._requeue(job, f"connection lost before the end of the message was sent "
                               f"({_reason(e)}); retried")
            return None
        try:
            code, reply = conn.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as e:
            close_quietly(conn)
            text = in_flight_reply(self.issue, _reason(e))
            self.log.mark(self.issue, recipient.key, "sending", text)
            self._final(recipient, "sending", text)
            return None
        text = reply_line(code, reply, self.secrets)
        if 200 <= code < 300:
            self.log.mark(self.issue, recipient.key, "delivered", text)
            self._final(recipient, "delivered", text)
        elif 400 <= code < 500:
            job.tries += 1
            self._requeue(job, text)
            if code == 421:
                close_quietly(conn)
                return None
        else:
            self.log.mark(self.issue, recipient.key, "failed", text)
            self._final(recipient, "failed", text)
        return conn

    def _refused(self, conn: smtplib.SMTP, job: Job, code: int, reply: bytes
                 ) -> smtplib.SMTP | None:
        """MAIL, RCPT or DATA was refused: nothing was sent."""
        text = reply_line(code, reply, self.secrets)
        key = job.recipient.key
        if 500 <= code < 600:
            self.log.mark(self.issue, key, "failed", text, attempt=True)
            self._final(job.recipient, "failed", text)
        else:
            job.tries += 1
            self.log.mark(self.issue, key, "deferred", text, attempt=True)
            self._requeue(job, text, logged=True)
        if code == 421 or code == -1:
            close_quietly(conn)
            return None
        try:
            conn.rset()
        except (smtplib.SMTPException, OSError):
            close_quietly(conn)
            return None
        return conn

    def _unwanted(self, job: Job) -> bool:
        """Unsubscribed (or suppressed) since the send began: never sent, recorded so."""
        key = job.recipient.key
        why = self.log.unwanted(key, subscriber=key in self.subscribers)
        if why is None:
            return False
        text = f"not sent: {why} while the send ran"
        self.log.mark(self.issue, key, "suppressed", text)
        self._final(job.recipient, "suppressed", text)
        return True

    def _retry(self, job: Job, reason: str) -> None:
        job.tries += 1
        self.log.mark(self.issue, job.recipient.key, "deferred", reason, attempt=True)
        self._requeue(job, reason, logged=True)

    def _requeue(self, job: Job, reply: str, *, logged: bool = False) -> None:
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
            self.suppressed += state == "suppressed"
            done = self.done
        self._watch(state, reply)
        self.queue.finished()
        if self.on_progress:
            self.on_progress(Progress(recipient.email, state, reply, done, self.total))


    def _watch(self, state: DeliveryState, reply: str) -> None:
        """The `[delivery] pause_*` thresholds (digest.deliver.pause): once one is
        passed no new message starts; those in progress finish."""
        if self.pause.outcome(state, reply):
            self.stop.set()


def _reason(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e) or type(e).__name__

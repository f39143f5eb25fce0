"""The worker that sends `digest serve`'s confirmation mails: a thread of its own,
started and stopped with the server, reading the queue in the state database
(digest.state.confirmations). One mail at a time, each on its own SMTP connection with
`[smtp] timeout`; a relay that accepts and never answers costs this thread that long,
never a reader's request. A 4xx, a refused connection or no answer is retried after
`[web] confirm_retry_delay` seconds, doubling, up to `[web] confirm_attempts` tries; a
5xx fails the mail at once. Each pass also expires pending sign-ups whose link can no
longer work.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from digest import metrics
from digest.config.schema import Config
from digest.deliver.confirmation import CONFIRM_SECONDS, ConfirmationRefused, deliver_confirmation
from digest.deliver.message import load_dkim
from digest.errors import DeliveryError
from digest.state.confirmations import Confirmations, Queued
from digest.tokens import make_token

LIFETIME_MS = CONFIRM_SECONDS * 1000
# How often the worker looks at the queue. A sign-up does not wake it: a mail sent while
# the answer is still on its way would make a new address's answer slower than a known
# one's (digest.state.deliveries.Subscribers.request does the same work for both).
IDLE_SECONDS = 1.0
EXPIRE_EVERY_MS = 60_000
log = logging.getLogger("digest.web.confirmations")


def confirm_token(secret: bytes, email: str, issued_ms: int) -> str:
    """The token of a confirmation link: the address and when its link expires."""
    return make_token(secret, f"confirm {issued_ms + LIFETIME_MS} {email}")


class ConfirmationWorker:
    """`start()` once the database is migrated, `stop()` at the end."""

    def __init__(self, config: Config, secret: bytes, base: str,
                 clock: Callable[[], float]) -> None:
        self.config, self.secret, self.base, self.clock = config, secret, base, clock
        self.db: Path | str = config.state_db
        self.dkim = load_dkim(config)  # a bad key stops `digest serve` at start
        self.attempts = config.web.confirm_attempts
        self.delay = config.web.confirm_retry_delay
        self._wake = threading.Event()
        self._expired_at = -EXPIRE_EVERY_MS
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="digest-confirmations",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the worker to stop and wait up to `timeout` seconds (a mail being sent
        finishes, or stays queued for the next start)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _run(self) -> None:
        # One connection for the worker's life: besides being cheaper, it keeps a web
        # request's connection from being the database's last one, whose closing
        # checkpoints the WAL (several fsyncs: 20 ms added to each sign-up's answer).
        with Confirmations.opened(self.db) as queue:
            while not self._stop.is_set():
                try:
                    busy = self.step(queue)
                except Exception as e:  # noqa: BLE001 - a locked or broken database: later
                    log.error("confirmation queue: %s", e)
                    busy = False
                if not busy:
                    self._wake.wait(IDLE_SECONDS)
                    self._wake.clear()

    def step(self, queue: Confirmations) -> bool:
        """Expire what is stale (once a minute), then send the next due mail; False when
        none was due."""
        now = self.now_ms()
        if not now - EXPIRE_EVERY_MS < self._expired_at <= now:
            queue.expire(now, LIFETIME_MS)
            self._expired_at = now
        job = queue.next_due(now)
        if job is None:
            return False
        outcome = self._send(job, now)
        if outcome is None:
            queue.sent(job, self.now_ms())
            metrics.count("confirmations_sent")
        elif isinstance(outcome, ConfirmationRefused) or job.attempts + 1 >= self.attempts:
            queue.fail(job, str(outcome))
            metrics.count("confirmations_failed")
            log.warning("confirmation mail not sent, giving up after %d attempt(s): %s",
                        job.attempts + 1, outcome)
        else:
            wait_ms = int(self.delay * 1000 * 2 ** job.attempts)
            queue.retry(job, self.now_ms() + wait_ms, str(outcome))
            metrics.count("confirmations_retried")
            log.warning("confirmation mail not sent (attempt %d of %d), retrying in "
                        "%.0f s: %s", job.attempts + 1, self.attempts, wait_ms / 1000,
                        outcome)
        return True

    def _send(self, job: Queued, now_ms: int) -> DeliveryError | None:
        if job.issued_ms + LIFETIME_MS <= now_ms:
            return ConfirmationRefused("its link expired before it could be sent")
        link = f"{self.base}/confirm?token={confirm_token(self.secret, job.address, job.issued_ms)}"
        try:
            deliver_confirmation(self.config, job.address, link, self.dkim)
        except DeliveryError as e:
            return e
        except OSError as e:  # the outbox folder
            return DeliveryError(f"confirmation not written: {e}")
        return None

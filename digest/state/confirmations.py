"""The queue of confirmation mails (`digest serve`): rows that Subscribers.request
writes in the transaction that records a sign-up, and that the server's worker
(digest.deliver.confirm_queue) sends one at a time.

States of a row:

    queued ──> sent        the server took the message
       │  └──> failed      5xx, the attempts used up, or the link expired unsent
       └─(4xx, no answer)─> queued again, `next_ms` later (backoff)
    skipped                no mail was due (active already, suppressed, one sent in
                           the last hour): written so every sign-up does the same work

A row stays `queued` while it is being sent: a server killed mid-send sends it again
after a restart (a second confirmation mail is harmless; a lost one is a lost reader).
Times are integer milliseconds, as the confirmation token carries them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from digest.state.backend import Connection, Where
from digest.state.deliveries import _shared_connection, stamp_ms


@dataclass(frozen=True)
class Queued:
    id: int
    email: str  # the key (lower case)
    address: str  # as given
    issued_ms: int  # when asked: the token's time
    attempts: int


class Confirmations:
    """Queries over `confirmations` (and the pending subscribers it expires)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @classmethod
    @contextmanager
    def opened(cls, path: Where) -> Iterator[Confirmations]:
        conn = _shared_connection(path)
        try:
            yield cls(conn)
        finally:
            conn.close()

    def next_due(self, now_ms: int) -> Queued | None:
        """The oldest queued mail whose time has come."""
        row = self.conn.execute(
            "SELECT id, email, address, issued_ms, attempts FROM confirmations "
            "WHERE state = 'queued' AND next_ms <= ? ORDER BY next_ms, id LIMIT 1",
            (now_ms,)).fetchone()
        return Queued(*row) if row else None

    def next_time(self) -> int | None:
        """When the next queued mail is due (milliseconds), or None."""
        row = self.conn.execute(
            "SELECT MIN(next_ms) FROM confirmations WHERE state = 'queued'").fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def sent(self, job: Queued, now_ms: int) -> None:
        self.conn.execute(
            "UPDATE confirmations SET state = 'sent', sent_ms = ?, attempts = attempts + 1, "
            "last_error = NULL WHERE id = ?", (now_ms, job.id))

    def retry(self, job: Queued, at_ms: int, reason: str) -> None:
        self.conn.execute(
            "UPDATE confirmations SET next_ms = ?, attempts = attempts + 1, last_error = ? "
            "WHERE id = ?", (at_ms, reason, job.id))

    def fail(self, job: Queued, reason: str) -> None:
        """Never sent: the address's hourly slot stays free (a new sign-up queues anew)."""
        self.conn.execute(
            "UPDATE confirmations SET state = 'failed', attempts = attempts + 1, "
            "last_error = ? WHERE id = ?", (reason, job.id))

    def states(self, email: str) -> list[str]:
        """The states of an address's rows, oldest first (for tests and `doctor`)."""
        return [str(r[0]) for r in self.conn.execute(
            "SELECT state FROM confirmations WHERE email = ? ORDER BY id", (email.lower(),))]

    def expire(self, now_ms: int, lifetime_ms: int) -> tuple[int, int]:
        """Forget what a confirmation can no longer change: pending web sign-ups whose
        newest link has expired (or who never had one), and queue rows older than a
        link lives. A pending row from elsewhere (`digest subscribers import`) is the
        operator's record and stays. One transaction; returns (subscribers, rows)
        removed."""
        cutoff = now_ms - lifetime_ms
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            people = self.conn.execute(
                """DELETE FROM subscribers WHERE status = 'pending' AND source = 'web'
                     AND updated_at < ?
                     AND NOT EXISTS (SELECT 1 FROM confirmations c
                                     WHERE c.email = subscribers.email AND c.issued_ms > ?)""",
                (stamp_ms(cutoff), cutoff)).rowcount
            rows = self.conn.execute(
                "DELETE FROM confirmations WHERE issued_ms <= ?", (cutoff,)).rowcount
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        return people, rows

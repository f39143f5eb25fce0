"""The delivery log (one row per issue x recipient) and the suppression list.

States of a delivery row:

    pending ──> sending ──> delivered        the server said 250 to the message
       │           │    └─> failed           5xx: permanent, never retried
       │           └──────> (stays sending)  the process died, or the connection
       │                                     dropped, after the whole message (its
       │                                     end-of-data dot) was sent but before the
       │                                     server answered: in flight, resolved by
       │                                     `digest send N --resolve-in-flight
       │                                     sent|retry` (or --resend-in-flight)
       ├──> deferred ──> sending ...         4xx or a connection dropped before the
       │                                     dot went out: retried with backoff
       └──> suppressed                       unsubscribed while the send ran: never
                                             sent (sent later only if resubscribed)

Each change is committed on its own as it happens (WAL, autocommit), so a killed
process leaves the log exactly as far as the server got.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from digest.clock import utcnow
from digest.models import DELIVERY_STATES, SUBSCRIBER_STATUSES, DeliveryState, IssueState
from digest.state.audit import record_unsubscribe
from digest.state.backend import Connection, Where, suppression_key
from digest.state.errors import TranslatingConnection, translated
from digest.state.postgres import PgConnection
from digest.state.store import Store

STATES = DELIVERY_STATES
TO_SEND: tuple[DeliveryState, ...] = ("pending", "deferred")



def _shared_connection(path: Where, *, threads: bool = False) -> Connection:
    """A connection beside other processes' on a migrated database: autocommit (each
    write its own transaction), waiting up to 30 s for a lock, rows by name (with
    PostgreSQL: one from the pool, digest.state.postgres)."""
    if isinstance(path, str):
        from digest.state import postgres

        return postgres.connect(path)
    conn = sqlite3.connect(f"file:{path}", uri=True, isolation_level=None, timeout=30,
                           check_same_thread=not threads)
    conn.row_factory = sqlite3.Row
    return conn

@dataclass(frozen=True)
class Delivery:
    issue_number: int
    email: str  # lower case: the key
    address: str  # as the list spells it
    state: DeliveryState
    attempts: int
    last_reply: str | None
    message_id: str
    updated_at: str
    variant: str = ""  # the topic edition sent ("markets+tech"); "" the full issue


def _now() -> str:
    return utcnow().isoformat(timespec="milliseconds")


class DeliveryLog:
    """Queries over `deliveries` and `suppressions` on one connection.

    Safe to share between threads when built with `open_shared`: one lock around the
    connection, each write its own transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.key = suppression_key(conn)
        self.lock = threading.Lock()

    @classmethod
    def open_shared(cls, path: Where) -> DeliveryLog:
        """A connection the SMTP worker threads share (the schema must be migrated).
        A failing disk under it is a StateError naming the file (digest.state.errors),
        never a traceback in the middle of a send."""
        if isinstance(path, str):
            return cls(_shared_connection(path, threads=True))
        with translated(path):
            conn = sqlite3.connect(f"file:{path}", uri=True, isolation_level=None,
                                   timeout=30, check_same_thread=False,
                                   factory=TranslatingConnection)
        conn.path = path
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        return cls(conn)

    @classmethod
    def of(cls, store: Store) -> DeliveryLog:
        """The log on an open store's connection; closing either closes both."""
        return cls(store.conn)

    def close(self) -> None:
        self.conn.close()

    # deliveries -------------------------------------------------------------

    def rows(self, issue: int) -> dict[str, Delivery]:
        with self.lock:
            rows = self.conn.execute(
                "SELECT * FROM deliveries WHERE issue_number = ?", (issue,)).fetchall()
        return {r["email"]: Delivery(**dict(r)) for r in rows}

    def in_state(self, issue: int, state: DeliveryState) -> list[Delivery]:
        with self.lock:
            rows = self.conn.execute(
                "SELECT * FROM deliveries WHERE issue_number = ? AND state = ? ORDER BY email",
                (issue, state)).fetchall()
        return [Delivery(**dict(r)) for r in rows]

    def counts(self, issue: int) -> dict[str, int]:
        with self.lock:
            rows = self.conn.execute(
                "SELECT state, COUNT(*) FROM deliveries WHERE issue_number = ? GROUP BY state",
                (issue,)).fetchall()
        found = {r[0]: r[1] for r in rows}
        return {state: found.get(state, 0) for state in STATES}

    def add_pending(self, issue: int, rows: Iterable[tuple[str, str, str]]) -> int:
        """(email key, address, message id) rows not logged yet, or logged `suppressed`
        (the reader left during a send and is back on the list: owed the issue again,
        so a send stopped before their turn leaves the issue not fully sent); one
        transaction."""
        now = _now()
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                cur = self.conn.executemany(
                    """INSERT INTO deliveries
                         (issue_number, email, address, state, attempts, message_id, updated_at)
                       VALUES (?, ?, ?, 'pending', 0, ?, ?)
                       ON CONFLICT (issue_number, email) DO UPDATE
                         SET state = 'pending', updated_at = excluded.updated_at
                         WHERE deliveries.state = 'suppressed'""",
                    [(issue, key, address, mid, now) for key, address, mid in rows])
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        return cur.rowcount

    def mark(self, issue: int, email: str, state: DeliveryState, reply: str | None = None, *,
             attempt: bool = False, variant: str | None = None) -> None:
        """Record one step for one recipient, committed at once. `attempt` counts a try;
        `variant`: the topic edition the message is ("" the full issue)."""
        with self.lock:
            self.conn.execute(
                """UPDATE deliveries SET state = ?, last_reply = COALESCE(?, last_reply),
                     attempts = attempts + ?, updated_at = ?, variant = COALESCE(?, variant)
                   WHERE issue_number = ? AND email = ?""",
                (state, reply, int(attempt), _now(), variant, issue, email))

    def mark_in_flight(self, issue: int, state: DeliveryState, reply: str) -> int:
        """Every row of `issue` in flight (`sending`) becomes `state`, in one
        transaction; returns how many."""
        with self.lock:
            cur = self.conn.execute(
                """UPDATE deliveries SET state = ?, last_reply = ?, updated_at = ?
                   WHERE issue_number = ? AND state = 'sending'""",
                (state, reply, _now(), issue))
        return int(cur.rowcount)

    def in_flight_by_issue(self) -> dict[int, int]:
        """Issue number -> how many of its messages are in flight (sent in full, never
        confirmed: `digest send N --resolve-in-flight` settles them), for every issue
        that has any, oldest issue first."""
        with self.lock:
            rows = self.conn.execute(
                """SELECT issue_number, COUNT(*) FROM deliveries WHERE state = 'sending'
                   GROUP BY issue_number ORDER BY issue_number""").fetchall()
        return {int(r[0]): int(r[1]) for r in rows}

    def set_issue_state(self, issue: int, state: IssueState) -> None:
        with self.lock:
            self.conn.execute("UPDATE issues SET state = ? WHERE number = ?", (state, issue))

    # suppressions -----------------------------------------------------------
    # Rows are keyed by digest.addresses' key (Address.key). A row written before every
    # address was normalised may carry surrounding whitespace (the old check let
    # 'ann@example.org\n' through): self.key (the engine's spelling of _KEY) reads it
    # as the key it should have had.

    def suppressed(self) -> set[str]:
        """The keys of every suppressed address."""
        with self.lock:
            return {r[0] for r in self.conn.execute(f"SELECT {self.key} FROM suppressions")}

    def unwanted(self, key: str, *, subscriber: bool = False) -> str | None:
        """Why the address `key` must not be mailed now: the reason it is on the
        suppression list, or, for an address from the subscribers table (`subscriber`),
        its status once no longer `active`; None if it may be. Two indexed look-ups."""
        with self.lock:
            row = self.conn.execute(
                f"SELECT reason FROM suppressions WHERE email = ? OR {self.key} = ? LIMIT 1",
                (key, key)).fetchone()
            if row is None and subscriber:
                row = self.conn.execute(
                    "SELECT status FROM subscribers WHERE email = ? AND status != 'active'",
                    (key,)).fetchone()
        return str(row[0]) if row else None

    def suppress(self, key: str, reason: str) -> bool:
        """Add an address (its Address.key) to the suppression list. False if it was
        already there."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                added = _add_suppression(self.conn, key, reason, _now())
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        return added

    def unsuppress(self, key: str) -> bool:
        """Remove an address (its Address.key) from the suppression list. False if it
        was not there."""
        with self.lock:
            cur = self.conn.execute(
                f"DELETE FROM suppressions WHERE email = ? OR {self.key} = ?", (key, key))
        return cur.rowcount >= 1

    def suppression_count(self) -> int:
        with self.lock:
            return int(self.conn.execute(
                f"SELECT COUNT(DISTINCT {self.key}) FROM suppressions").fetchone()[0])


_KEY = suppression_key(None)  # SQLite's spelling; each log uses its connection's


def _add_suppression(conn: Connection, key: str, reason: str, now: str) -> bool:
    """Suppress an address (its key) inside the caller's transaction; False if it
    already was."""
    cur = conn.execute(
        f"""INSERT INTO suppressions (email, reason, created_at)
            SELECT ?, ?, ? WHERE NOT EXISTS
            (SELECT 1 FROM suppressions WHERE email = ? OR {suppression_key(conn)} = ?)""",
        (key, reason, now, key, key))
    return cur.rowcount == 1


SUBSCRIBER_STATES = SUBSCRIBER_STATUSES
SUBSCRIBER_COLUMNS = ("email", "status", "name", "source", "created_at", "updated_at",
                      "confirmed_at", "confirm_ip")


@dataclass(frozen=True)
class Subscriber:
    email: str  # as given (digest.addresses' normal form)
    status: str
    name: str = ""
    source: str = ""
    created_at: str = ""
    updated_at: str = ""
    confirmed_at: str | None = None
    confirm_ip: str | None = None


class Subscribers:
    """The `subscribers` table: the list of record. `digest send` mails the `active`
    ones (with `[delivery] recipients` / `recipients_file`), minus the suppression list;
    unsubscribing here also suppresses the address, so every list honours it."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.key = suppression_key(conn)

    @classmethod
    @contextmanager
    def opened(cls, path: Where) -> Iterator[Subscribers]:
        """The list on a connection of its own, closed afterwards: one web request's
        (the schema must be migrated; each write is its own transaction)."""
        conn = _shared_connection(path)
        try:
            yield cls(conn)
        finally:
            conn.close()

    def rows(self, status: str | None = None) -> list[Subscriber]:
        return list(self.each(status))

    def each(self, status: str | None = None) -> Iterator[Subscriber]:
        """The subscribers (all, or those in one status), oldest first, read from the
        cursor as they are used: 200,000 of them are never in memory at once."""
        query = f"SELECT {', '.join(('address AS email',) + SUBSCRIBER_COLUMNS[1:])} " \
                "FROM subscribers"
        args: tuple[str, ...] = ()
        if status:
            query += " WHERE status = ?"
            args = (status,)
        query += " ORDER BY created_at, email"
        if isinstance(self.conn, PgConnection):
            yield from (Subscriber(*row) for row in self.conn.stream(query, args))
            return
        try:
            cursor = self.conn.execute(query, args)
        except sqlite3.OperationalError:  # a database from before the table: no one
            return
        for row in cursor:  # the columns in the order of Subscriber's fields
            yield Subscriber(*row)

    def suppression_reasons(self) -> dict[str, str]:
        """Address key -> why it is on the suppression list (every suppressed address)."""
        return {str(r[0]): str(r[1]) for r in self.conn.execute(
            f"SELECT {self.key}, reason FROM suppressions")}

    def get(self, email: str) -> Subscriber | None:
        """One subscriber, by address (any case)."""
        columns = ", ".join(("address AS email",) + SUBSCRIBER_COLUMNS[1:])
        try:
            row = self.conn.execute(f"SELECT {columns} FROM subscribers WHERE email = ?",
                                    (email.lower(),)).fetchone()
        except sqlite3.OperationalError:  # a database from before the table
            return None
        return Subscriber(**dict(row)) if row else None

    def upsert(self, rows: Iterable[Subscriber], reason: str = "") -> tuple[int, int]:
        """Add or update subscribers (one transaction); returns (added, updated). An
        unsubscribed or bounced address is suppressed as well (`reason`, else its
        status, says why)."""
        added = updated = 0
        now = _now()
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            for s in rows:
                key = s.email.lower()
                there = self.conn.execute("SELECT status FROM subscribers WHERE email = ?",
                                          (key,)).fetchone()
                if there is None:
                    self.conn.execute(
                        """INSERT INTO subscribers (email, address, name, status, source,
                               created_at, updated_at, confirmed_at, confirm_ip)
                           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                        (key, s.email, s.name, s.status, s.source, s.created_at or now, now,
                         s.confirmed_at, s.confirm_ip))
                    added += 1
                else:
                    self.conn.execute(
                        """UPDATE subscribers SET address = ?, name = ?, status = ?,
                               source = CASE WHEN ? = '' THEN source ELSE ? END,
                               updated_at = ?,
                               confirmed_at = COALESCE(?, confirmed_at),
                               confirm_ip = COALESCE(?, confirm_ip)
                           WHERE email = ?""",
                        (s.email, s.name, s.status, s.source, s.source, now, s.confirmed_at,
                         s.confirm_ip, key))
                    updated += 1
                if s.status in ("unsubscribed", "bounced"):
                    _add_suppression(self.conn, key, reason or s.status, now)
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        return added, updated

    def request(self, email: str, name: str, now_ms: int) -> RequestOutcome:
        """Someone asked, unconfirmed, to get the newsletter at `email` at `now_ms`
        (integer milliseconds, the time the confirmation token carries): a new address
        becomes `pending`; a known one keeps its status and name (nothing an unconfirmed
        form says overwrites a record). A confirmation mail is queued (see
        digest.state.confirmations) unless the address is active already, bounced or
        complained, or had one sent in the last hour or waiting to be sent.

        Every outcome does the same work in one transaction (the same reads, a row
        written into subscribers, a known one as it was, one row into the queue,
        `skipped` when no mail goes): a known address must not answer faster than a
        new one."""
        key = email.lower()
        stamp = stamp_ms(now_ms)
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            row = self.conn.execute("SELECT status FROM subscribers WHERE email = ?",
                                    (key,)).fetchone()
            barred = self.conn.execute(
                f"SELECT 1 FROM suppressions WHERE {self.key} = ? AND reason IN {HARD_REASONS}",
                (key,)).fetchone()
            recent = self.conn.execute(
                "SELECT 1 FROM confirmations WHERE email = ? AND (state = 'queued' OR "
                "(state = 'sent' AND sent_ms > ?))", (key, now_ms - SLOT_MS)).fetchone()
            status = str(row[0]) if row else ""
            outcome: RequestOutcome = (
                "suppressed" if barred or status == "bounced" else
                "active" if status == "active" else
                "slot" if recent else "queued")
            self.conn.execute(
                """INSERT INTO subscribers (email, address, name, status, source,
                       created_at, updated_at) VALUES (?, ?, ?, 'pending', 'web', ?, ?)
                   ON CONFLICT (email) DO UPDATE SET address = subscribers.address""",
                (key, email, name, stamp, stamp))  # a known row rewritten as it was: same I/O
            self.conn.execute(
                """INSERT INTO confirmations (email, address, state, issued_ms, next_ms)
                   VALUES (?, ?, ?, ?, ?)""",
                (key, email, "queued" if outcome == "queued" else "skipped", now_ms, now_ms))
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        return outcome

    def confirm(self, email: str, issued_ms: int, client: str, now_ms: int) -> str:
        """A confirmation link issued at `issued_ms` was followed: the address becomes
        `active`, with the time and client as the consent record, unless its record
        changed after the link was made (unsubscribed since: the link is spent), it
        bounced or complained. Lifts an unsubscribe, never a bounce or a complaint.
        Returns "active", "already" or "refused". One transaction. The times are the
        caller's integer milliseconds, stored as stamp_ms spells them: the comparison
        with the record's time is exact."""
        key = email.lower()
        issued, now = stamp_ms(issued_ms), stamp_ms(now_ms)
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            row = self.conn.execute("SELECT status, updated_at FROM subscribers WHERE email = ?",
                                    (key,)).fetchone()
            barred = self.conn.execute(
                f"SELECT 1 FROM suppressions WHERE {self.key} = ? AND reason IN {HARD_REASONS}",
                (key,)).fetchone()
            if row is not None and row[0] == "active":
                outcome = "already"
            elif row is None or barred or row[0] == "bounced" or str(row[1]) > issued:
                outcome = "refused"
            else:
                self.conn.execute(
                    """UPDATE subscribers SET status = 'active', updated_at = ?,
                           confirmed_at = ?, confirm_ip = ? WHERE email = ?""",
                    (now, now, client, key))
                self.conn.execute(
                    f"DELETE FROM suppressions WHERE {self.key} = ? AND reason NOT IN "
                    f"{HARD_REASONS}", (key,))
                outcome = "active"
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        return outcome

    def unsubscribe(self, email: str, now_ms: int) -> None:
        """The reader asked to get nothing more: the address becomes `unsubscribed` (a
        new one is recorded so) and is suppressed. A bounced address stays `bounced`, and
        a bounce's or complaint's suppression stays as it is: unsubscribing records the
        wish, it never turns a bounce into something a confirmation could lift. One
        transaction."""
        key = email.lower()
        now = stamp_ms(now_ms)
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.execute(
                """INSERT INTO subscribers (email, address, status, source, created_at,
                       updated_at) VALUES (?, ?, 'unsubscribed', 'web', ?, ?)
                   ON CONFLICT (email) DO UPDATE SET updated_at = excluded.updated_at,
                       status = CASE subscribers.status WHEN 'bounced' THEN 'bounced'
                                                        ELSE 'unsubscribed' END""",
                (key, email, now, now))
            if _add_suppression(self.conn, key, "unsubscribed", now):  # once, for the audit
                record_unsubscribe(self.conn, key, "unsubscribed", now)
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")


RequestOutcome = Literal["queued", "active", "suppressed", "slot"]
SLOT_MS = 3600 * 1000  # one confirmation mail sent an hour to an address
# Suppressions no reader's click lifts: the mailbox said the address is dead, or its
# owner reported us.
HARD_REASONS = "('bounced', 'complaint')"


def stamp_ms(ms: int) -> str:
    """Integer milliseconds as the subscribers table spells a time (ISO 8601 UTC, with
    milliseconds): exact both ways, no float in between."""
    seconds, millis = divmod(ms, 1000)
    moment = datetime.fromtimestamp(seconds, UTC).replace(microsecond=millis * 1000)
    return moment.isoformat(timespec="milliseconds")

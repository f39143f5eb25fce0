"""The bounce log: every bounce and complaint report counted once (by Message-ID and
address), and what the bounce rules ask of the delivery log."""

from __future__ import annotations

import sqlite3

from digest.clock import utcnow
from digest.models import BounceKind


class BounceLog:
    """Queries on the `bounces` and `deliveries` tables for digest.deliver.bounces."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def mailed(self) -> tuple[set[str], set[str]]:
        """Every address an issue was sent to: as written, and as compared (lower case)."""
        written = {str(r[0]) for r in self.conn.execute("SELECT DISTINCT address FROM deliveries")}
        keys = {str(r[0]).lower() for r in self.conn.execute(
            "SELECT DISTINCT email FROM deliveries")}
        return written, keys

    def record(self, message_id: str, key: str, kind: BounceKind, detail: str) -> bool:
        """Log one report for one address; False when this message counted already."""
        return bool(self.conn.execute(
            """INSERT OR IGNORE INTO bounces (message_id, email, kind, detail, received_at)
               VALUES (?, ?, ?, ?, ?)""",
            (message_id, key, kind, detail, utcnow().isoformat(timespec="seconds"))).rowcount)

    def soft_days_in_a_row(self, key: str) -> int:
        """Days with a soft bounce for `key` since its last other report (a hard bounce
        or a complaint): an MTA's delay notices for one message (4 h, 24 h, 48 h) are
        one soft bounce, not three."""
        rows = self.conn.execute(
            "SELECT kind, substr(received_at, 1, 10) FROM bounces WHERE email = ? "
            "ORDER BY rowid DESC", (key,)).fetchall()
        days: set[str] = set()
        for kind, day in rows:
            if kind != "soft":
                break
            days.add(day)
        return len(days)

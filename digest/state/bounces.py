"""The bounce log: every bounce and complaint report counted once (by Message-ID and
address), the mailbox messages that could not be read (by their bytes' hash, so they
are not read again), and what the bounce rules ask of the delivery log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from digest.clock import utcnow
from digest.models import BounceKind
from digest.state.backend import Connection

SOFT_WINDOW = timedelta(days=30)  # for soft bounces that no issue sent explains
# Reports are numbered in the order they came (soft_streak reads them newest first).
_NEXT = "(SELECT COALESCE(MAX(seq), 0) + 1 FROM bounces)"


class BounceLog:
    """Queries on the `bounces` and `deliveries` tables for digest.deliver.bounces."""

    def __init__(self, conn: Connection) -> None:
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
            f"""INSERT INTO bounces (message_id, email, kind, detail, received_at, seq)
               VALUES (?, ?, ?, ?, ?, {_NEXT}) ON CONFLICT (message_id, email) DO NOTHING""",
            (message_id, key, kind, detail, utcnow().isoformat(timespec="seconds"))).rowcount)

    def seen(self, message_id: str) -> bool:
        """Whether a message with this id was acted on, or found unreadable, before."""
        return self.conn.execute("SELECT 1 FROM bounces WHERE message_id = ? LIMIT 1",
                                 (message_id,)).fetchone() is not None

    def unreadable(self, message_id: str, reason: str) -> None:
        """Note a message that could not be read (no address): it is not read again."""
        self.conn.execute(
            f"""INSERT INTO bounces (message_id, email, kind, detail, received_at, seq)
               VALUES (?, '', 'unreadable', ?, ?, {_NEXT})
               ON CONFLICT (message_id, email) DO NOTHING""",
            (message_id, reason[:300], utcnow().isoformat(timespec="seconds")))

    def soft_streak(self, key: str) -> int:
        """How many issues in a row soft-bounced for `key`: its soft bounces since its
        last other report (a hard bounce, a complaint, a "delivered" notice; a content
        or policy refusal counts neither way), each put to the last issue delivered to
        it before the report came. An issue delivered to it with no soft bounce breaks
        the run: a mailbox full in March and again in June, with issues read between,
        is no dead mailbox. An MTA's delay notices for one message (4 h, 24 h, 48 h) are
        one issue's, not three. Soft bounces before any issue was delivered to it count
        by day, and only within SOFT_WINDOW."""
        rows = self.conn.execute(
            "SELECT kind, received_at FROM bounces WHERE email = ? ORDER BY seq DESC",
            (key,)).fetchall()
        softs: list[datetime] = []
        for kind, at in rows:
            if kind == "policy":
                continue
            if kind != "soft":
                break
            softs.append(_when(at))
        if not softs:
            return 0
        sends = [(int(n), _when(at)) for n, at in self.conn.execute(
            "SELECT issue_number, updated_at FROM deliveries WHERE email = ? AND "
            "state = 'delivered' ORDER BY issue_number", (key,))]
        bounced: set[int] = set()
        unexplained: set[str] = set()
        latest = max(softs)
        for at in softs:
            before = [n for n, sent in sends if sent <= at]
            if before:
                bounced.add(before[-1])
            elif latest - at <= SOFT_WINDOW:
                unexplained.add(at.date().isoformat())
        run = best = 0
        for number, _ in sends:
            run = run + 1 if number in bounced else 0
            best = max(best, run)
        return max(best, len(unexplained))


def _when(text: str) -> datetime:
    moment = datetime.fromisoformat(str(text))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)

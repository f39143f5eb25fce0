"""The audit of one issue (`digest report`): read-only queries over the delivery log,
the bounce log and the unsubscribes, each section one pass over its rows.

- the issue: number, subject, date, state (and why it paused, if it did);
- the recipients, one row each (address, variant, state, attempts, when its state last
  changed, the server's last reply, Message-ID), streamed from the cursor in address
  order: 100,000 of them are never in memory at once;
- counts by state, by variant and by recipient domain (one pass over the issue's rows);
- the bounces, complaints and unsubscribes traced to the issue (digest.state.audit says
  how an event is traced; `failed` rows are the server's own refusals, in the log).

The `variant` of a recipient is the delivery row's `variant` column when the database
has one (readers' topics), else "full": every reader got the whole issue.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from digest.models import DELIVERY_STATES, IssueRecord
from digest.state.audit import pause_note
from digest.state.backend import Connection
from digest.state.store import Store

FULL = "full"  # the variant of a database (or row) that names none
BATCH = 2000  # rows a fetch: a row at a time costs the error translation per row
BOUNCE_KINDS = ("hard", "soft", "policy")


@dataclass(frozen=True)
class RecipientRow:
    email: str  # the key (lower case)
    address: str  # as the list spells it
    variant: str
    state: str
    attempts: int
    updated_at: str  # when the row last changed: for `delivered`, when the server took it
    last_reply: str
    message_id: str

    @property
    def domain(self) -> str:
        return domain_of(self.email)


@dataclass(frozen=True)
class Event:
    """A bounce, complaint or unsubscribe traced to the issue."""

    email: str
    kind: str  # hard | soft | policy | complaint; for an unsubscribe, its reason
    at: str
    detail: str = ""


@dataclass(frozen=True)
class Counts:
    recipients: int
    by_state: dict[str, int]
    by_variant: dict[str, int]
    by_domain: dict[str, dict[str, int]]  # domain -> state -> rows, most rows first


@dataclass(frozen=True)
class IssueReport:
    issue: IssueRecord
    paused: str | None
    counts: Counts
    bounces: list[Event] = field(default_factory=list)
    complaints: list[Event] = field(default_factory=list)
    unsubscribes: list[Event] = field(default_factory=list)

    @property
    def bounce_counts(self) -> dict[str, int]:
        found = Counter(e.kind for e in self.bounces)
        return {kind: found.get(kind, 0) for kind in BOUNCE_KINDS}

    @property
    def unsubscribe_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(e.kind for e in self.unsubscribes).items()))


def _batched(cursor: Any) -> Iterator[Any]:
    while rows := cursor.fetchmany(BATCH):
        yield from rows


def domain_of(key: str) -> str:
    return key.rpartition("@")[2]


def has_variant(conn: Connection) -> bool:
    """Whether the delivery log records a variant per row (read defensively: a database
    from before readers' topics has no such column)."""
    cursor = conn.execute("SELECT * FROM deliveries LIMIT 0")  # portable, unlike a PRAGMA
    return any(column[0] == "variant" for column in cursor.description)


def pick_issue(store: Store, number: int | None) -> IssueRecord | None:
    """Issue `number`, or the latest issue (None when there is none, or no issue can
    have that number: past SQLite's 64-bit integers)."""
    if number is not None:
        return store.get_issue(number) if -2**63 <= number < 2**63 else None
    issues = store.issues()
    return issues[-1] if issues else None


def issue_report(store: Store, issue: IssueRecord) -> IssueReport:
    """Everything but the recipient rows (`recipients` streams those)."""
    conn = store.conn
    return IssueReport(issue, pause_note(conn, issue.number) if issue.state == "paused"
                       else None, counts(conn, issue.number), *events(conn, issue.number))


def counts(conn: Connection, number: int) -> Counts:
    """One pass over the issue's delivery rows."""
    variant = "variant" if has_variant(conn) else "''"
    by_state: Counter[str] = Counter()
    by_variant: Counter[str] = Counter()
    by_domain: dict[str, Counter[str]] = {}
    total = 0
    for email, state, kind in _batched(conn.execute(
            f"SELECT email, state, {variant} FROM deliveries WHERE issue_number = ?",
            (number,))):
        total += 1
        by_state[state] += 1
        by_variant[kind or FULL] += 1
        domain = domain_of(email)
        row = by_domain.get(domain)
        if row is None:
            row = by_domain[domain] = Counter()
        row[state] += 1
    ordered = sorted(by_domain.items(), key=lambda d: (-sum(d[1].values()), d[0]))
    return Counts(total, {s: by_state.get(s, 0) for s in DELIVERY_STATES},
                  dict(sorted(by_variant.items())),
                  {d: {s: c[s] for s in DELIVERY_STATES if c[s]} for d, c in ordered})


def events(conn: Connection, number: int
           ) -> tuple[list[Event], list[Event], list[Event]]:
    """(bounces, complaints, unsubscribes) traced to the issue, each by address then
    time: one indexed pass over each log."""
    bounces: list[Event] = []
    complaints: list[Event] = []
    for email, kind, at, detail in conn.execute(
            "SELECT email, kind, received_at, detail FROM bounces WHERE issue_number = ? "
            "AND kind IN ('hard', 'soft', 'policy', 'complaint') ORDER BY email, received_at",
            (number,)):
        event = Event(str(email), str(kind), str(at), str(detail or ""))
        (complaints if kind == "complaint" else bounces).append(event)
    unsubscribes = [Event(str(e), str(reason), str(at)) for e, reason, at in conn.execute(
        "SELECT email, reason, at FROM unsubscribes WHERE issue_number = ? "
        "ORDER BY email, at", (number,))]
    return bounces, complaints, unsubscribes


def recipients(conn: Connection, number: int) -> Iterator[RecipientRow]:
    """The issue's delivery rows in address order, read from the cursor as used."""
    variant = "variant" if has_variant(conn) else "''"
    cursor = conn.execute(
        f"""SELECT email, address, {variant}, state, attempts, updated_at, last_reply,
                   message_id
            FROM deliveries WHERE issue_number = ? ORDER BY email""", (number,))
    for email, address, kind, state, attempts, at, reply, mid in _batched(cursor):
        yield RecipientRow(str(email), str(address), str(kind or FULL), str(state),
                           int(attempts), str(at), str(reply or ""), str(mid))

"""What the audit of an issue (`digest report`, digest.state.report) needs recorded as
it happens: the issue each bounce, complaint and unsubscribe is traced to, and why a
send paused itself.

An event is traced once, when it arrives, by these rules, first that applies:

1. the Message-ID of the message it is about (a DSN or an ARF report returns the
   message, or its headers), when it is one digest sent that address: every (issue,
   recipient) has its own Message-ID, so this is exact;
2. else the latest issue that went out to the address (delivered, or in flight): the
   unsubscribe link carries only the address's token, and a report may come without
   the message;
3. else none (an address no issue was sent to): counted by no issue.

A report's Message-ID is only looked up among the deliveries to the address the
report was already traced to (digest.deliver.bounces), so a forged one can at most
move an event between two issues that address received.
"""

from __future__ import annotations

import json

from digest.state.backend import Connection

_SENT = "('delivered', 'sending')"


def traced_issue(conn: Connection, key: str, message_id: str = "") -> int | None:
    """The issue an event about address `key` belongs to (the rules above)."""
    if message_id:
        row = conn.execute("SELECT issue_number FROM deliveries WHERE email = ? AND "
                           "message_id = ?", (key, message_id)).fetchone()
        if row is not None:
            return int(row[0])
    row = conn.execute(f"SELECT MAX(issue_number) FROM deliveries WHERE email = ? AND "
                       f"state IN {_SENT}", (key,)).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def trace_bounce(conn: Connection, report_id: str, key: str,
                 message_id: str = "") -> int | None:
    """Put the bounce log's row for (report `report_id`, address `key`) to its issue;
    returns the issue."""
    issue = traced_issue(conn, key, message_id)
    if issue is not None:
        conn.execute("UPDATE bounces SET issue_number = ? WHERE message_id = ? AND email = ?",
                     (issue, report_id, key))
    return issue


def record_unsubscribe(conn: Connection, key: str, reason: str, at: str,
                       message_id: str = "") -> int | None:
    """Note that address `key` left (`reason`: "unsubscribed" from the web, "complaint"
    from a feedback loop) at `at`, traced to its issue, inside the caller's
    transaction; returns the issue."""
    issue = traced_issue(conn, key, message_id)
    conn.execute("INSERT INTO unsubscribes (email, issue_number, reason, at) VALUES "
                 "(?, ?, ?, ?)", (key, issue, reason, at))
    return issue


# Why a send paused: one meta row per paused issue, read by `digest status`.

def _pause_key(issue: int) -> str:
    return f"paused:{issue}"


def note_pause(conn: Connection, issue: int, why: str) -> None:
    conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
                 "SET value = excluded.value", (_pause_key(issue), why))


def pause_note(conn: Connection, issue: int) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (_pause_key(issue),)).fetchone()
    return str(row[0]) if row else None


def clear_pause(conn: Connection, issue: int) -> None:
    conn.execute("DELETE FROM meta WHERE key = ?", (_pause_key(issue),))


def issue_events(conn: Connection, issue: int) -> dict[str, int]:
    """Hard bounces and complaints traced to `issue` so far (the pause check's figures
    from `digest bounces`): {"hard": n, "complaint": m}."""
    found = {"hard": 0, "complaint": 0}
    for kind, n in conn.execute(
            "SELECT kind, COUNT(*) FROM bounces WHERE issue_number = ? AND kind IN "
            "('hard', 'complaint') GROUP BY kind", (issue,)):
        found[str(kind)] = int(n)
    return found


# Where a local-time issue's pause counts start ([schedule] deliver = "local": one count
# over all its passes, from its first or from its last `--resume`).

def _counted_key(issue: int) -> str:
    return f"pause-counted-from:{issue}"


def issue_figures(conn: Connection, issue: int) -> dict[str, int]:
    """The issue's pause figures so far: messages sent (delivered, refused, in flight),
    those the server refused with a 5xx, and its hard bounces and complaints."""
    row = conn.execute(
        "SELECT SUM(CASE WHEN state IN ('delivered', 'failed', 'sending') THEN 1 ELSE 0 "
        "END), SUM(CASE WHEN state = 'failed' AND last_reply LIKE '5%' THEN 1 ELSE 0 END) "
        "FROM deliveries WHERE issue_number = ?", (issue,)).fetchone()
    return {"sent": int(row[0] or 0), "refused": int(row[1] or 0),
            **issue_events(conn, issue)}


def note_counted_from(conn: Connection, issue: int) -> None:
    """A resume: the issue's pause counts start again from its figures now."""
    conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
                 "SET value = excluded.value",
                 (_counted_key(issue), json.dumps(issue_figures(conn, issue))))


def counted_from(conn: Connection, issue: int) -> dict[str, int]:
    """The figures the issue's pause counts start from (zeros: its first pass)."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?",
                       (_counted_key(issue),)).fetchone()
    zero = {"sent": 0, "refused": 0, "hard": 0, "complaint": 0}
    if row is None:
        return zero
    try:
        found = json.loads(str(row[0]))
        return {k: int(found.get(k, 0)) for k in zero}
    except (ValueError, TypeError, AttributeError):
        return zero

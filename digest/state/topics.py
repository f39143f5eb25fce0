"""The topics each subscriber ticked: the subscribers table's `topics` column, names
joined by "|" (digest.curate.topics reads them against `[[topics]]`). Its own module,
so the columns other work adds to the table merge beside it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from digest.state.backend import Connection


def active_topics(conn: Connection) -> dict[str, str]:
    """Address key -> topics text, for the active subscribers who ticked any."""
    try:
        rows = conn.execute("SELECT email, topics FROM subscribers "
                            "WHERE status = 'active' AND topics <> ''").fetchall()
    except sqlite3.OperationalError:  # a database from before the column: no one
        return {}
    return {str(r[0]): str(r[1]) for r in rows}


def topics_of(conn: Connection, email: str) -> str:
    """One subscriber's topics text ("" for none, or no such subscriber)."""
    try:
        row = conn.execute("SELECT topics FROM subscribers WHERE email = ?",
                           (email.lower(),)).fetchone()
    except sqlite3.OperationalError:
        return ""
    return str(row[0]) if row else ""


def all_topics(conn: Connection) -> dict[str, str]:
    """Address key -> topics text, for every subscriber who ticked any (the export)."""
    try:
        rows = conn.execute("SELECT email, topics FROM subscribers WHERE topics <> ''")
        return {str(r[0]): str(r[1]) for r in rows}
    except sqlite3.OperationalError:
        return {}


def set_topics(conn: Connection, pairs: Iterable[tuple[str, str]], *,
               only_new_since: str = "") -> int:
    """Store (address, topics text) pairs, in one transaction; returns the rows written.
    With `only_new_since` (a created_at stamp), only a pending row made at that moment
    (the sign-up that just made it) takes them: an unconfirmed form never changes a
    known subscriber's record."""
    changed = 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        for email, text in pairs:
            if only_new_since:
                # A known row is rewritten as it was: the same I/O as a new one's
                # (Subscribers.request's rule: a known address must not answer faster).
                cursor = conn.execute(
                    "UPDATE subscribers SET topics = CASE WHEN status = 'pending' AND "
                    "created_at = ? THEN ? ELSE topics END WHERE email = ?",
                    (only_new_since, text, email.lower()))
            else:
                cursor = conn.execute("UPDATE subscribers SET topics = ? WHERE email = ?",
                                      (text, email.lower()))
            changed += cursor.rowcount
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return changed

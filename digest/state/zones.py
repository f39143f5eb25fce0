"""The subscribers' `time_zone` column (migration 12): read for local-time delivery
(digest.deliver.zones), written by the subscribe form and `digest subscribers import`.
Names are checked by digest.deliver.zones.clean_zone before they get here; '' means
the newsletter's zone."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping

from digest.state.backend import Connection


def subscriber_zones(conn: Connection) -> dict[str, str]:
    """Subscriber key -> zone, for those who have one."""
    try:
        rows = conn.execute(
            "SELECT email, time_zone FROM subscribers WHERE time_zone != ''").fetchall()
    except sqlite3.OperationalError:  # a database from before the column: no one
        return {}
    return {str(r[0]): str(r[1]) for r in rows}


def set_zones(conn: Connection, zones: Mapping[str, str]) -> None:
    """Set the zone of each subscriber key given (one transaction)."""
    if not zones:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany("UPDATE subscribers SET time_zone = ? WHERE email = ?",
                         [(zone, key) for key, zone in zones.items()])
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def set_pending_zone(conn: Connection, key: str, zone: str) -> None:
    """A sign-up's zone, kept only while the address is pending (an unconfirmed form
    never changes a confirmed record). The row is written whatever its status, so a
    known address costs the same I/O as a new one (see Subscribers.request)."""
    conn.execute(
        """UPDATE subscribers SET time_zone = CASE WHEN status = 'pending' THEN ?
               ELSE time_zone END WHERE email = ?""", (zone, key))

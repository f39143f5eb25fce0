"""Readers who unsubscribe while a long send runs are not mailed after that.

The server takes at least 5 ms per message, so 400 messages over 2 connections take at
least a second, like the red team's 13 s send. When it has received message 20 it
unsubscribes 150 readers further down the list, half the way `digest unsubscribe` does
(the suppression list), half the way the web's one-click does (the subscribers table,
which suppresses too), and sets 5 subscribers back to `pending` (no suppression: their
status alone says no). Only the messages already past their check can still go out: at
most one per connection, all before position 150. No sleep decides anything.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from digest.config.load import load_config
from digest.deliver.smtp import send_issue
from digest.state.deliveries import DeliveryLog, Subscriber, Subscribers
from digest.state.store import open_store
from tests.deliver.scripted_smtp import Scripted, ScriptedServer
from tests.send_project import project

K = 20


def state_db(path: Path) -> Path:
    return path.parent / ".digest" / "state.db"


def states(path: Path) -> dict[str, str]:
    conn = sqlite3.connect(state_db(path))
    try:
        return dict(conn.execute("SELECT email, state FROM deliveries").fetchall())
    finally:
        conn.close()


def unsubscribe_from_the_list(db: Path, emails: list[str]) -> None:
    """What `digest unsubscribe EMAIL` does."""
    log = DeliveryLog.of(open_store(db))
    try:
        for email in emails:
            log.suppress(email, "unsubscribed")
    finally:
        log.close()


def unsubscribe_on_the_web(db: Path, emails: list[str]) -> None:
    """What the web's one-click unsubscribe does (digest.web.app._set_status)."""
    with Subscribers.opened(db) as subscribers:
        for email in emails:
            known = subscribers.get(email)
            assert known is not None and known.status == "active"
            subscribers.upsert([Subscriber(known.email, "unsubscribed", known.name, "web")])


def test_readers_unsubscribed_during_a_slow_send_are_not_mailed(built: Path,
                                                                tmp_path: Path) -> None:
    listed = [f"list{i:04d}@example.net" for i in range(300)]  # [delivery] recipients_file
    web = [f"web{i:04d}@example.org" for i in range(100)]  # active in the subscribers table
    leaving = listed[150:225] + web[20:]
    handler = Scripted(keep_content=False, delay=0.005)
    with ScriptedServer(handler) as server:
        csv = "email,name\n" + "".join(f"{a},\n" for a in listed)
        path = project(built, tmp_path, server.port, csv=csv)
        db = state_db(path)
        with Subscribers.opened(db) as subscribers:
            subscribers.upsert([Subscriber(a, "active", "", "web") for a in web])
        fired: list[int] = []

        def at_message(total: int) -> None:
            if total == K:
                fired.append(total)
                unsubscribe_from_the_list(db, listed[150:225])
                unsubscribe_on_the_web(db, web[25:])
                with Subscribers.opened(db) as subscribers:
                    subscribers.upsert([Subscriber(a, "pending", "", "import")
                                        for a in web[20:25]])

        handler.on_message = at_message
        report = send_issue(load_config(path))
        assert fired == [K]
        counts = dict(handler.counts)
        mailed = [a for a in leaving if a in counts]
        assert mailed == [], f"{len(mailed)} of {len(leaving)} unsubscribed readers mailed"
        log = states(path)
        assert all(log[a] == "suppressed" for a in leaving)
        staying = set(listed + web) - set(leaving)
        assert all(counts.get(a) == 1 and log[a] == "delivered" for a in staying)
        assert report.delivered == 245 and report.suppressed_during == 155
        assert "155 unsubscribed during the send (not sent)" in report.message
        assert report.complete

        # a later send of the issue leaves them alone; a resubscribed one gets it
        assert send_issue(load_config(path), 1).delivered == 0
        unsuppress = DeliveryLog.of(open_store(db))
        try:
            assert unsuppress.unsuppress(listed[150])
        finally:
            unsuppress.close()
        again = send_issue(load_config(path), 1)
        assert again.delivered == 1 and handler.counts[listed[150]] == 1
        assert handler.total == 246


def test_a_reader_unsubscribed_before_a_retry_is_not_retried(built: Path,
                                                             tmp_path: Path) -> None:
    everyone = [f"reader{i:03d}@example.net" for i in range(30)]
    deferred = everyone[4]
    handler = Scripted(keep_content=False, transient={deferred: 1})
    with ScriptedServer(handler) as server:
        path = project(built, tmp_path, server.port, emails=everyone)
        db = state_db(path)

        def at_rcpt(address: str) -> None:
            if address == deferred:  # committed before the server answers 451
                unsubscribe_from_the_list(db, [deferred])

        handler.on_rcpt = at_rcpt
        report = send_issue(load_config(path))
        assert handler.replies["451"] == 1
        assert deferred not in handler.counts
        assert states(path)[deferred] == "suppressed"
        assert report.delivered == 29 and report.suppressed_during == 1 and report.complete

"""A reader who unsubscribed during a send (their row `suppressed`) and came back is
owed that issue again: the next send puts the row back to pending, so a send stopped
before their turn leaves the issue not fully sent instead of calling it sent."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from digest.config.load import load_config
from digest.deliver.smtp import send_issue
from digest.state.deliveries import DeliveryLog
from digest.state.store import open_store
from tests.send_project import project
from tests.smtp_server import Recorder, SmtpServer

LISTED = [f"reader{i}@example.net" for i in range(4)]
BACK = LISTED[-1]  # leaves during the first send, comes back before the second
NEW = "newcomer@example.net"  # joins the list before the second send, ahead of BACK


def issue_state(db: Path) -> tuple[str, str]:
    conn = sqlite3.connect(db)
    try:
        (state,) = conn.execute("SELECT state FROM issues ORDER BY number DESC").fetchone()
        (row,) = conn.execute("SELECT state FROM deliveries WHERE email = ?",
                              (BACK,)).fetchone()
        return str(state), str(row)
    finally:
        conn.close()


def test_a_reader_back_on_the_list_is_owed_the_issue(built: Path, tmp_path: Path) -> None:
    handler = Recorder()
    with SmtpServer(handler) as server:
        path = project(built, tmp_path, server.port, csv="email,name\n" + "".join(
            f"{a},\n" for a in LISTED), smtp={"connections": 1})
        db = path.parent / ".digest" / "state.db"

        def leave(total: int) -> None:
            if total == 1:
                log = DeliveryLog.of(open_store(db))
                try:
                    log.suppress(BACK, "unsubscribed")
                finally:
                    log.close()

        handler.on_message = leave
        first = send_issue(load_config(path))
        assert first.suppressed_during == 1 and issue_state(db) == ("sent", "suppressed")

        log = DeliveryLog.of(open_store(db))  # what `digest resubscribe` does
        try:
            log.unsuppress(BACK)
        finally:
            log.close()
        (path.parent / "subscribers.csv").write_text(
            "email,name\n" + "".join(f"{a},\n" for a in [NEW, *LISTED]), "utf-8")
        stop = threading.Event()
        handler.on_message = lambda total: stop.set()  # stopped after NEW, before BACK
        second = send_issue(load_config(path), 1, stop=stop)
    assert second.delivered == 1 and handler.counts[NEW] == 1 and handler.counts[BACK] == 0
    assert issue_state(db) == ("sending", "pending")  # BACK is still owed the issue

"""`[schedule] deliver = "local"` with the `[delivery] pause_*` thresholds: each pass
sends one zone's batch, so the counts run over all the issue's passes (from its first
or its last `--resume`), not per pass. Before, a list split into zones smaller than
`pause_min_sent` never paused however many bounced, and a complaint that came in
between two passes counted for neither."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from digest.config.load import load_config
from digest.deliver.smtp import send_issue
from tests.deliver.scripted_smtp import Scripted, ScriptedServer
from tests.send_project import project

ZONES = ["Asia/Kathmandu", "Europe/London", "America/New_York"]  # 01:15, 07:00, 12:00 UTC
READERS = {f"reader{i:03d}@example.net": ZONES[i // 20] for i in range(60)}
BUILT = "2026-12-01T00:00:00+00:00"
LOCAL = ('\n[schedule]\ndeliver = "local"\nlocal_time = "07:00"\nmax_lateness = "12h"\n')


def at(hour: int, minute: int) -> datetime:
    return datetime(2026, 12, 1, hour, minute, tzinfo=UTC)


def db(path: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path.parent / ".digest" / "state.db")
    try:
        rows = conn.execute(sql, args).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


def test_a_bounce_rate_over_two_zones_passes_pauses_the_issue(built: Path,
                                                               tmp_path: Path) -> None:
    refused = {a for i, a in enumerate(READERS) if i % 2}  # half of every zone
    handler = Scripted(keep_content=False, permanent=refused)
    csv = "email,tz\n" + "".join(f"{a},{z}\n" for a, z in READERS.items())
    with ScriptedServer(handler) as server:
        path = project(built, tmp_path, server.port, csv=csv, smtp={"connections": 1},
                       extra=LOCAL)
        path.write_text(path.read_text("utf-8").replace(
            'unsubscribe_mailto = "unsubscribe@example.com"\n',
            'unsubscribe_mailto = "unsubscribe@example.com"\npause_hard_bounce_rate = 0.1\n'
            "pause_min_sent = 30\npause_complaints = 0\n"), "utf-8")
        db(path, "UPDATE issues SET created_at = ? WHERE number = 1", BUILT)

        first = send_issue(load_config(path), 1, now=at(1, 20))  # Kathmandu: 20 < 30 sent
        assert (first.delivered, first.failed, first.paused) == (10, 10, "")
        second = send_issue(load_config(path), 1, now=at(7, 5))  # London
        assert second.paused, second.message  # at 30 sent over the two passes: 15 refused
        assert db(path, "SELECT state FROM issues WHERE number = 1") == [("paused",)]
        third = send_issue(load_config(path), 1, now=at(12, 5))  # New York: paused
        assert third.paused and third.delivered == 0
        new_york = {a for a, z in READERS.items() if z == "America/New_York"}
        assert not new_york & set(handler.counts)

        # --resume counts afresh: the server now takes everyone; nothing pauses again
        handler.permanent.clear()
        resumed = send_issue(load_config(path), 1, now=at(12, 6), resume=True)
        assert not resumed.paused, resumed.message
        assert set(handler.counts) >= new_york
        assert db(path, "SELECT state FROM issues WHERE number = 1") == [("sent",)]

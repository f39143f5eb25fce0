"""`digest send N --resolve-in-flight retry` on a paused issue re-sends the messages in
flight, and only them: the issue stays `paused`, so neither `digest send` nor the
daemon takes the rest up again before `--resume`. Before, the retry settled the issue
as `sending` and the next plain send mailed everyone the pause had held back."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from digest.config.load import load_config
from digest.deliver.smtp import resolve_in_flight, send_issue
from tests.deliver.scripted_smtp import Scripted, ScriptedServer
from tests.send_project import project

READERS = [f"reader{i:03d}@example.net" for i in range(60)]


def with_pause(path: Path, lines: str) -> Path:
    text = path.read_text("utf-8").replace(
        'unsubscribe_mailto = "unsubscribe@example.com"\n',
        f'unsubscribe_mailto = "unsubscribe@example.com"\n{lines}')
    path.write_text(text, "utf-8")
    return path


def db(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path.parent / ".digest" / "state.db")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_a_retry_of_the_messages_in_flight_leaves_the_issue_paused(
        built: Path, tmp_path: Path) -> None:
    refused = set(READERS[1:20:2])  # 5 of the first 10 refused: 50% > 10%
    handler = Scripted(keep_content=False, permanent=refused,
                       drops={READERS[0]: "reply"})  # the first: in flight
    with ScriptedServer(handler) as server:
        path = with_pause(project(built, tmp_path, server.port, emails=READERS,
                                  smtp={"connections": 1}),
                          "pause_hard_bounce_rate = 0.1\npause_min_sent = 10\n"
                          "pause_complaints = 0\n")
        first = send_issue(load_config(path))
        assert first.paused and first.in_flight == (READERS[0],)
        held = db(path, "SELECT COUNT(*) FROM deliveries WHERE state = 'pending'")[0][0]
        assert held == 50

        retried = resolve_in_flight(load_config(path), 1, "retry")
        assert retried.delivered == 1
        assert db(path, "SELECT state FROM issues WHERE number = 1") == [("paused",)]
        again = send_issue(load_config(path))  # what the daemon's pass runs
        assert again.paused and again.delivered == 0
        assert db(path, "SELECT COUNT(*) FROM deliveries WHERE state = 'pending'") == \
            [(held,)]
        assert handler.total == 10 - 5 + 1  # delivered before the pause, then the retry

"""The scheduler never takes up a paused send by itself (issue 21, item 3): `digest run
--once` builds the slot's issue and sends it until the hard-bounce threshold pauses it;
the next `run --once` in the same slot leaves it paused and says so. Real aiosmtpd, a
real subprocess per run, the clock pinned by DIGEST_NOW."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.helpers import issues, run, set_schedule
from tests.smtp_server import Recorder, SmtpServer

READERS = [f"reader{i:02d}@example.net" for i in range(40)]
NOW = "2026-11-30T08:10:00+00:00"  # ten minutes after the 08:00 slot


def smtp_project(config: Path, port: int) -> Path:
    text = config.read_text("utf-8").replace(
        'recipients = ["editor@example.com"]',
        f'mode = "smtp"\nrecipients = {json.dumps(READERS)}\npause_min_sent = 10\n'
        "pause_hard_bounce_rate = 0.05")
    config.write_text(text + f'\n[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
                      "connections = 1\ntimeout = 10\n", "utf-8")
    return set_schedule(config, 'issue = "0 8 * * *"\ntimezone = "UTC"\nmisfire_grace = "1h"')


def test_the_scheduler_leaves_a_paused_send_alone(sample_project: Path) -> None:
    handler = Recorder(keep_content=False, permanent=set(READERS[1::2]))  # half refused
    with SmtpServer(handler) as smtp:
        config = smtp_project(sample_project, smtp.port)
        first = run(config, "run", "--once", env={"DIGEST_NOW": NOW})
        assert first.exit_code == 0, first.output
        assert "issue #1 paused: hard-bounce rate 50.0% (5 of 10 sent)" in first.output
        assert [(n, state) for n, _, state in issues(config)] == [(1, "paused")]
        assert handler.total == 5

        again = run(config, "run", "--once", env={"DIGEST_NOW": NOW})
        assert again.exit_code == 0, again.output
        assert handler.total == 5  # nothing more sent
        assert "paused at a [delivery] pause_* threshold: `digest send 1 --resume` goes on" \
            in again.output
        assert [(n, state) for n, _, state in issues(config)] == [(1, "paused")]
    with sqlite3.connect(config.parent / ".digest" / "state.db") as conn:
        pending = conn.execute("SELECT COUNT(*) FROM deliveries WHERE state = 'pending'")
        assert pending.fetchone()[0] == 30

"""SIGTERM while the daemon sends to a real aiosmtpd server: the message in hand is
finished and logged, the rest stay pending, and the next run sends each of them once."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.helpers import Digest, issues, run, set_schedule
from tests.smtp_server import Recorder, SmtpServer

READERS = [f"reader{i:02d}@example.net" for i in range(20)]


def deliveries(config: Path) -> dict[str, str]:
    with sqlite3.connect(config.parent / ".digest" / "state.db") as conn:
        return dict(conn.execute("SELECT email, state FROM deliveries WHERE issue_number = 1"))


def smtp_project(config: Path, port: int) -> Path:
    text = config.read_text("utf-8").replace(
        'recipients = ["editor@example.com"]',
        f'mode = "smtp"\nrecipients = {json.dumps(READERS)}')
    config.write_text(text + f'\n[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
                      "connections = 1\ntimeout = 10\n", "utf-8")
    return set_schedule(config, 'collect_every = "1h"\nissue = "* * * * *"\n'
                                'misfire_grace = "1h"')


def test_sigterm_during_a_send_leaves_a_consistent_delivery_log(
        sample_project: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DIGEST_SECRET", "test-secret-0123456789-0123456789-0123456789")
    held = READERS[5]
    with SmtpServer(Recorder(keep_content=False, hold=held)) as smtp:
        config = smtp_project(sample_project, smtp.port)
        daemon = Digest(config, "run")  # this minute's slot is unbuilt: build and send now
        try:
            assert smtp.handler.held.wait(15), daemon.log
            daemon.proc.send_signal(signal.SIGTERM)  # the 6th message is in the server's hands
            daemon.wait_for(lambda ls: any("SIGTERM received" in line for line in ls))
            time.sleep(0.3)
            smtp.handler.release.set()
        finally:
            code = daemon.finish()
        assert code == 0, daemon.log
        assert "delivered" in daemon.log and "stopped early" in daemon.log, daemon.log

        log = deliveries(config)
        delivered = {e for e, state in log.items() if state == "delivered"}
        assert delivered == set(READERS[:6])  # the held message finished and was recorded
        assert dict(smtp.handler.counts) == {e: 1 for e in delivered}
        assert {state for e, state in log.items() if e not in delivered} == {"pending"}
        assert [(n, state) for n, _, state in issues(config)] == [(1, "sending")]

        # The next run (here from cron) resumes the send: everyone has it exactly once.
        result = run(config, "run", "--once")
        assert result.exit_code == 0, result.output
        assert "send: sent issue #1: 14 delivered, 6 delivered before" in result.output
        assert dict(smtp.handler.counts) == {e: 1 for e in READERS}
        assert set(deliveries(config).values()) == {"delivered"}
        assert [(n, state) for n, _, state in issues(config)] == [(1, "sent")]

"""`digest send` with the state in PostgreSQL (a real server, DIGEST_DATABASE_URL):
killed with SIGKILL mid-send, then resumed, nobody gets the issue twice, as on SQLite
(tests/deliver/test_send_crash.py); the delivery log is read back from the server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from digest.state import postgres
from tests.send_project import build_issue, project
from tests.smtp_server import Recorder, SmtpServer

N = 300
HOLD = "reader00150@example.net"


def log_states(url: str) -> dict[str, str]:
    conn = postgres.connect(url)
    try:
        return {str(r[0]): str(r[1]) for r in conn.execute(
            "SELECT email, state FROM deliveries").fetchall()}
    finally:
        conn.close()


def test_sigkill_midway_then_resume_sends_each_recipient_once(
        tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_DATABASE_URL", postgres_url)
    built = build_issue(tmp_path / "built")
    assert not (built / ".digest" / "state.db").exists()
    (built / ".digest").mkdir(exist_ok=True)
    handler = Recorder(keep_content=False, hold=HOLD)
    csv = "email,name\n" + "".join(f"reader{i:05d}@example.net,Reader {i}\n" for i in range(N))
    env = {**os.environ, "DIGEST_SECRET": "crash-test-secret-0123456789-0123456789"}
    with SmtpServer(handler) as server:
        path = project(built, tmp_path / "p", server.port, csv=csv, smtp={"connections": 4})
        proc = subprocess.Popen([sys.executable, "-m", "digest", "--config", str(path), "send"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert handler.held.wait(90), "the held message never arrived"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        handler.release.set()

        states = log_states(postgres_url)
        counts = dict(handler.counts)
        in_flight = {e for e, s in states.items() if s == "sending"}
        delivered = {e for e, s in states.items() if s == "delivered"}
        assert HOLD in in_flight and counts[HOLD] == 1
        assert 0 < len(delivered) < N - 1
        assert all(counts.get(e) == 1 for e in delivered)
        assert all(e not in counts for e, s in states.items() if s in ("pending", "deferred"))

        # The killed sender's session ended with it: its state lock is free at once.
        resumed = subprocess.run([sys.executable, "-m", "digest", "--config", str(path), "send"],
                                 env=env, capture_output=True, text=True, timeout=120)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert f"{len(in_flight)} in flight" in resumed.stdout
        after = dict(handler.counts)
        everyone = {f"reader{i:05d}@example.net" for i in range(N)}
        assert all(after.get(e) == 1 for e in everyone - in_flight)
        assert all(after.get(e, 0) == counts.get(e, 0) for e in in_flight)  # not re-sent
    assert not (tmp_path / "p" / ".digest" / "state.db").exists()

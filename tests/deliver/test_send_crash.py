"""`digest send` killed with SIGKILL mid-send, then resumed: nobody gets the issue twice.

The server holds one message (counted, reply withheld) so the kill lands while that
message is provably in flight; other connections keep going until the kill.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.send_project import build_issue, project
from tests.smtp_server import Recorder, SmtpServer

N = 2000
HOLD = "reader01000@example.net"


def log_states(path: Path) -> dict[str, str]:
    conn = sqlite3.connect(path.parent / ".digest" / "state.db")
    try:
        return dict(conn.execute("SELECT email, state FROM deliveries").fetchall())
    finally:
        conn.close()


def digest(path: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "digest", "--config", str(path), *args],
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_sigkill_midway_then_resume_sends_each_recipient_once(tmp_path: Path) -> None:
    built = build_issue(tmp_path / "built")
    handler = Recorder(keep_content=False, hold=HOLD)
    csv = "email,name\n" + "".join(f"reader{i:05d}@example.net,Reader {i}\n" for i in range(N))
    env = {**os.environ, "DIGEST_SECRET": "crash-test-secret-0123456789-0123456789"}
    with SmtpServer(handler) as server:
        path = project(built, tmp_path / "p", server.port, csv=csv, smtp={"connections": 4})
        proc = subprocess.Popen([sys.executable, "-m", "digest", "--config", str(path), "send"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert handler.held.wait(90), "the held message never arrived"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            assert proc.stdout and proc.stderr
            proc.stdout.close()
            proc.stderr.close()
        handler.release.set()
        assert proc.returncode == -signal.SIGKILL

        states = log_states(path)
        counts = dict(handler.counts)
        in_flight = {e for e, s in states.items() if s == "sending"}
        delivered = {e for e, s in states.items() if s == "delivered"}
        assert HOLD in in_flight and counts[HOLD] == 1
        assert 0 < len(delivered) < N - 1
        # the log never claims less than the server got, nor more
        assert all(counts.get(e) == 1 for e in delivered)
        assert all(e not in counts for e, s in states.items() if s in ("pending", "deferred"))
        assert all(counts.get(e, 0) <= 1 for e in in_flight)

        resumed = digest(path, "send", env=env)
        assert resumed.returncode == 0, resumed.stderr
        assert f"{len(in_flight)} in flight" in resumed.stdout
        assert "--resolve-in-flight" in resumed.stderr and HOLD in resumed.stderr
        after = dict(handler.counts)
        everyone = {f"reader{i:05d}@example.net" for i in range(N)}
        assert all(after.get(e) == 1 for e in everyone - in_flight)
        assert all(after.get(e, 0) == counts.get(e, 0) for e in in_flight)  # not re-sent

        status = digest(path, "status", env=env)
        assert status.returncode == 0
        assert f"{len(in_flight)} sending" in status.stdout and HOLD in status.stdout

        resend = digest(path, "send", "--resend-in-flight", env=env)
        assert resend.returncode == 0, resend.stderr
        final = dict(handler.counts)
        assert all(final[e] == counts.get(e, 0) + 1 for e in in_flight)  # asked for: again
        assert all(final[e] == 1 for e in everyone - in_flight)
        assert set(log_states(path).values()) == {"delivered"}
        assert digest(path, "send", env=env).stdout.startswith("nothing to send")
        assert sum(handler.counts.values()) == N + len(in_flight)

"""`digest send` when the state database's disk fills in the middle of a send: one line
naming the file and what to do, no traceback, and every row where the server got to.

The "full disk" is RLIMIT_FSIZE, set in the child before it execs `digest send`: no
file may grow past the state database's size plus 64 KB, so the WAL fills after a few
messages (the same inputs fill it at the same row every time; nothing depends on
timing). Then the limit is lifted and the send resumed.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.send_project import project
from tests.smtp_server import Recorder, SmtpServer

N = 300
LAUNCH = ("import os, resource, sys; limit = int(sys.argv[1]); "
          "resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)); "
          "os.execv(sys.executable, [sys.executable, '-m', 'digest', *sys.argv[2:]])")


def digest(path: Path, *args: str, max_file_size: int | None = None
           ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    argv = ["--config", str(path), *args]
    command = [sys.executable, "-m", "digest", *argv] if max_file_size is None else \
        [sys.executable, "-c", LAUNCH, str(max_file_size), *argv]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def rows(db: Path) -> dict[str, str]:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return dict(conn.execute("SELECT email, state FROM deliveries").fetchall())
    finally:
        conn.close()


def test_state_disk_full_mid_send_is_one_line_and_every_row_is_right(built: Path,
                                                                    tmp_path: Path) -> None:
    everyone = [f"reader{i:04d}@example.net" for i in range(N)]
    handler = Recorder(keep_content=False)
    with SmtpServer(handler) as server:
        csv = "email,name\n" + "".join(f"{a},\n" for a in everyone)
        path = project(built, tmp_path, server.port, csv=csv)
        db = path.parent / ".digest" / "state.db"
        conn = sqlite3.connect(db)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the WAL starts empty
        conn.close()

        full = digest(path, "send", max_file_size=db.stat().st_size + 64 * 1024)
        assert full.returncode == 1, full.stdout + full.stderr
        assert "Traceback" not in full.stderr
        lines = full.stderr.strip().splitlines()
        assert len(lines) == 1, full.stderr
        assert lines[0].startswith(f"error: cannot read or write state database {db} ")
        assert "check the disk it is on" in lines[0]
        assert "`digest send 1` goes on" in lines[0]

        counts = dict(handler.counts)
        assert 0 < len(counts) < N  # it stopped in the middle
        log = rows(db)
        # the log never claims less than the server got, nor more
        assert all(log[a] in ("delivered", "sending") for a in counts)
        assert all(counts.get(a) == 1 for a, s in log.items() if s == "delivered")
        assert all(a not in counts for a, s in log.items() if s in ("pending", "deferred"))
        in_flight = {a for a, s in log.items() if s == "sending"}
        assert len(in_flight) <= 2  # at most one per connection

        resumed = digest(path, "send")
        assert resumed.returncode == 0, resumed.stderr
        after = dict(handler.counts)
        assert all(after.get(a) == 1 for a in set(everyone) - in_flight)
        assert all(after.get(a, 0) == counts.get(a, 0) for a in in_flight)  # not re-sent
        if in_flight:
            assert f"{len(in_flight)} message(s) in flight" in resumed.stderr
        assert {s for a, s in rows(db).items() if a not in in_flight} == {"delivered"}

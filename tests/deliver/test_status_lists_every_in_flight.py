"""`digest status ISSUE` lists every message in flight, however many: the send's
WARNING says "`digest status N` lists them" and the operator must check each one
arrived before settling them, but status printed 20 and "... and N more" (a send of
50,000 through a server dropping 3% left 750 in flight). Real aiosmtpd that drops
after the dot, real SQLite file."""

from __future__ import annotations

from pathlib import Path

from tests.deliver.scripted_smtp import Scripted, ScriptedServer
from tests.helpers import run
from tests.send_project import project


def test_status_lists_every_message_in_flight(built: Path, tmp_path: Path) -> None:
    everyone = [f"reader{i:03d}@example.net" for i in range(60)]
    lost = everyone[5:55:2]  # 25, more than a screenful
    handler = Scripted(keep_content=False, drops=dict.fromkeys(lost, "reply"))
    with ScriptedServer(handler) as server:
        path = project(built, tmp_path, server.port, emails=everyone,
                       smtp={"connections": 2})
        run(path, "send", expect=0)
    status = run(path, "status", "1", expect=0).output
    listed = [line.split()[0] for line in status.splitlines() if line.startswith("  reader")]
    assert sorted(listed) == sorted(lost), status
    assert "more" not in status, status

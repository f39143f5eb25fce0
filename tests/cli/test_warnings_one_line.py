"""Every warning is one line however long, so logs and cron mail can grep it: a bad row
in the recipients file was reported by `digest send` wrapped at 80 columns ("field
larger than field" / "limit (131072); row skipped" on two lines). Real aiosmtpd."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run
from tests.send_project import project
from tests.smtp_server import Recorder, SmtpServer


def test_a_recipient_list_warning_is_one_line(built: Path, tmp_path: Path) -> None:
    csv = "email,name\nann@example.net,Ann\nbo@example.net,\"" + "x" * 200_000 + "\"\n"
    with SmtpServer(Recorder()) as smtp:
        path = project(built, tmp_path, smtp.port, csv=csv)
        sent = run(path, "send", expect=0, terminal_width=80)
    [warning] = [line for line in sent.output.splitlines() if "recipient list" in line]
    assert len(warning) > 80
    assert warning.endswith("row skipped"), sent.output
    assert sorted(smtp.handler.counts) == ["ann@example.net"]

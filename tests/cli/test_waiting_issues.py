"""With smtp delivery no issue is passed by in silence: a `build` that only builds says
the issue waits, `status` lists every issue not fully sent with its counts, the daemon's
log names the waiting ones, and `send` never mails an issue older than one that went
out unless told to with `--allow-older`. Through the front door, with a real aiosmtpd
server and the real SQLite state file."""

from __future__ import annotations

import json
import re
from email import message_from_bytes
from pathlib import Path

from tests.helpers import config_with, error_line, rss, run, set_schedule
from tests.smtp_server import Recorder, SmtpServer

READERS = ["ann@example.net", "bo@example.net", "cy@example.net"]
BUILD_AT = "2026-11-30T08:00:00+08:00"
SLOT_AT = "2026-11-30T09:10:00+08:00"  # ten minutes after the 09:00 slot


def smtp_project(folder: Path, port: int) -> Path:
    config = config_with(folder, [{"url": "feed.xml", "name": "Wire"}],
                         f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
                         "connections = 1\ntimeout = 10\nmax_attempts = 1\n")
    text = config.read_text("utf-8").replace(
        'recipients = ["editor@example.com"]', f'mode = "smtp"\nrecipients = {json.dumps(READERS)}')
    config.write_text(text, "utf-8")
    return set_schedule(config, 'issue = "0 9 * * MON"\nmisfire_grace = "1h"')


def mailed(smtp: SmtpServer, number: int) -> list[str]:
    """Who got issue `number` (its Message-ID starts with the issue's key)."""
    return sorted(r for m in smtp.handler.messages
                  if message_from_bytes(m.content)["Message-ID"].startswith(
                      f"<the-china-connection-{number}.")
                  for r in m.rcpt_tos)


def test_a_built_issue_is_never_passed_by_in_silence(tmp_path: Path):
    handler = Recorder()
    handler.transient[READERS[2]] = 1  # #2 is deferred for one reader: left "sending"
    with SmtpServer(handler) as smtp:
        config = smtp_project(tmp_path, smtp.port)
        (tmp_path / "feed.xml").write_bytes(rss(5, "Alpha"))
        built = run(config, "build", now=BUILD_AT, expect=0)
        assert "issue #1 written to" in built.output
        assert ("waiting: issue #1 is built and not sent: `digest send` mails it"
                in built.output), built.output
        assert smtp.handler.total == 0

        # The daemon's slot: it builds and sends #2, and its log names #1.
        (tmp_path / "feed.xml").write_bytes(rss(5, "Beta", start=10))
        once = run(config, "run", "--once", now=SLOT_AT, expect=0)
        assert "built issue #2" in once.output, once.output
        [waiting] = [line for line in once.output.splitlines() if "waiting:" in line]
        assert re.search(r" WARNING digest\.run waiting: issue #1 \(\S+-1\): built, never sent; "
                         r"issue #2 went out after it, so only `digest send 1 --allow-older` "
                         "sends it$", waiting), waiting
        assert mailed(smtp, 2) == READERS[:2]

        status = run(config, "status", expect=0)
        listed = status.output.split("not fully sent (2):\n", 1)[1].splitlines()
        assert listed[0].startswith("  issue #1 (") and "built, never sent" in listed[0]
        assert listed[1].startswith("  issue #2 (")
        assert listed[1].endswith("): 2 delivered, 0 pending, 1 deferred, 0 in flight, "
                                 "0 failed"), listed

        # A plain send finishes #2 (the newest), then refuses the stale #1.
        finish = run(config, "send", expect=0)
        assert "issue #2: 1 delivered" in finish.output, finish.output
        stale = run(config, "send", expect=1)
        assert error_line(stale) == (
            "error: issue #1 is older than issue #2, which went out already: sending it now "
            "would reach readers after the newer one; `digest send 1 --allow-older` sends it "
            "anyway")
        assert "error:" in run(config, "send", "1", expect=1).output
        assert mailed(smtp, 1) == []

        told = run(config, "send", "--allow-older", expect=0)
        assert "issue #1: 3 delivered" in told.output, told.output
        assert mailed(smtp, 1) == READERS
        assert "not fully sent" not in run(config, "status", expect=0).output

        missing = run(config, "send", "99", expect=1)
        assert error_line(missing) == ("error: issue #99 does not exist: the issues are #1 to "
                                       "#2; `digest status` lists every issue not fully sent")

"""A send pauses itself at its `[delivery] pause_*` thresholds (issue 21, item 3).

A scripted aiosmtpd refuses a share of the recipients with 550 at RCPT; with one
connection the messages end one at a time, so the pause falls exactly where the
threshold is passed: no sleep and no race decides it. A complaint comes in through the
real bounce path (digest.deliver.bounces.process, as `digest bounces` runs it) while the
send runs, from inside the server as it receives message K.
"""

from __future__ import annotations

import mailbox
import sqlite3
from pathlib import Path

from digest.config.load import load_config
from digest.deliver.bounces import process
from digest.deliver.pause import CHECK_EVERY
from digest.deliver.smtp import send_issue
from tests.deliver.scripted_smtp import Scripted, ScriptedServer
from tests.helpers import run
from tests.send_project import project

READERS = [f"reader{i:03d}@example.net" for i in range(400)]


def with_pause(path: Path, **keys: object) -> Path:
    """The project's config with `[delivery] pause_*` keys."""
    lines = "".join(f"pause_{k} = {v}\n" for k, v in keys.items())
    text = path.read_text("utf-8").replace(
        'unsubscribe_mailto = "unsubscribe@example.com"\n',
        f'unsubscribe_mailto = "unsubscribe@example.com"\n{lines}')
    path.write_text(text, "utf-8")
    return path


def states(path: Path) -> dict[str, str]:
    conn = sqlite3.connect(path.parent / ".digest" / "state.db")
    try:
        return dict(conn.execute("SELECT email, state FROM deliveries").fetchall())
    finally:
        conn.close()


def issue_state(path: Path) -> str:
    conn = sqlite3.connect(path.parent / ".digest" / "state.db")
    try:
        return str(conn.execute("SELECT state FROM issues WHERE number = 1").fetchone()[0])
    finally:
        conn.close()


def ended(log: dict[str, str]) -> int:
    return sum(s in ("delivered", "failed", "sending") for s in log.values())


def test_the_send_pauses_when_its_hard_bounce_rate_passes_the_threshold(
        built: Path, tmp_path: Path) -> None:
    refused = set(READERS[9::10])  # one in ten: 10% > 5%
    handler = Scripted(keep_content=False, permanent=refused)
    with ScriptedServer(handler) as server:
        path = with_pause(project(built, tmp_path, server.port, emails=READERS,
                                  smtp={"connections": 1}),
                          hard_bounce_rate=0.05, min_sent=200, complaints=0)
        report = send_issue(load_config(path))
        log = states(path)
        # checked from the 200th message on; at the 200th, 20 of 200 refused: paused there
        assert ended(log) == 200 and report.delivered == 180 and report.failed == 20
        assert sum(s == "pending" for s in log.values()) == 200
        assert report.not_sent == 200 and not report.complete
        assert issue_state(path) == "paused"
        assert report.paused == (
            "issue #1 paused: hard-bounce rate 10.0% (20 of 200 sent) passed [delivery] "
            "pause_hard_bounce_rate = 0.05 (checked from pause_min_sent = 200); the rest "
            "stay pending; look at `digest report 1`, then `digest send 1 --resume` goes on")
        assert "200 not sent (paused)" in report.message

        # nothing takes it up again by itself: not `digest send` (nor the daemon: its check)
        again = send_issue(load_config(path))
        assert again.paused and again.delivered == 0 and handler.total == 180
        assert "issue #1 is paused, nothing sent" in again.message
        sent = run(path, "send", "1")
        assert sent.exit_code == 1 and "`digest send 1 --resume` goes on" in sent.output
        status = run(path, "status", "1")
        assert "issue #1 (" in status.output and "): paused" in status.output
        assert report.paused in status.output

        # --resume goes on, counting afresh (the server now takes everyone)
        handler.permanent.clear()
        resumed = run(path, "send", "1", "--resume")
        assert resumed.exit_code == 0, resumed.output
        log = states(path)
        assert sum(s == "delivered" for s in log.values()) == 380
        assert sum(s == "failed" for s in log.values()) == 20
        assert issue_state(path) == "sent" and handler.total == 380


def test_a_hard_bounce_rate_at_the_threshold_does_not_pause(built: Path,
                                                            tmp_path: Path) -> None:
    handler = Scripted(keep_content=False, permanent=set(READERS[19::20]))  # exactly 5%
    with ScriptedServer(handler) as server:
        path = with_pause(project(built, tmp_path, server.port, emails=READERS,
                                  smtp={"connections": 1}),
                          hard_bounce_rate=0.05, min_sent=200)
        report = send_issue(load_config(path))
    assert not report.paused and report.complete
    assert report.delivered == 380 and report.failed == 20
    assert issue_state(path) == "sent"


ARF = """From: feedback@arf.mail.example
To: bounces@example.com
Subject: Complaint about message
Message-ID: <arf-{n}@arf.mail.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="A"

--A
Content-Type: text/plain

This is an email abuse report.

--A
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeISP-FBL/1.0
Version: 1
Original-Rcpt-To: {final}

--A
Content-Type: text/rfc822-headers

From: The China Connection <digest@example.com>
To: {final}
Message-ID: {message_id}
Subject: The China Connection: a story

--A--
"""

K = 30  # the server's message at which the complaints come in


def test_complaints_that_come_in_during_the_send_pause_it(built: Path,
                                                         tmp_path: Path) -> None:
    handler = Scripted(keep_content=True)
    with ScriptedServer(handler) as server:
        path = with_pause(project(built, tmp_path, server.port, emails=READERS,
                                  smtp={"connections": 2}),
                          complaints=3, hard_bounce_rate=0)
        box_path = tmp_path / "fbl.mbox"
        fired: list[str] = []

        def at_message(total: int) -> None:
            if total != K:
                return
            box = mailbox.mbox(box_path, create=True)
            for n, message in enumerate(handler.messages[:3]):
                head = message.content.split(b"\r\n\r\n", 1)[0].decode()
                mid = next(line.split(":", 1)[1].strip() for line in head.splitlines()
                           if line.lower().startswith("message-id:"))
                box.add(ARF.format(n=n, final=message.rcpt_tos[0], message_id=mid))
            box.close()
            done = process(load_config(path), box_path)  # what `digest bounces` does
            fired.append(f"{done.complaints} complaint(s)")

        handler.on_message = at_message
        report = send_issue(load_config(path))
    assert fired == ["3 complaint(s)"]
    log = states(path)
    # looked at within CHECK_EVERY messages of the complaints; one more per connection
    assert K <= ended(log) <= K + CHECK_EVERY + 2
    assert sum(s == "pending" for s in log.values()) == len(READERS) - ended(log)
    assert issue_state(path) == "paused"
    assert report.paused.startswith(
        "issue #1 paused: 3 complaint(s) during this send reached [delivery] "
        "pause_complaints = 3")
    conn = sqlite3.connect(path.parent / ".digest" / "state.db")
    try:
        traced = conn.execute("SELECT email, issue_number FROM bounces ORDER BY email").fetchall()
        left = conn.execute("SELECT email, issue_number, reason FROM unsubscribes "
                            "ORDER BY email").fetchall()
    finally:
        conn.close()
    complainers = sorted(m.rcpt_tos[0] for m in handler.messages[:3])
    assert traced == [(e, 1) for e in complainers]
    assert left == [(e, 1, "complaint") for e in complainers]


def test_the_thresholds_off_never_pause(built: Path, tmp_path: Path) -> None:
    handler = Scripted(keep_content=False, permanent=set(READERS[:300]))
    with ScriptedServer(handler) as server:
        path = with_pause(project(built, tmp_path, server.port, emails=READERS),
                          hard_bounce_rate=0, complaints=0)
        report = send_issue(load_config(path))
    assert not report.paused and report.failed == 300 and report.delivered == 100


def test_digest_send_says_it_paused_in_one_line_and_exits_1(built: Path,
                                                            tmp_path: Path) -> None:
    handler = Scripted(keep_content=False, permanent=set(READERS[4:250:5]))  # 20%
    with ScriptedServer(handler) as server:
        path = with_pause(project(built, tmp_path, server.port, emails=READERS[:250],
                                  smtp={"connections": 1}),
                          hard_bounce_rate=0.05, min_sent=50)
        result = run(path, "send")
    assert result.exit_code == 1
    said = [line for line in result.output.splitlines() if "paused" in line]
    assert len(said) == 2, result.output
    assert said[0].endswith(
        "issue #1 paused: hard-bounce rate 20.0% (10 of 50 sent) passed [delivery] "
        "pause_hard_bounce_rate = 0.05 (checked from pause_min_sent = 50); the rest stay "
        "pending; look at `digest report 1`, then `digest send 1 --resume` goes on")
    assert said[1].startswith("issue #1: 40 delivered, 10 failed permanently, 0 deferred, "
                              "200 not sent (paused) in ")

"""Which issue a bounce, complaint or unsubscribe counts for in `digest report` (issue
21, item 3): the returned message's Message-ID when the report carries it, else the
latest issue sent to the address. Two issues went to the same readers: issue #1 really
(aiosmtpd), issue #2 written into the delivery log as a later send would leave it."""

from __future__ import annotations

import json
import mailbox
import sqlite3
from pathlib import Path

from digest.config.load import load_config
from digest.deliver.smtp import send_issue
from digest.state.deliveries import Subscribers
from tests.helpers import run
from tests.send_project import project
from tests.smtp_server import Recorder, SmtpServer

READERS = ["ann@example.com", "bo@example.org", "cy@example.net", "di@example.com"]

REPORT = """From: {sender}
To: digest@example.com
Subject: a report
Message-ID: <{n}@reports.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type={kind}; boundary="R"

--R
Content-Type: {part}

{fields}
--R
Content-Type: text/rfc822-headers

From: The China Connection <digest@example.com>
To: {final}
{message_id}Subject: The China Connection

--R--
"""


def complaint(n: int, final: str, message_id: str = "") -> str:
    return REPORT.format(sender="fbl@isp.example", n=n, kind="feedback-report",
                         part="message/feedback-report", final=final,
                         fields=f"Feedback-Type: abuse\nVersion: 1\nOriginal-Rcpt-To: {final}\n",
                         message_id=f"Message-ID: {message_id}\n" if message_id else "")


def hard_bounce(n: int, final: str, message_id: str) -> str:
    return REPORT.format(sender="MAILER-DAEMON@mx.example", n=n, kind="delivery-status",
                         part="message/delivery-status", final=final,
                         fields=f"Reporting-MTA: dns; mx.example\n\nFinal-Recipient: rfc822; "
                                f"{final}\nAction: failed\nStatus: 5.1.1\n",
                         message_id=f"Message-ID: {message_id}\n")


def test_events_count_for_the_issue_their_message_came_from(built: Path,
                                                            tmp_path: Path) -> None:
    with SmtpServer(Recorder(keep_content=False)) as server:
        path = project(built, tmp_path, server.port, emails=READERS)
        assert send_issue(load_config(path)).delivered == 4
    db = path.parent / ".digest" / "state.db"
    conn = sqlite3.connect(db)
    try:
        first = dict(conn.execute("SELECT email, message_id FROM deliveries"))
        conn.execute("INSERT INTO issues (number, slot, date, subject, outbox_path, state, "
                     "created_at) SELECT 2, NULL, date, subject, outbox_path, 'sent', "
                     "created_at FROM issues WHERE number = 1")
        conn.execute("INSERT INTO deliveries (issue_number, email, address, state, "
                     "attempts, last_reply, message_id, updated_at) SELECT 2, email, "
                     "address, 'delivered', 1, last_reply, '<two.' || email || '>', "
                     "updated_at FROM deliveries WHERE issue_number = 1")
        conn.commit()
    finally:
        conn.close()
    box = mailbox.mbox(tmp_path / "reports.mbox", create=True)
    box.add(complaint(1, "ann@example.com", first["ann@example.com"]))  # issue 1's message
    box.add(complaint(2, "bo@example.org"))  # no Message-ID: the latest issue
    box.add(hard_bounce(3, "cy@example.net", first["cy@example.net"]))
    box.close()
    assert run(path, "bounces", str(tmp_path / "reports.mbox")).exit_code == 0
    with Subscribers.opened(db) as subscribers:
        subscribers.unsubscribe("di@example.com", 1_796_000_000_000)  # the link names no issue

    one = json.loads(run(path, "report", "1", "--format", "json").output)
    two = json.loads(run(path, "report", "2", "--format", "json").output)
    assert [e["email"] for e in one["complaints"]] == ["ann@example.com"]
    assert [(e["email"], e["kind"]) for e in one["bounces"]] == [("cy@example.net", "hard")]
    assert [(e["email"], e["kind"]) for e in one["unsubscribes"]] == [
        ("ann@example.com", "complaint")]
    assert [e["email"] for e in two["complaints"]] == ["bo@example.org"]
    assert two["bounces"] == []
    assert [(e["email"], e["kind"]) for e in two["unsubscribes"]] == [
        ("bo@example.org", "complaint"), ("di@example.com", "unsubscribed")]
    assert one["counts"]["recipients"] == two["counts"]["recipients"] == 4

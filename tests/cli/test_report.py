"""`digest report [ISSUE] [--format text|csv|json]` (issue 21, item 3): on a send with
refusals, bounces, a complaint and unsubscribes, every count it prints matches the
delivery log, in every format; text escapes control characters, CSV formulas.

The send is real (aiosmtpd refusing three readers with 550), the bounces and the
complaint go through `digest bounces`, the unsubscribes through the web's
Subscribers.unsubscribe."""

from __future__ import annotations

import csv
import io
import json
import mailbox
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from digest.config.load import load_config
from digest.deliver.smtp import send_issue
from digest.models import DELIVERY_STATES
from digest.state.deliveries import Subscribers
from tests.helpers import run
from tests.send_project import project
from tests.smtp_server import Recorder, SmtpServer

READERS = ([f"ann{i}@example.com" for i in range(20)] + [f"bo{i}@mail.example.org"
           for i in range(12)] + [f"cy{i}@post.example.net" for i in range(6)]
           + ["-bob@example.com", "=sum@example.org"])
REFUSED = {"ann3@example.com", "bo5@mail.example.org", "cy1@post.example.net"}
HARD = ["ann7@example.com", "bo2@mail.example.org"]
SOFT = "cy4@post.example.net"
ANGRY = "ann9@example.com"
LEFT = ["ann11@example.com", "-bob@example.com"]  # unsubscribed on the web

DSN = """From: MAILER-DAEMON@mx.{domain}
To: digest@example.com
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn-{n}@mx.{domain}>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

Your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.{domain}

Final-Recipient: rfc822; {final}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; {diag}

--B--
"""

ARF = """From: feedback@arf.mail.example
To: digest@example.com
Subject: Complaint about message
Message-ID: <arf-1@arf.mail.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="A"

--A
Content-Type: message/feedback-report

Feedback-Type: abuse
Version: 1
Original-Rcpt-To: {final}

--A--
"""


@pytest.fixture(scope="module")
def sent(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Issue #1 sent to READERS (three refused), then bounces, a complaint and
    unsubscribes recorded; the config path."""
    folder = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as mp:
        from tests.helpers import TEST_SECRET

        mp.setenv("DIGEST_SECRET", TEST_SECRET)
        with SmtpServer(Recorder(keep_content=False, permanent=set(REFUSED))) as server:
            path = project(built, folder, server.port, emails=READERS)
            report = send_issue(load_config(path))
        assert report.failed == 3 and report.delivered == len(READERS) - 3
        box = mailbox.mbox(folder / "bounces.mbox", create=True)
        for n, final in enumerate(HARD):
            diag = "550 5.1.1 user unknown" + ("\x1b[2J\x1b[31m gone" if n == 0 else "")
            box.add(DSN.format(n=n, domain=final.split("@")[1], final=final,
                               action="failed", status="5.1.1", diag=diag))
        box.add(DSN.format(n=9, domain="post.example.net", final=SOFT, action="delayed",
                           status="4.2.2", diag="452 4.2.2 mailbox full"))
        box.add(ARF.format(final=ANGRY))
        box.close()
        done = run(path, "bounces", str(folder / "bounces.mbox"))
        assert done.exit_code == 0, done.output
        with Subscribers.opened(path.parent / ".digest" / "state.db") as subscribers:
            for email in LEFT:
                subscribers.unsubscribe(email, 1_796_000_000_000)
    return path


def delivery_log(path: Path) -> dict[str, str]:
    conn = sqlite3.connect(path.parent / ".digest" / "state.db")
    try:
        return dict(conn.execute(
            "SELECT email, state FROM deliveries WHERE issue_number = 1").fetchall())
    finally:
        conn.close()


def test_every_count_of_the_json_report_matches_the_delivery_log(sent: Path) -> None:
    result = run(sent, "report", "1", "--format", "json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    log = delivery_log(sent)
    by_state = Counter(log.values())
    assert found["counts"]["recipients"] == len(log) == len(READERS)
    assert found["counts"]["by_state"] == {s: by_state.get(s, 0) for s in DELIVERY_STATES}
    assert found["counts"]["by_state"]["failed"] == 3
    domains: dict[str, Counter[str]] = {}
    for email, state in log.items():
        domains.setdefault(email.rpartition("@")[2], Counter())[state] += 1
    assert found["counts"]["by_domain"] == {d: dict(c) for d, c in domains.items()}
    assert list(found["counts"]["by_domain"]) == [
        "example.com", "mail.example.org", "post.example.net", "example.org"]  # most first
    assert found["counts"]["by_variant"] == {"full": len(READERS)}
    assert found["counts"]["bounces"] == {"hard": 2, "soft": 1, "policy": 0}
    assert found["counts"]["complaints"] == 1
    assert found["counts"]["unsubscribes"] == {"complaint": 1, "unsubscribed": 2}
    assert sorted(e["email"] for e in found["bounces"] if e["kind"] == "hard") == sorted(HARD)
    assert [e["email"] for e in found["complaints"]] == [ANGRY]
    assert sorted(e["email"] for e in found["unsubscribes"]) == sorted([ANGRY, *LEFT])
    rows = found["recipients"]
    assert [r["email"] for r in rows] == sorted(log)
    assert {r["email"]: r["state"] for r in rows} == log
    assert all(r["variant"] == "full" and r["updated_at"] and r["message_id"] for r in rows)
    assert found["issue"]["number"] == 1 and found["issue"]["state"] == "sent"


def test_the_csv_has_a_row_per_recipient_with_its_events_and_no_formulas(sent: Path) -> None:
    result = run(sent, "report", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    log = delivery_log(sent)
    assert len(rows) == len(log)
    by_email = {r["email"].removeprefix("'"): r for r in rows}
    assert {e: r["state"] for e, r in by_email.items()} == log
    assert by_email["-bob@example.com"]["email"] == "'-bob@example.com"
    assert by_email["-bob@example.com"]["address"] == "'-bob@example.com"
    assert by_email["=sum@example.org"]["email"] == "'=sum@example.org"
    assert not [c for r in rows for c in r.values() if c[:1] in ("=", "+", "-", "@")]
    assert {e for e, r in by_email.items() if r["bounces"]} == {*HARD, SOFT}
    assert by_email[SOFT]["bounces"] == "soft"
    assert {e for e, r in by_email.items() if r["complained_at"]} == {ANGRY}
    assert {e for e, r in by_email.items() if r["unsubscribed_at"]} == {ANGRY, *LEFT}
    assert Counter(r["state"] for r in rows)["failed"] == 3


def test_the_text_report_counts_and_escapes_control_characters(sent: Path) -> None:
    result = run(sent, "report")
    assert result.exit_code == 0, result.output
    text = result.output
    n = len(READERS)
    assert f"recipients: {n}\n" in text
    assert f"by state: 0 pending, 0 sending, {n - 3} delivered, 0 deferred, 3 failed, " \
           "0 suppressed\n" in text
    assert "by domain (4 domain(s)):\n  example.com            21  20 delivered, 1 failed\n" \
        in text
    assert "bounces: 3 (2 hard, 1 soft, 0 policy); refused by the server at send time: 3 " \
           "(state failed)\n" in text
    assert "complaints: 1\n" in text
    assert "unsubscribes: 3 (1 complaint, 2 unsubscribed)\n" in text
    assert "\x1b" not in text and "\\x1b[2J\\x1b[31m gone" in text
    listed = text.split("recipients (address, variant, state, attempts, when, last reply):\n")[1]
    assert len(listed.splitlines()) == n
    assert "  ann3@example.com  full  failed  1  " in listed
    assert "550 5.1.1 no such user here" in listed


def test_a_missing_issue_is_one_line(sent: Path) -> None:
    result = run(sent, "report", "7")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: issue #7 does not exist; `digest status` lists the issues"]


def test_a_variant_column_in_the_delivery_log_is_reported(sent: Path, tmp_path: Path) -> None:
    """The delivery log records a variant per row (migration 15): the report reads it
    (a row without one got the full issue)."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(sent.parent, copy)
    conn = sqlite3.connect(copy / ".digest" / "state.db")
    try:
        conn.execute("UPDATE deliveries SET variant = 'markets' WHERE email LIKE 'bo%'")
        conn.commit()
    finally:
        conn.close()
    found = json.loads(run(copy / "config.toml", "report", "--format", "json").output)
    assert found["counts"]["by_variant"] == {"full": len(READERS) - 12, "markets": 12}
    assert {r["variant"] for r in found["recipients"] if r["email"].startswith("bo")} == \
        {"markets"}
    text = run(copy / "config.toml", "report").output
    assert f"by variant: {len(READERS) - 12} full, 12 markets\n" in text
    assert "  bo0@mail.example.org  markets  delivered  1  " in text

"""`digest bounces` under attack (issue 22, items 5, 6, 7 and 13): a message nested a
thousand deep or sixty megabytes big never stops the rest, VERP without its secret is
refused loudly, soft bounces count by issues in a row, and a refusal for content or
policy never suppresses the address."""

from __future__ import annotations

import mailbox
import sqlite3
from pathlib import Path

import pytest
from click.testing import Result

from digest.config.load import load_config
from digest.tokens import load_secret, verp_token
from tests.helpers import (
    error_line,
    run,
    secret,  # noqa: F401 - the autouse secret fixture
)
from tests.send_project import project
from tests.smtp_server import Recorder, SmtpServer

RETURN = "bounces@news.example.com"


def dsn(to: str, final: str, action: str, status: str, diag: str, mid: str,
        returned: str = "") -> str:
    """A DSN (RFC 3464) as Postfix writes one: notice, delivery-status, returned headers."""
    return f"""From: MAILER-DAEMON@mx.example
To: {to}
Subject: Undelivered Mail Returned to Sender
Message-ID: <{mid}@mx.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

Your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example

Final-Recipient: rfc822; {final}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; {diag}

--B
Content-Type: text/rfc822-headers

From: The China Connection <digest@example.com>
To: {final}
Subject: The China Connection: a story
{returned}
--B--
"""


def with_return_path(config: Path) -> Path:
    text = config.read_text("utf-8").replace(
        'unsubscribe_mailto = "unsubscribe@example.com"',
        f'unsubscribe_mailto = "unsubscribe@example.com"\nreturn_path = "{RETURN}"')
    config.write_text(text, "utf-8")
    return config


def verp(config: Path, address: str) -> str:
    secret_bytes = load_secret(load_config(config))
    assert secret_bytes is not None
    return f"bounces+{verp_token(secret_bytes, address)}@news.example.com"


def mbox(path: Path, *messages: str | bytes) -> Path:
    box = mailbox.mbox(path, create=True)
    for m in messages:
        box.add(m)
    box.close()
    return path


def statuses(config: Path) -> dict[str, str]:
    listed = run(config, "subscribers", "list", "--format", "csv", expect=0).output
    return dict(line.split(",")[:2] for line in listed.splitlines()[1:])


def nested(depth: int) -> str:
    """A message of `depth` nested multiparts (about 58 bytes a level)."""
    opened = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n'
                     for i in range(depth))
    closed = "".join(f"--b{i}--\n" for i in reversed(range(depth)))
    return (f"From: x@example.org\nTo: {RETURN}\nMessage-ID: <nest@x.example>\n"
            f"MIME-Version: 1.0\n{opened}Content-Type: text/plain\n\nhi\n{closed}")


# -- item 5: a message nested 1,000 deep ------------------------------------------------

def test_a_deeply_nested_message_is_skipped_once_and_the_rest_are_read(
        built: Path, tmp_path: Path) -> None:
    config = with_return_path(project(built, tmp_path, 1, emails=["ann@example.com"]))
    box = mbox(tmp_path / "b.mbox", nested(1000),
               dsn(verp(config, "ann@example.com"), "ann@example.com", "failed", "5.1.1",
                   "550 5.1.1 user unknown", "after"))
    first = run(config, "bounces", str(box))
    assert first.exit_code == 0, first.output
    assert "Traceback" not in first.output
    warnings = [line for line in first.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and f"{box}: message #1: cannot be read" in warnings[0]
    assert "bounced: ann@example.com" in first.output
    assert "2 message(s): 1 hard bounce(s), 0 soft, 0 complaint(s), 1 skipped" in first.output
    again = run(config, "bounces", str(box), expect=0)
    assert "warning" not in again.output  # noted as read: not read, nor warned of, again
    assert "2 message(s): 0 hard bounce(s), 0 soft, 0 complaint(s), 2 skipped" in again.output
    assert statuses(config)["ann@example.com"] == "bounced"


# -- item 13: a 60 MB message -------------------------------------------------------------

def test_a_huge_message_is_read_in_part(built: Path, tmp_path: Path) -> None:
    """The report comes before the returned message: its first megabytes are enough."""
    config = with_return_path(project(built, tmp_path, 1, emails=["big@example.com"]))
    huge = dsn(verp(config, "big@example.com"), "big@example.com", "failed", "5.1.1",
               "550 5.1.1 user unknown", "huge", returned="X-Pad: x\n" + "y" * 76 * 80_000)
    box = mbox(tmp_path / "b.mbox", huge)
    result = run(config, "bounces", str(box), expect=0)
    assert f"warning: {box}: message #1: over 4 MB; read its first 4 MB only" in " ".join(
        result.output.split())
    assert "bounced: big@example.com" in result.output


# -- item 6: return_path without its secret --------------------------------------------

def test_return_path_without_the_secret_is_refused_by_check_send_and_bounces(
        built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    with SmtpServer(recorder) as smtp:
        config = with_return_path(project(built, tmp_path, smtp.port,
                                          emails=["ann@example.com"]))
        # No {token} in the unsubscribe link: nothing else asks for the secret.
        text = config.read_text("utf-8").replace(
            'unsubscribe_url = "https://example.com/unsubscribe?token={token}"\n', "")
        config.write_text(text, "utf-8")
        monkeypatch.delenv("DIGEST_SECRET")
        box = mbox(tmp_path / "b.mbox", "From: a@example.org\n\nhi\n")
        for args in (("check",), ("bounces", str(box)), ("send",)):
            result = run(config, *args)
            assert result.exit_code == 2, (args, result.output)
            line = error_line(result)
            assert line.startswith("error: [delivery] return_path: needs the secret in the "
                                   "environment variable DIGEST_SECRET"), line
    assert recorder.messages == []  # nothing went out without VERP


# -- item 7: soft bounces and policy refusals ---------------------------------------------

def history(tmp_path: Path, reader: str, sends: dict[int, str]) -> None:
    """Issues `number: day` delivered to `reader` (as `digest send` logs them)."""
    with sqlite3.connect(tmp_path / ".digest" / "state.db") as db:
        for number, day in sends.items():
            db.execute("INSERT OR IGNORE INTO issues (number, slot, date, subject, outbox_path,"
                       " state, created_at) VALUES (?, NULL, ?, 's', 'x', 'sent', ?)",
                       (number, day, day))
            db.execute("INSERT INTO deliveries (issue_number, email, address, state, attempts,"
                       " message_id, updated_at) VALUES (?, ?, ?, 'delivered', 1, ?, ?)",
                       (number, reader, reader, f"<{number}@x>", f"{day}T08:00:00.000+00:00"))


def soft(config: Path, tmp_path: Path, reader: str, day: str, n: int) -> Result:
    box = mbox(tmp_path / f"soft-{n}.mbox",
               dsn(verp(config, reader), reader, "delayed", "4.2.2",
                   "452 4.2.2 mailbox full", f"soft-{n}"))
    return run(config, "bounces", str(box), now=f"{day}T20:00:00+00:00", expect=0)


def test_soft_bounces_months_apart_with_issues_read_between_are_no_bounce(
        built: Path, tmp_path: Path) -> None:
    reader = "full@example.com"
    config = with_return_path(project(built, tmp_path, 1, emails=[reader]))
    history(tmp_path, reader, {2: "2026-01-05", 3: "2026-02-02", 4: "2026-03-02",
                               5: "2026-04-06", 6: "2026-05-04"})
    for n, day in enumerate(("2026-01-05", "2026-03-02", "2026-05-04")):  # issues 2, 4, 6
        result = soft(config, tmp_path, reader, day, n)
        assert "bounced:" not in result.output, result.output
    assert reader not in statuses(config)  # still mailed

    # Three issues in a row, each bounced, with none read between: a dead mailbox.
    history(tmp_path, reader, {7: "2026-05-25", 8: "2026-06-01", 9: "2026-06-08",
                               10: "2026-06-15"})
    for n, day in enumerate(("2026-06-01", "2026-06-08"), start=10):
        assert "bounced:" not in soft(config, tmp_path, reader, day, n).output
    # An MTA's repeated delay notices for one issue are one issue's: not yet a bounce.
    assert "bounced:" not in soft(config, tmp_path, reader, "2026-06-09", 12).output
    last = soft(config, tmp_path, reader, "2026-06-15", 13)
    assert f"bounced: {reader}" in last.output
    assert statuses(config)[reader] == "bounced"


POLICY = {
    "gmail-spam": ("5.7.1", "550-5.7.1 content rejected as spam"),
    "gmail-unsolicited": ("5.7.1", "550-5.7.1 [192.0.2.1] Our system has detected that this "
                                   "message is likely unsolicited mail"),
    "dmarc": ("5.7.26", "550 5.7.26 Unauthenticated email from example.com is not accepted "
                        "due to domain's DMARC policy"),
    "blocklist": ("5.0.0", "554 5.0.0 Service unavailable; Client host [192.0.2.1] blocked "
                           "using zen.spamhaus.org"),
    "yahoo-policy": ("5.0.0", "554 Message not allowed - [PH01] Email not accepted for "
                              "policy reasons"),
    "rate-4.7": ("4.7.28", "421-4.7.28 unusual rate of unsolicited mail"),
}


@pytest.mark.parametrize(("status", "diag"), POLICY.values(), ids=POLICY.keys())
def test_a_refusal_for_content_or_policy_keeps_the_address(built: Path, tmp_path: Path,
                                                          status: str, diag: str) -> None:
    reader = "kept@example.com"
    config = with_return_path(project(built, tmp_path, 1, emails=[reader]))
    action = "delayed" if status.startswith("4") else "failed"
    box = mbox(tmp_path / "b.mbox", dsn(verp(config, reader), reader, action, status, diag,
                                        "policy"))
    result = run(config, "bounces", str(box), expect=0)
    assert "bounced:" not in result.output
    assert f"refused for content or policy (address kept): {reader}" in result.output
    assert "0 hard bounce(s), 0 soft, 1 refused for content or policy" in result.output
    assert reader not in statuses(config)
    with sqlite3.connect(tmp_path / ".digest" / "state.db") as db:
        assert db.execute("SELECT kind, detail FROM bounces WHERE email = ?",
                          (reader,)).fetchall() == [("policy", f"{action} {status} smtp; "
                                                     f"{diag}")]


@pytest.mark.parametrize(("status", "diag", "policy"), [
    ("5.1.1", "550 5.1.1 The email account that you tried to reach does not exist", False),
    ("5.7.1", "550 5.7.1 <x@example.com>: Recipient address rejected: User unknown", False),
    ("5.2.2", "552 5.2.2 mailbox full", False),
    ("5.7.1", "550 5.7.1 Message rejected as spam by Content Filtering", True),
    ("5.5.0", "550 5.5.0 Requested action not taken: message refused, policy violation", True),
])
def test_what_counts_as_a_policy_refusal(status: str, diag: str, policy: bool) -> None:
    from digest.deliver.bounces import refused_for_policy

    assert refused_for_policy(status, diag) is policy

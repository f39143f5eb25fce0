"""Bounces and complaints (issue 12, item 4): VERP envelope senders, and `digest bounces`
reading DSNs in the shapes Postfix, Exim, Gmail and Microsoft send, and ARF reports,
from a Maildir or an mbox."""

from __future__ import annotations

import mailbox
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from digest.config.load import load_config
from digest.deliver.bounces import events
from digest.tokens import load_secret, verp_token
from tests.helpers import (
    on_day,
    run,
    secret,  # noqa: F401 - the autouse secret fixture
)
from tests.send_project import project
from tests.smtp_server import Recorder, SmtpServer

RETURN = "bounces@news.example.com"


def dsn(to: str, final: str, action: str, status: str, *, mta: str, diag: str) -> str:
    """A multipart/report DSN (RFC 3464) as `mta` words them."""
    return f"""From: {mta}
To: {to}
Subject: Undelivered Mail Returned to Sender
Message-ID: <{abs(hash((to, final, action, status, mta)))}@{mta.split('@')[-1]}>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

This is the mail system. I'm sorry to have to inform you that your message could
not be delivered to one or more recipients.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.{mta.split('@')[-1]}
Arrival-Date: Mon, 30 Nov 2026 08:00:00 +0000

Final-Recipient: rfc822; {final}
Original-Recipient: rfc822;{final}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; {diag}

--B
Content-Type: text/rfc822-headers

From: The China Connection <digest@example.com>
To: {final}
Subject: The China Connection: a story

--B--
"""


EXIM = """From: Mail Delivery System <Mailer-Daemon@mx.exim.example>
To: {to}
Subject: Mail delivery failed: returning message to sender
Message-ID: <exim-1@mx.exim.example>

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  {final}
    SMTP error from remote mail server after RCPT TO:<{final}>:
    550 5.1.1 User unknown
"""

ARF = """From: feedback@arf.mail.example
To: {to}
Subject: Complaint about message
Message-ID: <arf-1@arf.mail.example>
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
Subject: The China Connection: a story

--A--
"""


def test_each_issue_leaves_with_a_verp_envelope_sender(built: Path, tmp_path: Path) -> None:
    recorder = Recorder()
    with SmtpServer(recorder) as smtp:
        config = project(built, tmp_path, smtp.port, emails=["ann@example.com"],
                         extra="")
        text = config.read_text("utf-8").replace(
            'unsubscribe_mailto = "unsubscribe@example.com"',
            f'unsubscribe_mailto = "unsubscribe@example.com"\nreturn_path = "{RETURN}"')
        config.write_text(text, "utf-8")
        assert run(config, "send").exit_code == 0
    (message,) = recorder.messages
    secret_bytes = load_secret(load_config(config))
    assert secret_bytes is not None
    assert message.mail_from == f"bounces+{verp_token(secret_bytes, 'ann@example.com')}" \
                                "@news.example.com"
    assert len(message.mail_from.partition("@")[0]) <= 64  # SMTP's limit before the @


READERS = ["hard@example.com", "soft@example.com", "exim@example.com", "angry@example.com",
           "ms@example.com", "fine@example.com"]
Verp = Callable[[str], str]


def read(config: Path, box: Path, day: int | None = None) -> Result:
    """`digest bounces BOX`, on `day` November 2026 (08:00 UTC) when given."""
    return run(config, "bounces", str(box), env={"DIGEST_NOW": on_day(day)} if day else None)


# One mail server's bounce or complaint each: what it writes to the return path's
# mailbox (a Maildir or an mbox), then `digest bounces` reads it.

def postfix_hard_bounce(config: Path, tmp_path: Path, verp: Verp) -> Result:
    """Postfix: a hard bounce, found through the VERP address (Final-Recipient is a
    forwarding address here)."""
    maildir = mailbox.Maildir(tmp_path / "Maildir", create=True)
    maildir.add(dsn(verp("hard@example.com"), "forwarded@elsewhere.example", "failed",
                    "5.1.1", mta="MAILER-DAEMON@postfix.example",
                    diag="550 5.1.1 <forwarded@elsewhere.example>: Recipient address rejected"))
    return read(config, tmp_path / "Maildir", day=29)


def gmail_soft_bounces(config: Path, tmp_path: Path, verp: Verp) -> Result:
    """Gmail: soft bounces (4.2.2 mailbox full) on three days in a row count as a hard
    one; several delay notices on one day are one."""
    for day in (27, 28):
        soft_box = mailbox.mbox(tmp_path / f"soft-{day}.mbox", create=True)
        for i in range(2):
            soft_box.add(dsn(verp("soft@example.com"), "soft@example.com", "delayed",
                             "4.2.2", mta=f"mailer-daemon{day}{i}@googlemail.com",
                             diag="452-4.2.2 The email account that you tried to reach is "
                                  "over quota"))
        soft_box.close()
        early = read(config, tmp_path / f"soft-{day}.mbox", day=day)
        assert early.exit_code == 0 and "bounced: soft" not in early.output, early.output
    maildir = mailbox.Maildir(tmp_path / "Maildir", create=True)
    maildir.add(dsn(verp("soft@example.com"), "soft@example.com", "delayed", "4.2.2",
                    mta="mailer-daemon-last@googlemail.com",
                    diag="452-4.2.2 The email account that you tried to reach is over quota"))
    return read(config, tmp_path / "Maildir", day=29)


def microsoft_hard_bounce(config: Path, tmp_path: Path, verp: Verp) -> Result:
    """Microsoft: failed 5.1.10."""
    maildir = mailbox.Maildir(tmp_path / "Maildir", create=True)
    maildir.add(dsn(verp("ms@example.com"), "ms@example.com", "failed", "5.1.10",
                    mta="postmaster@outlook.example",
                    diag="550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found"))
    return read(config, tmp_path / "Maildir", day=29)


def forged_bounce(config: Path, tmp_path: Path, verp: Verp) -> Result:
    """Forged: sent to the bare return path (no tag), naming a reader: ignored."""
    maildir = mailbox.Maildir(tmp_path / "Maildir", create=True)
    maildir.add(dsn(RETURN, "fine@example.com", "failed", "5.1.1",
                    mta="MAILER-DAEMON@forger.example", diag="550 5.1.1 no such user"))
    return read(config, tmp_path / "Maildir", day=29)


def exim_bounce(config: Path, tmp_path: Path, verp: Verp) -> Result:
    """Exim: its own plain-text wording, no DSN."""
    box = mailbox.mbox(tmp_path / "bounces.mbox", create=True)
    box.add(EXIM.format(to=verp("exim@example.com"), final="exim@example.com"))
    box.close()
    return read(config, tmp_path / "bounces.mbox")


def arf_complaint(config: Path, tmp_path: Path, verp: Verp) -> Result:
    """A feedback-loop complaint (ARF): the reader is unsubscribed."""
    box = mailbox.mbox(tmp_path / "bounces.mbox", create=True)
    box.add(ARF.format(to=verp("angry@example.com"), final="angry@example.com"))
    box.close()
    return read(config, tmp_path / "bounces.mbox")


def forged_complaint(config: Path, tmp_path: Path, verp: Verp) -> Result:
    """A complaint sent to the bare return path, naming a reader: ignored."""
    box = mailbox.mbox(tmp_path / "bounces.mbox", create=True)
    box.add(ARF.format(to=RETURN, final="fine@example.com").replace("arf-1@", "arf-2@"))
    box.close()
    return read(config, tmp_path / "bounces.mbox")


# (what the server sends, the line `digest bounces` prints, the reader it is about and
# their status afterwards (None: still subscribed, never listed))
SERVERS = {
    "postfix-hard": (postfix_hard_bounce, "bounced: hard@example.com", "hard@example.com",
                     "bounced"),
    "gmail-soft": (gmail_soft_bounces, "bounced: soft@example.com", "soft@example.com",
                   "bounced"),
    "microsoft-hard": (microsoft_hard_bounce, "bounced: ms@example.com", "ms@example.com",
                       "bounced"),
    "forged-bounce": (forged_bounce, None, "fine@example.com", None),
    "exim": (exim_bounce, "bounced: exim@example.com", "exim@example.com", "bounced"),
    "arf-complaint": (arf_complaint, "unsubscribed (complaint): angry@example.com",
                      "angry@example.com", "unsubscribed"),
    "forged-complaint": (forged_complaint, None, "fine@example.com", None),
}


@pytest.mark.parametrize(("server", "line", "reader", "status"), SERVERS.values(),
                         ids=SERVERS.keys())
def test_bounces_and_complaints_from_each_mail_server(
        built: Path, tmp_path: Path, server: Callable[[Path, Path, Verp], Result],
        line: str | None, reader: str, status: str | None) -> None:
    config = project(built, tmp_path, 1, emails=READERS)
    text = config.read_text("utf-8").replace(
        'unsubscribe_mailto = "unsubscribe@example.com"',
        f'unsubscribe_mailto = "unsubscribe@example.com"\nreturn_path = "{RETURN}"')
    config.write_text(text, "utf-8")
    secret_bytes = load_secret(load_config(config))
    assert secret_bytes is not None

    def verp(address: str) -> str:
        return f"bounces+{verp_token(secret_bytes, address)}@news.example.com"

    result = server(config, tmp_path, verp)
    assert result.exit_code == 0, result.output
    if line is not None:
        assert line in result.output
    else:
        assert reader not in result.output
    if (tmp_path / "bounces.mbox").exists():
        again = read(config, tmp_path / "bounces.mbox")
        assert "0 hard bounce(s), 0 soft, 0 complaint(s), 1 skipped" in again.output  # once

    listed = run(config, "subscribers", "list", "--format", "csv").output
    if status is not None:
        assert f"{reader},{status}" in listed
    else:
        assert reader not in listed
    recorder = Recorder()
    with SmtpServer(recorder) as smtp:
        moved = config.read_text("utf-8").replace('port = 1\n', f"port = {smtp.port}\n")
        config.write_text(moved, "utf-8")
        sent = run(config, "send")
        assert sent.exit_code == 0, sent.output
    # Everyone but a bounced or unsubscribed reader gets the next issue.
    assert sorted(m.rcpt_tos[0] for m in recorder.messages) == sorted(
        r for r in READERS if r != reader or status is None)
    assert all(len(m.rcpt_tos) == 1 for m in recorder.messages)


def test_two_soft_bounces_are_not_yet_a_bounce() -> None:
    import email
    from email import policy

    message = email.message_from_string(
        dsn(RETURN, "slow@example.com", "delayed", "4.4.7", mta="MAILER-DAEMON@mx.example",
            diag="delivery temporarily suspended"), policy=policy.default)
    (event,) = events(message, {}, RETURN)  # type: ignore[arg-type]
    assert (event.email, event.kind) == ("slow@example.com", "soft")


def test_without_a_return_path_only_addresses_digest_mailed_count(built: Path,
                                                                  tmp_path: Path) -> None:
    recorder = Recorder()
    with SmtpServer(recorder) as smtp:
        config = project(built, tmp_path, smtp.port, emails=["ann@example.com"])
        assert run(config, "send").exit_code == 0
    box = mailbox.mbox(tmp_path / "b.mbox", create=True)
    box.add(dsn("digest@example.com", "ann@example.com", "failed", "5.1.1",
                mta="MAILER-DAEMON@mx.example", diag="550 5.1.1 no such user"))
    box.add(dsn("digest@example.com", "stranger@example.org", "failed", "5.1.1",
                mta="MAILER-DAEMON@mx2.example", diag="550 5.1.1 no such user"))
    box.add("From: x@example.com\nTo: digest@example.com\nSubject: hi\n"
            "Content-Type: text/plain; charset=x-no-such-charset\n\nbody\n")
    box.close()
    result = run(config, "bounces", str(tmp_path / "b.mbox"))
    assert result.exit_code == 0, result.output
    assert "bounced: ann@example.com" in result.output
    assert "stranger" not in result.output and "2 skipped" in result.output
    listed = run(config, "subscribers", "list", "--format", "csv").output
    assert "stranger@example.org" not in listed


def test_clients_are_limited_by_network_for_ipv6() -> None:
    from digest.web.limits import Limiter

    limiter = Limiter(2, 600, lambda: 0.0)
    assert limiter.allow("2001:db8::1") and limiter.allow("2001:db8::2")
    assert not limiter.allow("2001:db8::ffff")  # the same /64
    assert limiter.allow("2001:db8:0:1::1")  # another /64
    assert limiter.allow("192.0.2.1") and limiter.allow("192.0.2.1")
    assert not limiter.allow("192.0.2.1")

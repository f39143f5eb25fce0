"""Every address goes through one validator and one normaliser (digest.addresses):
the CLI's unsubscribe/resubscribe, the CSV, inline recipients and the config's
From / Reply-To / unsubscribe_mailto. Sends go to a real aiosmtpd on 127.0.0.1."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from digest.addresses import AddressError, normalize, parse_address, parse_mailbox
from digest.config.load import load_config
from digest.deliver.smtp import send_issue
from tests.helpers import run
from tests.send_project import project
from tests.smtp_server import Recorder, SmtpServer

SECRET = "test-secret-0123456789-0123456789-0123456789"


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SECRET", SECRET)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer(Recorder()) as server:
        yield server


def suppressions(path: Path) -> list[str]:
    conn = sqlite3.connect(path.parent / ".digest" / "state.db")
    try:
        return sorted(r[0] for r in conn.execute("SELECT email FROM suppressions"))
    finally:
        conn.close()


# the validator and normaliser ------------------------------------------------

@pytest.mark.parametrize(("text", "email", "key"), [
    ("ann@example.org", "ann@example.org", "ann@example.org"),
    ("ann@example.org\n", "ann@example.org", "ann@example.org"),
    ("  Ann@Example.ORG \t", "Ann@example.org", "ann@example.org"),
    ("first.last+tag@sub.example.co.uk", "first.last+tag@sub.example.co.uk",
     "first.last+tag@sub.example.co.uk"),
    ("o'hara@example.com", "o'hara@example.com", "o'hara@example.com"),
    # internationalized domains become their ASCII (punycode) form, which SMTP sends
    ("bob@Bücher.de", "bob@xn--bcher-kva.de", "bob@xn--bcher-kva.de"),
    ("bob@xn--bcher-kva.de", "bob@xn--bcher-kva.de", "bob@xn--bcher-kva.de"),
])
def test_one_normal_form(text: str, email: str, key: str) -> None:
    address = parse_address(text)
    assert (address.email, address.key) == (email, key)
    assert normalize(text) == key


@pytest.mark.parametrize(("text", "why"), [
    ("", "empty"),
    ("ann@example.org\nBcc: eve@example.org", "after the @-sign"),
    ("zoë@example.com", "ASCII"),  # no SMTPUTF8: the local part must be ASCII
    ("a@localhost", "period"),
    ("a..b@example.com", "two periods"),
    ("a@-example.com", "hyphen"),
    ('"a b"@example.com', "quoting"),
    ("a@[127.0.0.1]", "bracketed"),
    ("<a@example.com>", None),
    ("Ann <a@example.com>", None),
    ("x" * 65 + "@example.com", "too long"),
    ("a\u200b@example.com", "ZERO WIDTH SPACE"),
    ("a@exam\u202eple.com", "RIGHT-TO-LEFT OVERRIDE"),
    ("a@example.com, b@example.com", None),
])
def test_refused_with_a_reason_on_one_line(text: str, why: str | None) -> None:
    with pytest.raises(AddressError) as caught:
        parse_address(text)
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message
    assert "is not a valid email address" in message or "is not one address" in message
    if why:
        assert why in message


def test_local_domains_only_where_asked() -> None:
    assert parse_address("digest@localhost", local_domain=True).email == "digest@localhost"
    with pytest.raises(AddressError):
        parse_address("digest@localhost")


def test_mailbox_with_a_display_name() -> None:
    assert parse_mailbox("Zoë Ünal <Zoe@Bücher.de>") == ("Zoë Ünal",
                                                         parse_address("Zoe@xn--bcher-kva.de"))
    assert parse_mailbox('"Lee, Ann" <ann@example.org>')[0] == "Lee, Ann"
    assert parse_mailbox("ann@example.org") == ("", parse_address("ann@example.org"))
    for junk in ("a@", "A, B <b@example.org>", "group: a@example.org;", "bé<", "<>"):
        with pytest.raises(AddressError):
            parse_mailbox(junk)


# the CLI ---------------------------------------------------------------------

def test_unsubscribe_with_a_trailing_newline_suppresses_the_subscriber(
        built: Path, tmp_path: Path, smtp: SmtpServer) -> None:
    path = project(built, tmp_path, smtp.port,
                   emails=["Ann <Ann@Example.org>", "bob@example.org"])
    result = run(path, "unsubscribe", "ann@example.org\n")
    assert result.exit_code == 0, result.output
    assert result.output == "ann@example.org unsubscribed\n"
    assert suppressions(path) == ["ann@example.org"]
    report = send_issue(load_config(path))
    assert (report.delivered, report.suppressed) == (1, 1)
    assert dict(smtp.handler.counts) == {"bob@example.org": 1}


def test_unsubscribe_padded_and_cased_is_the_same_subscriber(
        built: Path, tmp_path: Path, smtp: SmtpServer) -> None:
    path = project(built, tmp_path, smtp.port, emails=["ann@example.org"])
    assert run(path, "unsubscribe", "  ANN@example.ORG ").exit_code == 0
    again = run(path, "unsubscribe", "Ann@Example.Org")
    assert again.output == "ann@example.org was already unsubscribed\n"
    assert suppressions(path) == ["ann@example.org"]
    assert send_issue(load_config(path)).suppressed == 1 and smtp.handler.total == 0
    back = run(path, "resubscribe", "\tann@EXAMPLE.org\n")
    assert back.exit_code == 0 and back.output == "ann@example.org resubscribed\n"
    assert suppressions(path) == []
    assert send_issue(load_config(path), 1).delivered == 1


@pytest.mark.parametrize(("command", "email", "why"), [
    ("unsubscribe", "ann@example.org\nBcc: eve@example.org", "after the @-sign"),
    ("unsubscribe", "zoë@example.com", "ASCII"),
    ("unsubscribe", "nobody", "@-sign"),
    ("resubscribe", "a@localhost", "period"),
    ("resubscribe", "", "empty"),
])
def test_bad_address_on_the_command_line_is_one_line_exit_2(
        built: Path, tmp_path: Path, command: str, email: str, why: str) -> None:
    path = project(built, tmp_path, 9, emails=["ann@example.org"])
    result = run(path, command, email)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: EMAIL ") and why in lines[0]
    assert "Traceback" not in result.output
    assert suppressions(path) == []


def test_rows_stored_before_the_fix_still_count(built: Path, tmp_path: Path,
                                                smtp: SmtpServer) -> None:
    """A database written by the old check holds 'ann@example.org\\n': it suppresses Ann,
    counts once, and `resubscribe ann@example.org` removes it."""
    path = project(built, tmp_path, smtp.port, emails=["ann@example.org", "bob@example.org"])
    conn = sqlite3.connect(tmp_path / ".digest" / "state.db")
    conn.execute("INSERT INTO suppressions VALUES ('Ann@example.org\n', 'old', '2026-01-01')")
    conn.commit()
    conn.close()
    assert run(path, "unsubscribe", "ann@example.org").output == \
        "ann@example.org was already unsubscribed\n"
    assert send_issue(load_config(path)).suppressed == 1
    assert dict(smtp.handler.counts) == {"bob@example.org": 1}
    status = run(path, "status")
    assert "1 address(es) on the suppression list" in status.output
    assert run(path, "resubscribe", "ann@example.org").output == "ann@example.org resubscribed\n"
    assert suppressions(path) == []


# the CSV and the inline list -------------------------------------------------

def test_csv_addresses_are_normalised_and_bad_ones_named(
        built: Path, tmp_path: Path, smtp: SmtpServer) -> None:
    path = project(built, tmp_path, smtp.port, csv=(
        "email,name\n"
        " Ann@Example.ORG ,Ann\n"
        "bob@bücher.de,Bob\n"
        "zoë@example.com,Zoë\n"
        "carol@example.org\u200b,Carol\n"
        "ANN@example.org,Ann again\n"
    ))
    assert run(path, "unsubscribe", "ann@example.org ").exit_code == 0
    result = run(path, "send")
    assert result.exit_code == 0, result.output
    assert "issue #1: 1 delivered" in result.output and "1 suppressed" in result.output
    out = " ".join(result.output.split())  # rich wraps long lines on a narrow terminal
    assert "subscribers.csv line 4: 'zoë@example.com' is not a valid email address" in out
    assert "ASCII" in out
    assert "subscribers.csv line 5: 'carol@example.org\\u200b' is not a valid" in out
    assert "subscribers.csv line 6: ANN@example.org repeats" in out
    assert dict(smtp.handler.counts) == {"bob@xn--bcher-kva.de": 1}
    message = smtp.handler.messages[0]
    assert message.rcpt_tos == ["bob@xn--bcher-kva.de"]
    assert b"To: Bob <bob@xn--bcher-kva.de>\r\n" in message.content


def test_inline_recipients_are_normalised(built: Path, tmp_path: Path,
                                          smtp: SmtpServer) -> None:
    path = project(built, tmp_path, smtp.port,
                   emails=["Zoë Ünal <Zoe@Bücher.de>", " carl@example.org "])
    assert run(path, "unsubscribe", "CARL@example.org").exit_code == 0
    report = send_issue(load_config(path))
    assert (report.delivered, report.suppressed, report.problems) == (1, 1, ())
    assert smtp.handler.messages[0].rcpt_tos == ["Zoe@xn--bcher-kva.de"]


@pytest.mark.parametrize(("delivery", "expect"), [
    ('recipients = ["ann@example.org", "nobody"]', "[delivery] recipients[1]: 'nobody'"),
    ('recipients = ["zoë@example.com"]', "[delivery] recipients[0]: 'zoë@example.com'"),
    ('recipients = ["Ann <ann@localhost>"]', "[delivery] recipients[0]"),
    ('from = "News <news@bücher.de>"', "[delivery] from: 'News <news@bücher.de>'"),
    ('reply_to = "editor@exa mple.com"', "[delivery] reply_to"),
    ('unsubscribe_mailto = "unsubscribe@localhost"', "[delivery] unsubscribe_mailto"),
    ('unsubscribe_mailto = "un..subscribe@example.com"', "[delivery] unsubscribe_mailto"),
])
def test_bad_address_in_the_config_is_one_line_exit_2(tmp_path: Path, delivery: str,
                                                       expect: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[newsletter]\nname = "N"\n\n[[feeds]]\nurl = "https://example.com/f"\n'
                    f"\n[delivery]\n{delivery}\n", "utf-8")
    result = run(path, "check")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and expect in lines[0], result.output
    if "bücher" in delivery:
        assert "xn--bcher-kva.de" in lines[0]  # what to write instead


def test_good_addresses_in_the_config(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[newsletter]\nname = "N"\n\n[[feeds]]\nurl = "https://example.com/f"\n\n[delivery]\n'
        'from = "News <news@xn--bcher-kva.de>"\nreply_to = "Ed <ed@example.org>"\n'
        'recipients = ["Zoë <zoe@bücher.de>", "ann@example.org"]\n'
        'unsubscribe_mailto = "unsubscribe@example.org?subject=stop"\n', "utf-8")
    result = run(path, "check")
    assert result.exit_code == 0, result.output
    default_from = tmp_path / "default.toml"  # "<name> <digest@localhost>"
    default_from.write_text('[newsletter]\nname = "N"\n\n[[feeds]]\nurl = "https://e.org/f"\n',
                            "utf-8")
    assert run(default_from, "check").exit_code == 0

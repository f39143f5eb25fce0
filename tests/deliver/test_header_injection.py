"""A subscriber's name never makes a header (issue 22, item 3): names are cleaned at
every way in (digest.addresses.clean_name: `subscribers import`, the recipients file,
the web form) and the message builder refuses any header line it did not make."""

from __future__ import annotations

import email
import re
import sqlite3
from datetime import UTC, datetime
from email import policy
from pathlib import Path

import pytest

from digest.deliver.message import MessageTemplate
from digest.deliver.recipients import Recipient
from digest.errors import DigestError
from tests.helpers import (
    error_line,
    run,
    secret,  # noqa: F401 - the autouse secret fixture
)
from tests.send_project import project
from tests.smtp_server import Recorder, SmtpServer

HOSTILE = "Evil\r\nBcc: victim@example.org\r\nX-Inj: 1\x07\x1b[31m\u202eRLO\u2028end"
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def received_headers(raw: bytes) -> email.message.EmailMessage:
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def assert_clean(raw: bytes, reader: str) -> None:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    names = [line.split(":", 1)[0].lower() for line in head.split("\r\n")
             if line and not line[:1].isspace()]
    assert "bcc" not in names and "x-inj" not in names, head
    assert names.count("to") == 1
    to = str(received_headers(raw)["To"])
    assert not CONTROL.search(to), repr(to)
    assert "\u202e" not in to and "\u2028" not in to
    assert to.endswith(f"<{reader}>"), to


def test_an_imported_hostile_name_adds_no_header(built: Path, tmp_path: Path) -> None:
    recorder = Recorder()
    with SmtpServer(recorder) as smtp:
        config = project(built, tmp_path, smtp.port, emails=[])
        people = tmp_path / "people.csv"
        with open(people, "w", encoding="utf-8", newline="") as f:
            f.write('email,name\r\nreader@example.com,"' + HOSTILE + '"\r\n')
        imported = run(config, "subscribers", "import", str(people))
        assert imported.exit_code == 0, imported.output
        sent = run(config, "send")
        assert sent.exit_code == 0, sent.output
    (message,) = recorder.messages
    assert message.rcpt_tos == ["reader@example.com"]
    assert_clean(message.content, "reader@example.com")
    assert "Evil Bcc: victim@example.org X-Inj: 1" in str(received_headers(message.content)["To"])


def test_a_hostile_name_in_the_recipients_file_adds_no_header(built: Path,
                                                              tmp_path: Path) -> None:
    recorder = Recorder()
    with SmtpServer(recorder) as smtp:
        csv_text = 'email,name\nfile@example.com,"' + HOSTILE + '"\n'
        config = project(built, tmp_path, smtp.port, csv=csv_text)
        sent = run(config, "send")
        assert sent.exit_code == 0, sent.output
    (message,) = recorder.messages
    assert_clean(message.content, "file@example.com")


def test_a_name_stored_before_names_were_cleaned_adds_no_header(built: Path,
                                                                tmp_path: Path) -> None:
    """A row written by an older digest (or by hand) is cleaned on the way out too."""
    recorder = Recorder()
    with SmtpServer(recorder) as smtp:
        config = project(built, tmp_path, smtp.port, emails=[])
        assert run(config, "subscribers", "list").exit_code == 0  # the table exists
        with sqlite3.connect(tmp_path / ".digest" / "state.db") as db:
            db.execute("INSERT INTO subscribers (email, address, name, status, source, "
                       "created_at, updated_at) VALUES (?, ?, ?, 'active', 'old', ?, ?)",
                       ("old@example.com", "old@example.com", HOSTILE, "2026-01-01",
                        "2026-01-01"))
        listed = run(config, "subscribers", "list")
        assert "\x1b" not in listed.output and "\x07" not in listed.output
        sent = run(config, "send")
        assert sent.exit_code == 0, sent.output
    (message,) = recorder.messages
    assert_clean(message.content, "old@example.com")


def template() -> MessageTemplate:
    return MessageTemplate(
        issue_key="news-7", sender="News <news@example.com>", subject="Issue 7",
        html="<p>hi</p>\n", text="hi\n", date=datetime(2026, 12, 1, 8, tzinfo=UTC),
        marker="m0", unsubscribe_url="https://example.com/u?t={token}",
        secret=b"s" * 16 + b"0123456789abcdef")


@pytest.mark.parametrize("name", [
    "Evil\r\nBcc: victim@example.org", "Bell\x07", "Esc\x1b[2J", "Lone\rCR", "Lone\nLF",
    "Nul\x00",
])
def test_the_builder_refuses_a_header_it_did_not_make(name: str) -> None:
    with pytest.raises(DigestError, match=r"^victim\.reader@example\.com: the message for "
                                          r"this address has .*; nothing was sent"):
        template().render(Recipient("victim.reader@example.com", name))


def test_the_builder_passes_the_headers_it_makes() -> None:
    raw = template().render(Recipient("ann@example.com", "Ännä \"Q\" Lee, Jr. " * 8))
    names = [line.split(b":")[0] for line in raw.split(b"\r\n\r\n")[0].split(b"\r\n")
             if not line[:1].isspace()]
    assert sorted(names) == sorted([b"From", b"To", b"Subject", b"Date", b"Message-ID",
                                    b"List-Unsubscribe", b"List-Unsubscribe-Post",
                                    b"MIME-Version", b"Content-Type"])


@pytest.mark.parametrize(("raw", "clean"), [
    ("Evil\r\nBcc: x@example.org", "Evil Bcc: x@example.org"),
    ("  Ann \t Lee \u00a0 ", "Ann Lee"),
    ("Bell\x07Esc\x1b[31m", "Bell Esc [31m"),
    ("\u202egnp.exe\u2066x\u2069", "gnp.exex"),
    ("Line\u2028Para\u2029end\x85", "Line Para end"),
    ("Zero\u200bwidth\ufeff", "Zerowidth"),
    ("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"),
    ("Lone \ud800 surrogate", "Lone surrogate"),
    ("x" * 300, "x" * 200),
])
def test_clean_name(raw: str, clean: str) -> None:
    from digest.addresses import clean_name

    assert clean_name(raw) == clean


def test_the_web_form_cleans_names_with_the_same_function() -> None:
    """The one cleaner: the web app imports it rather than keeping its own."""
    import digest.web.app as app
    from digest.addresses import clean_name

    assert app.clean_name is clean_name


def test_a_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    """A file the import cannot read at all is one line, not a traceback."""
    bad = tmp_path / "people.csv"
    bad.write_bytes(b"email,name\nann@example.com,\xff\xfe\n")
    config = tmp_path / "config.toml"
    config.write_text('[newsletter]\nname = "N"\n[delivery]\nrecipients = []\n', "utf-8")
    result = run(config, "subscribers", "import", str(bad))
    assert result.exit_code == 2
    assert "not UTF-8" in error_line(result)

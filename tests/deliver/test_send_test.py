"""`digest send --test ADDR` (issue 11, item 4): the issue reaches only the test
addresses, marked [TEST], with working links, at a real aiosmtpd server; the delivery
log and the list's state are untouched, so the real send goes to everyone."""

from __future__ import annotations

import email
import sqlite3
from email import policy
from pathlib import Path

from digest.config.load import load_config
from digest.tokens import load_secret, open_token
from tests.helpers import (
    run,
    secret,  # noqa: F401 - the autouse secret fixture
)
from tests.send_project import project
from tests.smtp_server import Recorder, SmtpServer

LIST = ["ann@example.com", "bob@example.org", "suppressed@example.net"]


def log_rows(path: Path) -> int:
    with sqlite3.connect(path / ".digest" / "state.db") as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return sum(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                   for t in tables if "deliver" in t or "suppress" in t)


def test_a_test_send_reaches_only_the_test_address_marked_test(built: Path,
                                                                tmp_path: Path) -> None:
    recorder = Recorder()
    with SmtpServer(recorder) as smtp:
        config = project(built, tmp_path, smtp.port, emails=LIST)
        assert run(config, "unsubscribe", "suppressed@example.net").exit_code == 0
        before = log_rows(tmp_path)
        result = run(config, "send", "--test", "editor@example.com, suppressed@example.net")
        assert result.exit_code == 0, result.output
        assert "test send of issue #1" in result.output
        assert sorted(m.rcpt_tos[0] for m in recorder.messages) == [
            "editor@example.com", "suppressed@example.net"]  # no suppression consulted
        assert log_rows(tmp_path) == before  # nothing logged

        message = email.message_from_bytes(recorder.messages[0].content, policy=policy.default)
        assert str(message["Subject"]).startswith("[TEST] The China Connection")
        to = recorder.messages[0].rcpt_tos[0]
        html = message.get_body(("html",)).get_content()
        # Links work: the unsubscribe link is the test reader's own.
        token = str(message["List-Unsubscribe"]).split("token=")[1].split(">")[0]
        assert open_token(load_secret(load_config(config)), token) == to
        assert "https://news.example.com/" in html

        # The real send still goes to everyone not suppressed, with other Message-IDs.
        test_ids = {email.message_from_bytes(m.content)["Message-ID"] for m in recorder.messages}
        real = run(config, "send")
        assert real.exit_code == 0, real.output
        sent = recorder.messages[2:]
        assert sorted(m.rcpt_tos[0] for m in sent) == ["ann@example.com", "bob@example.org"]
        assert not test_ids & {email.message_from_bytes(m.content)["Message-ID"] for m in sent}
        assert all(not str(email.message_from_bytes(m.content)["Subject"]).startswith("[TEST]")
                   for m in sent)


def test_a_bad_test_address_is_named_and_nothing_is_sent(built: Path, tmp_path: Path) -> None:
    recorder = Recorder()
    with SmtpServer(recorder) as smtp:
        config = project(built, tmp_path, smtp.port, emails=LIST)
        result = run(config, "send", "--test", "editor@example.com,not-an-address")
        assert result.exit_code == 2
        assert "'not-an-address' is not a valid email address" in result.output
        assert recorder.messages == []

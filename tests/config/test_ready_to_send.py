"""`digest check` and `digest run` refuse to start when a send would fail: the token
secret, the recipients file, the SMTP password variable, the DKIM key. Each problem is
one `error:` line and the exit status is 2, before any feed is fetched or any slot
waited for."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, config_with, run, set_schedule

SMTP = """
[smtp]
host = "127.0.0.1"
port = 2525
security = "none"
username = "digest"
password_env = "NEWS_SMTP_PASSWORD"

[dkim]
key_file = "dkim.pem"
selector = "s1"
domain = "example.com"
"""


def broken(tmp_path: Path) -> Path:
    """smtp delivery with every outside piece missing: secret, file, password, key."""
    config = config_with(tmp_path, [{"url": "feed.xml", "name": "Wire"}], SMTP)
    text = config.read_text("utf-8").replace(
        'recipients = ["editor@example.com"]',
        'mode = "smtp"\nrecipients_file = "subscribers.csv"')
    config.write_text(text, "utf-8")
    return config


def errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


@pytest.fixture
def unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIGEST_SECRET", raising=False)
    monkeypatch.delenv("NEWS_SMTP_PASSWORD", raising=False)


@pytest.mark.usefixtures("unset")
@pytest.mark.parametrize("args", [("check",), ("run", "--once"), ("run",)])
def test_each_missing_piece_is_one_line_and_nothing_starts(tmp_path: Path, args):
    config = set_schedule(broken(tmp_path), 'issue = "* * * * *"')
    if args == ("run",):  # the daemon, as systemd starts it: it must not stay up
        env = {k: v for k, v in os.environ.items()
               if k not in ("DIGEST_SECRET", "NEWS_SMTP_PASSWORD")}
        done = subprocess.run([sys.executable, "-m", "digest", "--config", str(config), "run"],
                              env={**env, "PYTHONPATH": str(ROOT), "COLUMNS": "500"},
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 2, done.stderr
        output = done.stderr
    else:
        output = run(config, *args, expect=2).output
    assert "Traceback" not in output
    lines = errors(output)
    assert len(lines) == 4, output
    secret, recipients, password, dkim = lines
    assert "[delivery] secret_env: environment variable DIGEST_SECRET is not set" in secret
    assert f"[delivery] recipients_file: {tmp_path / 'subscribers.csv'} not found" in recipients
    assert ("[smtp] password_env: environment variable NEWS_SMTP_PASSWORD is not set; export "
            "it with the password for 'digest' at 127.0.0.1:2525") in password
    assert f"[dkim] key_file: cannot read {tmp_path / 'dkim.pem'}" in dkim
    # Nothing ran: no slot was built, no feed fetched, not even the database made.
    assert not (tmp_path / ".digest" / "state.db").exists() or not sqlite3.connect(
        tmp_path / ".digest" / "state.db").execute(
        "SELECT name FROM sqlite_master WHERE name = 'issues'").fetchall()


@pytest.mark.usefixtures("unset")
def test_a_recipients_file_without_an_email_column_is_refused(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch):
    config = broken(tmp_path)
    config.write_text(config.read_text("utf-8").split("\n[dkim]")[0], "utf-8")
    monkeypatch.setenv("DIGEST_SECRET", "k3Jd9sLq0PzX7vBn2MwRt5YcH8gUe4Af")
    monkeypatch.setenv("NEWS_SMTP_PASSWORD", "")  # set, even if empty: the server decides
    (tmp_path / "subscribers.csv").write_text("address,name\nann@example.com,Ann\n", "utf-8")
    result = run(config, "check", expect=2)
    [line] = errors(result.output)
    assert "line 1: no 'email' column" in line
    (tmp_path / "subscribers.csv").write_text("email,name\nann@example.com,Ann\n", "utf-8")
    result = run(config, "check", expect=0)
    assert ": ok (" in result.output and "delivery smtp)" in result.output


@pytest.mark.usefixtures("unset")
def test_outbox_delivery_needs_no_smtp_password(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch):
    config = config_with(tmp_path, [{"url": "feed.xml", "name": "Wire"}],
                         SMTP.split("\n[dkim]")[0])
    monkeypatch.setenv("DIGEST_SECRET", "k3Jd9sLq0PzX7vBn2MwRt5YcH8gUe4Af")
    run(config, "check", expect=0)

"""Sending over SMTP against a real aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

import email
import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from email import policy
from pathlib import Path

import pytest

from digest.config.load import load_config
from digest.deliver.message import message_id
from digest.deliver.smtp import Progress, send_issue
from digest.errors import DeliveryError
from digest.tokens import make_token, open_token
from tests.helpers import SECRET, dkim_key, run, secret  # noqa: F401 - the autouse secret fixture
from tests.send_project import project
from tests.smtp_server import Recorder, SmtpServer, self_signed

HEADERS = ("From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Unsubscribe",
           "List-Unsubscribe-Post", "MIME-Version", "Content-Type")


@pytest.fixture
def server() -> Callable[..., SmtpServer]:
    started: list[SmtpServer] = []

    def start(handler: Recorder | None = None, **kwargs: object) -> SmtpServer:
        s = SmtpServer(handler or Recorder(), **kwargs)  # type: ignore[arg-type]
        s.__enter__()
        started.append(s)
        return s

    yield start  # type: ignore[misc]
    for s in started:
        s.__exit__(None, None, None)


def rows(path: Path) -> dict[str, tuple[str, int, str | None]]:
    conn = sqlite3.connect(path.parent / ".digest" / "state.db")
    try:
        return {r[0]: (r[1], r[2], r[3]) for r in conn.execute(
            "SELECT email, state, attempts, last_reply FROM deliveries")}
    finally:
        conn.close()


def emails(n: int, domain: str = "example.net") -> list[str]:
    return [f"reader{i:05d}@{domain}" for i in range(n)]


def test_message_has_every_header_and_the_same_unsubscribe_link_everywhere(
        built: Path, tmp_path: Path, server: Callable[..., SmtpServer]) -> None:
    smtp = server()
    csv = ("email,name,company\nann@example.com,Ann Lee,Acme\n"
           "zoe@example.org,\"Ünal, Zoë\",Zeta\nbob@example.com,,\n")
    path = project(built, tmp_path, smtp.port, csv=csv)
    report = send_issue(load_config(path), 1)
    assert (report.delivered, report.failed, report.deferred) == (3, 0, 0)
    assert report.complete
    by_rcpt = {m.rcpt_tos[0]: m for m in smtp.handler.messages}
    assert set(by_rcpt) == {"ann@example.com", "zoe@example.org", "bob@example.com"}
    raw = by_rcpt["zoe@example.org"].content
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert not msg.defects
    for name in HEADERS:
        assert msg[name], name
    assert msg["To"].addresses[0].display_name == "Ünal, Zoë"
    assert msg["To"].addresses[0].addr_spec == "zoe@example.org"
    state_id = json.loads(next((built / "outbox").glob("*-1/issue.json")).read_text())["state_id"]
    assert msg["Message-ID"] == message_id("the-china-connection-1", "zoe@example.org",
                                           "The China Connection <digest@example.com>", state_id)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg.get_content_type() == "multipart/alternative"
    token = make_token(SECRET.encode(), "zoe@example.org")
    url = f"https://example.com/unsubscribe?token={token}"
    header_line = next(line for line in raw.split(b"\r\n") if line.startswith(b"List-Unsub"
                                                                             b"scribe:"))
    assert header_line.decode("ascii") == (
        f"List-Unsubscribe: <{url}>, <mailto:unsubscribe@example.com?subject=unsubscribe>")
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert f"Unsubscribe:\r\n{url}" in text  # the link on a line of its own
    assert f'href="{url}"' in html
    assert "%%digest" not in text and "%%digest" not in html
    # everything but the per-recipient values is the rendered issue itself
    folder = next(p for p in (built / "outbox").iterdir() if p.name.endswith("-1"))
    template = (folder / "email.template.html").read_text("utf-8")
    marker = json.loads((folder / "issue.json").read_text("utf-8"))["marker"]
    assert html.replace("\r\n", "\n").rstrip("\n") == template.replace(
        f"%%digest:{marker}:unsubscribe-url%%", url).replace(
        f"%%digest:{marker}:email%%", "zoe@example.org").replace(
        f"%%digest:{marker}:name%%", "Ünal, Zoë").rstrip("\n")
    assert open_token(SECRET.encode(), token) == "zoe@example.org"
    ann = email.message_from_bytes(by_rcpt["ann@example.com"].content, policy=policy.default)
    assert ann["Message-ID"] != msg["Message-ID"]
    assert make_token(SECRET.encode(), "ann@example.com") in ann["List-Unsubscribe"]


def test_second_send_sends_nothing(built: Path, tmp_path: Path,
                                   server: Callable[..., SmtpServer]) -> None:
    smtp = server()
    path = project(built, tmp_path, smtp.port, emails=emails(25))
    first = send_issue(load_config(path))
    assert first.delivered == 25
    second = send_issue(load_config(path))
    assert second.issue is None and second.delivered == 0
    assert "nothing to send" in second.message
    again = send_issue(load_config(path), 1)  # named explicitly: still nobody twice
    assert again.delivered == 0 and again.already_delivered == 25
    assert smtp.handler.total == 25 and set(smtp.handler.counts.values()) == {1}
    state = load_config(path).state_path
    conn = sqlite3.connect(state)
    assert conn.execute("SELECT state FROM issues WHERE number = 1").fetchone()[0] == "sent"
    conn.close()


def starttls_login_project(built: Path, tmp_path: Path, server: Callable[..., SmtpServer],
                           monkeypatch: pytest.MonkeyPatch, password: str
                           ) -> tuple[SmtpServer, Path]:
    """A STARTTLS server whose user digest has password hunter2, and a project that
    logs in with `password` from $DIGEST_SMTP_PASSWORD."""
    key, cert = self_signed(tmp_path)
    smtp = server(security="starttls", cert=(key, cert), users={"digest": "hunter2"})
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", password)
    path = project(built, tmp_path / "p", smtp.port, emails=emails(5),
                   smtp={"security": "starttls", "username": "digest",
                         "password_env": "DIGEST_SMTP_PASSWORD", "ca_file": str(cert)})
    return smtp, path


def test_starttls_with_login(built: Path, tmp_path: Path, server: Callable[..., SmtpServer],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    smtp, path = starttls_login_project(built, tmp_path, server, monkeypatch, "hunter2")
    report = send_issue(load_config(path))
    assert report.delivered == 5 and smtp.handler.total == 5


def test_implicit_tls(built: Path, tmp_path: Path, server: Callable[..., SmtpServer]) -> None:
    key, cert = self_signed(tmp_path)
    smtp = server(security="tls", cert=(key, cert))
    path = project(built, tmp_path / "p", smtp.port, emails=emails(3),
                   smtp={"security": "tls", "ca_file": str(cert)})
    assert send_issue(load_config(path)).delivered == 3


def test_wrong_password_is_one_line_exit_1_and_log_unchanged(
        built: Path, tmp_path: Path, server: Callable[..., SmtpServer],
        monkeypatch: pytest.MonkeyPatch) -> None:
    smtp, path = starttls_login_project(built, tmp_path, server, monkeypatch,
                                        "not-the-password")
    result = run(path, "send")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert f"127.0.0.1:{smtp.port}" in lines[0]
    assert "[smtp] password_env" in lines[0] and "DIGEST_SMTP_PASSWORD" in lines[0]
    assert "not-the-password" not in result.output
    assert rows(path) == {} and smtp.handler.total == 0


def test_unreachable_host_is_one_line_exit_1(built: Path, tmp_path: Path) -> None:
    from tests.smtp_server import free_port

    port = free_port()  # nothing listens there
    path = project(built, tmp_path, port, emails=emails(3))
    result = run(path, "send")
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert f"127.0.0.1:{port}" in result.output and "[smtp] host" in result.output
    assert rows(path) == {}


def test_untrusted_certificate_names_ca_file(built: Path, tmp_path: Path,
                                             server: Callable[..., SmtpServer]) -> None:
    smtp = server(security="starttls", cert=self_signed(tmp_path))
    path = project(built, tmp_path / "p", smtp.port, emails=emails(1),
                   smtp={"security": "starttls"})
    with pytest.raises(DeliveryError, match=r"127\.0\.0\.1:\d+.*\[smtp\] ca_file"):
        send_issue(load_config(path))


def test_transient_then_success_permanent_failure_recorded(
        built: Path, tmp_path: Path, server: Callable[..., SmtpServer]) -> None:
    handler = Recorder(transient={"reader00001@example.net": 2, "reader00004@example.net": 1},
                       permanent={"reader00002@example.net"})
    smtp = server(handler)
    path = project(built, tmp_path, smtp.port, emails=emails(8))
    seen: list[Progress] = []
    report = send_issue(load_config(path), on_progress=seen.append)
    assert (report.delivered, report.failed, report.deferred) == (7, 1, 0)
    assert handler.counts["reader00001@example.net"] == 1
    assert "reader00002@example.net" not in handler.counts
    assert set(handler.counts.values()) == {1} and handler.total == 7
    log = rows(path)
    assert log["reader00001@example.net"][:2] == ("delivered", 3)
    assert log["reader00004@example.net"][:2] == ("delivered", 2)
    assert log["reader00002@example.net"][0] == "failed"
    assert log["reader00002@example.net"][2].startswith("550")
    assert handler.replies["550"] == 1  # a 5xx is never retried
    assert sorted(p.done for p in seen) == list(range(1, 9))
    # a later send neither retries the permanent failure nor repeats anyone
    assert send_issue(load_config(path), 1).delivered == 0
    assert handler.replies["550"] == 1 and handler.total == 7


def test_421_closes_the_connection_and_the_message_is_retried(
        built: Path, tmp_path: Path, server: Callable[..., SmtpServer]) -> None:
    handler = Recorder(transient={"reader00003@example.net": 1},
                       transient_code="421 4.7.0 too busy, closing")
    smtp = server(handler)
    path = project(built, tmp_path, smtp.port, emails=emails(6), smtp={"connections": 1})
    report = send_issue(load_config(path))
    assert report.delivered == 6
    assert set(handler.counts.values()) == {1} and handler.total == 6
    assert handler.connections == 2  # reconnected after the 421


def test_deferred_after_max_attempts_then_a_later_send_delivers(
        built: Path, tmp_path: Path, server: Callable[..., SmtpServer]) -> None:
    handler = Recorder(transient={"reader00000@example.net": 3})
    smtp = server(handler)
    path = project(built, tmp_path, smtp.port, emails=emails(3), smtp={"max_attempts": 2})
    report = send_issue(load_config(path))
    assert (report.delivered, report.deferred) == (2, 1)
    assert rows(path)["reader00000@example.net"][:2] == ("deferred", 2)
    assert not report.complete
    report = send_issue(load_config(path))  # the latest issue not fully sent: #1 again
    assert (report.issue, report.delivered, report.deferred) == (1, 1, 0)
    assert handler.counts["reader00000@example.net"] == 1 and handler.total == 3


def test_server_dropping_the_connection_after_k_messages(
        built: Path, tmp_path: Path, server: Callable[..., SmtpServer]) -> None:
    handler = Recorder(drop_after=3, keep_content=False)
    smtp = server(handler)
    path = project(built, tmp_path, smtp.port, emails=emails(20), smtp={"connections": 2})
    report = send_issue(load_config(path))
    assert report.delivered == 20 and report.complete
    assert handler.total == 20 and set(handler.counts.values()) == {1}
    assert handler.replies["drop"] >= 5
    assert handler.connections >= 7


def test_lost_reply_after_data_is_in_flight_and_resent_only_on_request(
        built: Path, tmp_path: Path, server: Callable[..., SmtpServer]) -> None:
    lost = "reader00002@example.net"
    handler = Recorder(drop_after_data={lost})
    smtp = server(handler)
    path = project(built, tmp_path, smtp.port, emails=emails(5))
    report = send_issue(load_config(path))
    assert report.delivered == 4 and report.in_flight == (lost,)
    assert rows(path)[lost][0] == "sending"
    assert handler.counts[lost] == 1  # it did arrive; digest can't know
    again = send_issue(load_config(path))
    assert again.delivered == 0 and again.in_flight == (lost,)
    assert handler.counts[lost] == 1
    status = run(path, "status")
    assert status.exit_code == 0
    assert "1 sending" in status.output and lost in status.output
    assert "--resolve-in-flight" in status.output
    handler.drop_after_data.clear()
    result = run(path, "send", "--resend-in-flight")
    assert result.exit_code == 0, result.output
    assert "issue #1: 1 delivered" in result.output
    assert handler.counts[lost] == 2 and rows(path)[lost][0] == "delivered"
    assert handler.total == 6


def test_suppressions_are_honoured(built: Path, tmp_path: Path,
                                   server: Callable[..., SmtpServer]) -> None:
    smtp = server()
    path = project(built, tmp_path, smtp.port, emails=emails(4))
    result = run(path, "unsubscribe", "READER00001@example.net")
    assert result.exit_code == 0 and "unsubscribed" in result.output
    report = send_issue(load_config(path))
    assert report.delivered == 3 and report.suppressed == 1
    assert "reader00001@example.net" not in smtp.handler.counts
    result = run(path, "resubscribe", "reader00001@example.net")
    assert result.exit_code == 0 and "resubscribed" in result.output
    assert send_issue(load_config(path), 1).delivered == 1
    assert smtp.handler.total == 4 and set(smtp.handler.counts.values()) == {1}


def test_stop_event_finishes_messages_in_progress_and_resume_completes(
        built: Path, tmp_path: Path, server: Callable[..., SmtpServer]) -> None:
    smtp = server(Recorder(keep_content=False))
    path = project(built, tmp_path, smtp.port, emails=emails(60), smtp={"connections": 3})
    stop = threading.Event()

    def progress(p: Progress) -> None:
        if p.done == 10:
            stop.set()

    report = send_issue(load_config(path), stop=stop, on_progress=progress)
    assert report.stopped and 10 <= report.delivered < 60
    assert report.not_sent == 60 - report.delivered and not report.in_flight
    assert smtp.handler.total == report.delivered
    rest = send_issue(load_config(path))
    assert rest.delivered == 60 - report.delivered
    assert smtp.handler.total == 60 and set(smtp.handler.counts.values()) == {1}


def test_rate_limit(built: Path, tmp_path: Path, server: Callable[..., SmtpServer]) -> None:
    smtp = server(Recorder(keep_content=False))
    path = project(built, tmp_path, smtp.port, emails=emails(11),
                   smtp={"rate_per_second": 20.0, "connections": 3})
    started = time.monotonic()
    assert send_issue(load_config(path)).delivered == 11
    assert time.monotonic() - started >= 0.5  # 11 messages at 20/s: 10 gaps of 50 ms


def test_dry_run_connects_and_sends_nothing(built: Path, tmp_path: Path,
                                            server: Callable[..., SmtpServer]) -> None:
    smtp = server()
    path = project(built, tmp_path, smtp.port, emails=emails(4))
    result = run(path, "send", "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"connected to 127.0.0.1:{smtp.port}" in result.output
    assert "would go to 4 recipient(s), nothing sent" in result.output
    assert smtp.handler.total == 0 and rows(path) == {}
    assert smtp.handler.connections == 1


def test_dkim_signature_verifies(built: Path, tmp_path: Path,
                                 server: Callable[..., SmtpServer]) -> None:

    import dkim

    record = dkim_key(tmp_path)
    smtp = server()
    path = project(built, tmp_path / "p", smtp.port, emails=["ann@example.com"],
                   extra=f'[dkim]\nkey_file = "{tmp_path / "dkim.pem"}"\n'
                         'selector = "news"\ndomain = "example.com"\n')
    assert send_issue(load_config(path)).delivered == 1
    raw = smtp.handler.messages[0].content
    asked: list[bytes] = []

    def dns(name: bytes, timeout: int = 5) -> bytes:
        asked.append(name)
        return record if name == b"news._domainkey.example.com." else b""

    assert dkim.verify(raw, dnsfunc=dns)
    assert asked == [b"news._domainkey.example.com."]
    signature = email.message_from_bytes(raw, policy=policy.default)["DKIM-Signature"]
    signed = {h.strip().lower() for h in re.search(r"h=([^;]+)", signature.replace(
        "\r\n", "").replace(" ", "")).group(1).split(":")}
    assert {"from", "to", "subject", "date", "message-id", "list-unsubscribe",
            "list-unsubscribe-post"} <= signed
    assert not dkim.verify(raw.replace(b"Subject: The", b"Subject: A"), dnsfunc=dns)


def test_build_send(tmp_path: Path, server: Callable[..., SmtpServer]) -> None:
    import shutil

    from tests.send_project import DELIVERY, NEWSLETTER, SAMPLES

    smtp = server()
    shutil.copytree(SAMPLES / "feeds", tmp_path / "feeds")
    feeds = "".join(f'\n[[feeds]]\nurl = "feeds/{p.name}"\n'
                    for p in sorted((tmp_path / "feeds").iterdir()))
    path = tmp_path / "config.toml"
    path.write_text(NEWSLETTER + "[editor]\nmax_age_days = 0\n" + DELIVERY.format(
        recipients='recipients = ["ann@example.com", "bob@example.com"]')
        + f'\n[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nsecurity = "none"\n' + feeds,
        "utf-8")
    result = run(path, "build", "--send")
    assert result.exit_code == 0, result.output
    assert "issue #1 written to" in result.output
    assert "issue #1: 2 delivered" in result.output
    assert smtp.handler.total == 2

"""The SMTP password is never printed, raised or stored, even by a server that
echoes the AUTH exchange back in its error reply (a real aiosmtpd subclass, STARTTLS
on 127.0.0.1)."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from digest.config.load import load_config
from digest.deliver.smtp import send_issue
from digest.errors import DeliveryError
from tests.helpers import run
from tests.send_project import project
from tests.smtp_server import Recorder, free_port, self_signed

SECRET = "test-secret-0123456789-0123456789-0123456789"
USER = "digest"
PASSWORD = "Tr0ub4dor&3-horse"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# Every form the password may take on the wire, and one the redactor can't know
# (the password and a CRLF, re-encoded by the server): only the "long base64-looking
# token in a reply to AUTH" rule removes that one.
FORMS = [PASSWORD, b64(PASSWORD), b64(f"\0{USER}\0{PASSWORD}"), b64(f"{USER}\0{USER}\0{PASSWORD}"),
         b64(PASSWORD + "\r\n")]


def leaks(text: str) -> list[str]:
    return [form for form in FORMS if form in text or form.rstrip("=") in text]


class EchoingSMTP(SMTP):
    """Accepts `logins` logins with the right password, then refuses every AUTH with a
    reply that echoes what the client sent: the base64 and the decoded password."""

    logins = 0

    def _echo(self, sent: str, password: bytes) -> str:
        again = base64.b64encode(password + b"\r\n").decode()
        return f"535 5.7.8 AUTH {sent} rejected (password {password.decode()!r}, {again})"

    def _accept(self, login: bytes, password: bytes) -> bool:
        controller = self.event_handler.controller
        if controller.logins > 0 and login == USER.encode() and password == PASSWORD.encode():
            controller.logins -= 1
            return True
        return False

    async def auth_PLAIN(self, _: Any, args: list[str]) -> AuthResult:  # noqa: N802
        blob = args[1] if len(args) > 1 else ""
        _, login, password = base64.b64decode(blob).split(b"\0")
        if self._accept(login, password):
            return AuthResult(success=True, auth_data=LoginPassword(login, password))
        await self.push(self._echo(f"PLAIN {blob}", password))
        return AuthResult(success=False, handled=True)

    async def auth_LOGIN(self, _: Any, args: list[str]) -> AuthResult:  # noqa: N802
        user = args[1] if len(args) > 1 else ""
        password = await self.challenge_auth("Password:")
        assert isinstance(password, bytes)
        if self._accept(base64.b64decode(user), password):
            return AuthResult(success=True, auth_data=LoginPassword(b"", password))
        sent = base64.b64encode(password).decode()
        await self.push(self._echo(f"LOGIN {user} {sent}", password))
        return AuthResult(success=False, handled=True)


class EchoingServer(Controller):
    def __init__(self, cert: tuple[Path, Path], mechanism: str, logins: int) -> None:
        self.port = free_port()
        self.logins = logins
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert[1]), str(cert[0]))
        handler = Recorder(drop_after=1)  # every connection sends one message, then reconnects
        handler.controller = self  # type: ignore[attr-defined]
        other = {"PLAIN": "LOGIN", "LOGIN": "PLAIN"}[mechanism]
        super().__init__(handler, hostname="127.0.0.1", port=self.port,
                         server_hostname="localhost", tls_context=context,
                         require_starttls=True, auth_required=True,
                         auth_exclude_mechanism=[other])

    def factory(self) -> SMTP:
        return EchoingSMTP(self.handler, **self.SMTP_kwargs)


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", PASSWORD)


def start(tmp_path: Path, built: Path, mechanism: str, logins: int,
          recipients: int) -> tuple[EchoingServer, Path]:
    key, cert = self_signed(tmp_path)
    server = EchoingServer((key, cert), mechanism, logins)
    server.start()
    path = project(built, tmp_path / "p", server.port,
                   emails=[f"reader{i}@example.net" for i in range(recipients)],
                   smtp={"security": "starttls", "ca_file": str(cert), "username": USER,
                         "password_env": "DIGEST_SMTP_PASSWORD", "connections": 1,
                         "max_attempts": 2})
    return server, path


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_refused_login_echoing_the_credentials_leaks_nothing(
        built: Path, tmp_path: Path, mechanism: str) -> None:
    server, path = start(tmp_path, built, mechanism, logins=0, recipients=2)
    try:
        with pytest.raises(DeliveryError) as caught:
            send_issue(load_config(path))
        result = run(path, "send")
    finally:
        server.stop()
    message = str(caught.value)
    assert "refused the login for 'digest' (535 5.7.8 AUTH" in message  # the reply, redacted
    assert leaks(message) == [], message
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert "refused the login" in result.output
    assert leaks(result.output) == [], result.output


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_login_refused_mid_send_leaks_nothing_into_the_log_or_status(
        built: Path, tmp_path: Path, mechanism: str) -> None:
    """The first connection logs in and sends one message; the server then drops it,
    and every new login is refused with the echo: that reply lands in the delivery log
    of the two other recipients, which `digest status` prints."""
    server, path = start(tmp_path, built, mechanism, logins=1, recipients=3)
    try:
        result = run(path, "send")
    finally:
        server.stop()
    assert result.exit_code == 0, result.output
    assert "issue #1: 1 delivered" in result.output and "2 deferred" in result.output
    assert leaks(result.output) == [], result.output
    status = run(path, "status")
    assert status.exit_code == 0, status.output
    assert "2 deferred" in status.output
    assert status.output.count("refused the login for 'digest' (535 5.7.8 AUTH") == 2
    assert leaks(status.output) == [], status.output
    raw = (path.parent / ".digest" / "state.db").read_bytes()
    wal = path.parent / ".digest" / "state.db-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    assert [f for f in FORMS if f.encode() in raw] == []


def test_redact_keeps_the_words_of_a_reply() -> None:
    from digest.deliver.redact import redact, secret_forms

    secrets = secret_forms("digest", "s3cret")
    google = ("535-5.7.8 Username and Password not accepted. "
              "https://support.google.com/mail/?p=BadCredentials d2-20020a05ab1234gsmtp")
    assert redact(google, secrets, auth=True) == google.replace("d2-20020a05ab1234gsmtp",
                                                                "[redacted]")
    pieces = "535 AGRpZ2Vz dABzM2Ny M3QtUDRz cy93MHJk Kz8= rejected"  # 8 characters a line
    assert redact(pieces, secrets, auth=True) == "535 " + "[redacted] " * 5 + "rejected"
    assert redact("535 5.7.8 AUTH PLAIN AGRpZ2VzdABzM2NyZXQ rejected: s3cret", secrets) == \
        "535 5.7.8 AUTH PLAIN [redacted] rejected: [redacted]"
    queued = "250 2.0.0 Ok: queued as 4Xyz12AbCdEfGh"  # not a reply to AUTH: kept
    assert redact(queued, secrets) == queued
    assert redact(queued, secrets, auth=True) == "250 2.0.0 Ok: queued as [redacted]"
    assert secret_forms("digest", None) == secret_forms("digest", "") == ()

"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1 with fault injection.

`SmtpServer` starts aiosmtpd's threaded Controller (plain, STARTTLS, or implicit TLS;
optional AUTH) around `Recorder`, a handler that counts every message it accepts per
recipient and can misbehave on purpose:

- `transient[address] = n`: answer RCPT for that address with 451 (or `transient_code`)
  n times, then accept;
- `permanent`: addresses answered 550 at RCPT;
- `drop_after`: close the connection at the MAIL that follows K accepted messages;
- `drop_after_data`: addresses whose message is counted, then the connection closed
  before the 250 (the client can't know it arrived);
- `hold`: an address whose DATA is counted and then held (no reply) until `release`
  is set; `held` is set when that happens (lets a test kill the sender mid-message).
"""

from __future__ import annotations

import asyncio
import datetime
import socket
import ssl
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def self_signed(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A throwaway certificate for `host` (key, cert) made with `cryptography`."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = folder / "smtp-key.pem", folder / "smtp-cert.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


@dataclass
class Recorder:
    keep_content: bool = True
    transient: dict[str, int] = field(default_factory=dict)
    transient_code: str = "451 4.3.0 try again later"
    permanent: set[str] = field(default_factory=set)
    drop_after: int = 0
    drop_after_data: set[str] = field(default_factory=set)
    hold: str = ""
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    counts: Counter[str] = field(default_factory=Counter)
    messages: list[Received] = field(default_factory=list)
    replies: Counter[str] = field(default_factory=Counter)  # codes given, e.g. "451"
    connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    on_message: Any = None  # called with the running total after each accepted message

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        if not hasattr(session, "accepted"):
            session.accepted = 0
            with self.lock:
                self.connections += 1
        return responses

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        if self.drop_after and getattr(session, "accepted", 0) >= self.drop_after:
            server.transport.close()
            with self.lock:
                self.replies["drop"] += 1
            return "421 4.3.2 closing"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        with self.lock:
            if address in self.permanent:
                self.replies["550"] += 1
                return "550 5.1.1 no such user here"
            if self.transient.get(address, 0) > 0:
                self.transient[address] -= 1
                code = self.transient_code
                self.replies[code[:3]] += 1
                if code.startswith("421"):
                    asyncio.get_running_loop().call_soon(server.transport.close)
                return code
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.counts[rcpt.lower()] += 1
            total = sum(self.counts.values())
            if self.keep_content:
                self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                              envelope.original_content or envelope.content))
        session.accepted = getattr(session, "accepted", 0) + 1
        if self.on_message:
            self.on_message(total)
        if self.hold and self.hold in envelope.rcpt_tos:
            self.held.set()
            while not self.release.is_set():
                await asyncio.sleep(0.02)
        if set(envelope.rcpt_tos) & self.drop_after_data:
            server.transport.close()
            return "250 OK (never seen)"
        return "250 2.0.0 accepted"


class SmtpServer:
    """aiosmtpd on 127.0.0.1. security: "none" | "starttls" | "tls"."""

    def __init__(self, handler: Recorder, *, security: str = "none", cert: tuple[Path, Path]
                 | None = None, users: dict[str, str] | None = None) -> None:
        self.handler = handler
        self.port = free_port()
        self.security = security
        kwargs: dict[str, Any] = {}
        if security != "none":
            assert cert
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(cert[1]), str(cert[0]))
            kwargs["tls_context" if security == "starttls" else "ssl_context"] = context
            if security == "starttls":
                kwargs["require_starttls"] = True
        if users is not None:
            def authenticate(server: Any, session: Any, envelope: Any, mechanism: str,
                             auth_data: Any) -> AuthResult:
                ok = isinstance(auth_data, LoginPassword) and users.get(
                    auth_data.login.decode()) == auth_data.password.decode()
                return AuthResult(success=ok, handled=False)

            kwargs.update(authenticator=authenticate, auth_required=True)
        self.controller = Controller(handler, hostname="127.0.0.1", port=self.port,
                                     server_hostname="localhost", **kwargs)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.handler.release.set()
        self.controller.stop()


class HungServer:
    """A relay that accepts connections on 127.0.0.1 and never says a word (not even
    the greeting), until closed: a client waits for its own timeout. `connected` is
    set at the first connection; `connections` counts them."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = int(self.sock.getsockname()[1])
        self.connected = threading.Event()
        self.connections = 0
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed
                return
            self._held.append(conn)
            self.connections += 1
            self.connected.set()

    def __enter__(self) -> HungServer:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop listening and drop every connection: the clients waiting get EOF."""
        self.sock.close()
        for conn in self._held:
            conn.close()

    def __exit__(self, *exc: object) -> None:
        self.close()

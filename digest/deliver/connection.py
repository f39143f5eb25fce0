"""One SMTP connection: TLS or STARTTLS as configured, AUTH with the password from its
environment variable, replies turned into one redacted line, closing without a fuss."""

from __future__ import annotations

import os
import select
import smtplib
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

from digest.config.schema import SmtpConfig
from digest.deliver.redact import redact, secret_forms
from digest.errors import ConfigError, DeliveryError


def password_for(smtp: SmtpConfig) -> str | None:
    if not smtp.username:
        return None
    if not smtp.password_env:
        raise ConfigError(f"[smtp] password_env: missing; name the environment variable that "
                          f"holds the password for [smtp] username {smtp.username!r}")
    password = os.environ.get(smtp.password_env)
    if password is None:
        raise DeliveryError(
            f"environment variable {smtp.password_env} ([smtp] password_env) is not set; "
            f"export it with the password for {smtp.username!r} at {smtp.host}:{smtp.port}")
    return password


LOCAL_NAME = socket.gethostname() or "localhost"


@contextmanager
def connection(smtp: SmtpConfig) -> Iterator[smtplib.SMTP]:
    """A logged-in connection for a few messages outside a send (a test send, a
    subscription's confirmation), closed after."""
    conn = connect(smtp, password_for(smtp))
    try:
        yield conn
    finally:
        quit_quietly(conn)


def connect(smtp: SmtpConfig, password: str | None) -> smtplib.SMTP:
    """Connect, say EHLO, STARTTLS or TLS as configured, log in. DeliveryError names
    the host, port and the config key to check; the password never appears, not even
    when the server echoes it (see digest.deliver.redact)."""
    where = f"{smtp.host}:{smtp.port}"
    secrets = secret_forms(smtp.username, password)
    context = ssl.create_default_context(cafile=smtp.ca_file or None) \
        if smtp.security != "none" else None
    conn: smtplib.SMTP | None = None
    try:
        if smtp.security == "tls":
            conn = smtplib.SMTP_SSL(smtp.host, smtp.port, local_hostname=LOCAL_NAME,
                                    timeout=smtp.timeout, context=context)
        else:
            conn = smtplib.SMTP(smtp.host, smtp.port, local_hostname=LOCAL_NAME,
                                timeout=smtp.timeout)
        # The message's end-of-data dot is a write of its own (digest.deliver.engine):
        # without this, Nagle holds it back until the server's delayed ACK, 40 ms a message
        assert conn.sock is not None
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.ehlo()
        if smtp.security == "starttls":
            if not conn.has_extn("starttls"):
                raise DeliveryError(f"SMTP server {where} does not offer STARTTLS; check "
                                    "[smtp] security ('tls' for port 465, 'none' for a "
                                    "trusted local relay)")
            conn.starttls(context=context)
            conn.ehlo()
        if smtp.username:
            conn.login(smtp.username, password or "")
        return conn
    except DeliveryError:
        quit_quietly(conn)
        raise
    except smtplib.SMTPAuthenticationError as e:
        quit_quietly(conn)
        raise DeliveryError(
            f"SMTP server {where} refused the login for {smtp.username!r} "
            f"({reply_text(e, secrets, auth=True)}); "
            f"check [smtp] username and the password in ${smtp.password_env} "
            "([smtp] password_env)") from None
    except UnicodeEncodeError:  # smtplib sends the login in ASCII only
        quit_quietly(conn)
        raise DeliveryError(
            f"cannot log in to SMTP server {where}: [smtp] username or the password in "
            f"${smtp.password_env} ([smtp] password_env) is not ASCII") from None
    except smtplib.SMTPNotSupportedError:
        quit_quietly(conn)
        raise DeliveryError(
            f"SMTP server {where} does not offer AUTH on this connection; check [smtp] "
            "security (most servers allow login only after STARTTLS) and [smtp] "
            "username") from None
    except ssl.SSLError as e:
        quit_quietly(conn)
        raise DeliveryError(
            f"TLS with SMTP server {where} failed ({e.reason or e}); check [smtp] security "
            "('tls' for port 465, 'starttls' for 587) and [smtp] ca_file") from None
    except smtplib.SMTPResponseException as e:
        quit_quietly(conn)
        raise DeliveryError(f"SMTP server {where} refused us ({reply_text(e, secrets)}); check "
                            "[smtp] host and port") from None
    except (OSError, smtplib.SMTPException) as e:
        quit_quietly(conn)
        reason = e.strerror if isinstance(e, OSError) and e.strerror else \
            redact(str(e), secrets) or type(e).__name__
        raise DeliveryError(f"cannot connect to SMTP server {where}: {reason}; check [smtp] "
                            "host, port and security") from None


def reply_text(e: smtplib.SMTPResponseException, secrets: tuple[str, ...], *,
           auth: bool = False) -> str:
    """The server's reply, one line, redacted (`auth`: a reply to AUTH)."""
    return reply_line(e.smtp_code, e.smtp_error, secrets, auth=auth)


def quit_quietly(conn: smtplib.SMTP | None) -> None:
    if conn is None:
        return
    try:
        conn.quit()
    except (OSError, smtplib.SMTPException):
        conn.close()


def reply_line(code: int, reply: bytes | str, secrets: tuple[str, ...], *,
          auth: bool = False) -> str:
    """A server reply as logged and shown: one line, without the password."""
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    return redact(f"{code} {' '.join(text.split())}", secrets, auth=auth)


def close_quietly(conn: smtplib.SMTP) -> None:
    try:
        conn.close()
    except OSError:
        pass


def quiet_since_data(sock: socket.socket) -> bool:
    """True while the server is silently reading DATA, as it should be: nothing to read,
    no hang-up, no error on the socket. Anything else (EOF, a reset, a reply before the
    end of the message) means the connection is done. Costs one poll(2), no waiting."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return False
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLPRI)
    return not poller.poll(0)

"""One pre-encoded MIME message per issue; per recipient only bytes are substituted.

The issue is rendered once, with sentinels (``%%digest-email%%`` ...) where a
recipient's values go. Here the two parts are quoted-printable encoded once, line by
line: lines without a sentinel become ready-made bytes (already dot-stuffed for
SMTP's DATA), and only the few lines that hold a sentinel are encoded per recipient.
Encoding whole lines keeps the substitution correct however QP would have broken
the line (a soft break can never split a sentinel, because the sentinel is replaced
before that line is encoded) and every line stays under 76 characters.

Headers: From, Subject, Reply-To and List-Id are encoded once with the email
package (RFC 2047 where needed); To, Message-ID and List-Unsubscribe are written per
recipient. List-Unsubscribe holds only ASCII (percent-encoded) and is never RFC 2047
encoded.
"""

from __future__ import annotations

import binascii
import html as htmllib
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path

from ..config import Config
from ..errors import ConfigError, DeliveryError
from ..recipients import Recipient
from .message import message_id, unsubscribe_link

SENTINEL = re.compile(r"%%digest-([a-z0-9-]+)%%")
_DOT = re.compile(rb"(?m)^\.")
CRLF = b"\r\n"
# What the DKIM signature covers (those present in the message).
DKIM_HEADERS = (b"from", b"to", b"subject", b"date", b"message-id", b"list-unsubscribe",
                b"list-unsubscribe-post", b"list-id", b"reply-to", b"mime-version",
                b"content-type")


@dataclass(frozen=True)
class Dkim:
    selector: bytes
    domain: bytes
    key: bytes


@dataclass(frozen=True)
class _Line:
    """A body line holding sentinels: literal text and field names, alternating."""

    pieces: tuple[str, ...]  # even indexes literal text, odd indexes field names


class _Part:
    """One body part, pre-encoded: static byte chunks and per-recipient lines."""

    def __init__(self, text: str, *, html: bool) -> None:
        self.html = html
        self.chunks: list[bytes | _Line] = []  # unstuffed
        self.stuffed: list[bytes | _Line] = []  # dot-stuffed for DATA
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the CRLF before the next boundary ends the last line
        static: list[str] = []
        for line in lines:
            if "%%digest-" in line and SENTINEL.search(line):
                self._flush(static)
                static = []
                pieces = tuple(SENTINEL.split(line))
                self.chunks.append(_Line(pieces))
                self.stuffed.append(_Line(pieces))
            else:
                static.append(line)
        self._flush(static)
        self.fields = {p for c in self.chunks if isinstance(c, _Line) for p in c.pieces[1::2]}

    def _flush(self, lines: list[str]) -> None:
        if lines:
            encoded = qp_lines("\n".join(lines))
            self.chunks.append(encoded)
            self.stuffed.append(_DOT.sub(b"..", encoded))

    def encode(self, values: dict[str, str], *, stuffed: bool) -> list[bytes]:
        out = []
        for chunk in self.stuffed if stuffed else self.chunks:
            if isinstance(chunk, bytes):
                out.append(chunk)
                continue
            pieces = list(chunk.pieces)
            for i in range(1, len(pieces), 2):
                value = values.get(pieces[i], "")
                pieces[i] = htmllib.escape(value) if self.html else value
            encoded = qp_lines("".join(pieces))
            out.append(_DOT.sub(b"..", encoded) if stuffed else encoded)
        return out


def qp_lines(text: str) -> bytes:
    """Quoted-printable, CRLF line ends, each line (the last too) ending in CRLF."""
    encoded = binascii.b2a_qp(text.encode("utf-8"), quotetabs=False, istext=True,
                              header=False)
    return encoded.replace(b"\n", CRLF) + CRLF


class MessageTemplate:
    """Build with `MessageTemplate.for_issue`; call `wire(recipient)` per recipient."""

    def __init__(
        self, *, issue_key: str, sender: str, subject: str, html: str, text: str,
        date: datetime, unsubscribe_url: str = "", unsubscribe_mailto: str = "",
        secret: str = "", list_id: str = "", reply_to: str = "", dkim: Dkim | None = None,
    ) -> None:
        self.issue_key = issue_key
        self.sender = sender
        self.envelope_from = parseaddr(sender)[1]
        self.unsubscribe_template = unsubscribe_url
        self.unsubscribe_mailto = unsubscribe_mailto
        self.secret = secret
        self.dkim = dkim
        boundary = f"=_digest_{secrets.token_hex(12)}"
        static = EmailMessage(policy=policy.SMTP)  # folds at 78, RFC 2047 as needed
        static["From"] = sender
        static["Subject"] = subject
        head = static.as_bytes().removesuffix(CRLF)
        self._from, _, self._subject = head.partition(b"\r\nSubject:")
        self._from += CRLF
        self._subject = b"Subject:" + self._subject
        after = EmailMessage(policy=policy.SMTP)
        after["Date"] = format_datetime(date)
        if reply_to:
            after["Reply-To"] = reply_to
        if list_id:
            after["List-Id"] = list_id
        self._date_etc = after.as_bytes().removesuffix(CRLF)
        post = b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" \
            if unsubscribe_url.startswith("https://") else b""
        self._tail = (
            post + b"MIME-Version: 1.0\r\n"
            + f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n'.encode()
            + CRLF
        )
        delimiter = f"--{boundary}\r\n".encode()
        self._text_head = delimiter + (b'Content-Type: text/plain; charset="utf-8"\r\n'
                                       b"Content-Transfer-Encoding: quoted-printable\r\n\r\n")
        self._html_head = delimiter + (b'Content-Type: text/html; charset="utf-8"\r\n'
                                       b"Content-Transfer-Encoding: quoted-printable\r\n\r\n")
        self._close = f"--{boundary}--\r\n".encode()
        self.text = _Part(text, html=False)
        self.html = _Part(html, html=True)
        self.fields = self.text.fields | self.html.fields

    @classmethod
    def for_issue(cls, config: Config, number: int, folder: Path, subject: str,
                  date: datetime) -> MessageTemplate:
        """Read the built issue's un-personalized parts from its outbox folder."""
        from .files import issue_key
        from .outbox import TEMPLATE_HTML, TEMPLATE_TEXT

        try:
            html = (folder / TEMPLATE_HTML).read_text("utf-8")
            text = (folder / TEMPLATE_TEXT).read_text("utf-8")
        except FileNotFoundError as e:
            raise DeliveryError(
                f"issue #{number}: {e.filename} is missing, so the issue can't be "
                "personalized for sending; it was built by an older digest or the folder "
                f"was edited. Rebuild it, or restore {folder}"
            ) from None
        delivery = config.delivery
        secret = ""
        if "{token}" in delivery.unsubscribe_url:
            secret = os.environ.get(delivery.secret_env, "")
            if not secret:
                raise DeliveryError(
                    f"environment variable {delivery.secret_env} ([delivery] secret_env) is "
                    "not set; [delivery] unsubscribe_url has {token}, which needs that "
                    "secret. Set it to a long random string and keep it"
                )
        if not delivery.unsubscribe_url.isascii() or not delivery.unsubscribe_mailto.isascii():
            raise ConfigError("[delivery] unsubscribe_url / unsubscribe_mailto: must be ASCII; "
                              "percent-encode other characters")
        domain = parseaddr(config.sender)[1].rpartition("@")[2] or "digest.invalid"
        list_id = delivery.list_id or f"{config.newsletter.name} " \
            f"<{config.newsletter.slug}.{domain}>"
        if "<" not in list_id:
            list_id = f"<{list_id}>"
        return cls(
            issue_key=issue_key(config, number), sender=config.sender, subject=subject,
            html=html, text=text, date=date, unsubscribe_url=delivery.unsubscribe_url,
            unsubscribe_mailto=delivery.unsubscribe_mailto, secret=secret, list_id=list_id,
            reply_to=delivery.reply_to, dkim=load_dkim(config),
        )

    def message_id(self, recipient: Recipient) -> str:
        return message_id(self.issue_key, recipient.email, self.sender)

    def unsubscribe_url(self, email: str) -> str:
        return unsubscribe_link(self.unsubscribe_template, self.unsubscribe_mailto,
                                self.secret, email)

    def _list_unsubscribe(self, url: str) -> bytes:
        targets = []
        if url and not url.startswith("mailto:"):
            targets.append(f"<{url}>")
        if self.unsubscribe_mailto:
            mailto = self.unsubscribe_mailto
            targets.append(f"<mailto:{mailto}{'' if '?' in mailto else '?subject=unsubscribe'}>")
        return f"List-Unsubscribe: {', '.join(targets)}\r\n".encode() if targets else b""

    def render(self, recipient: Recipient, *, stuffed: bool = False) -> bytes:
        """The whole message for one recipient (no DKIM signature)."""
        url = self.unsubscribe_url(recipient.email)
        values = recipient.values()
        values["unsubscribe-url"] = url
        to = formataddr((recipient.name, recipient.email), charset="utf-8")
        head = b"".join((
            self._from, b"To: ", to.encode("ascii"), CRLF, self._subject, self._date_etc,
            b"Message-ID: ", self.message_id(recipient).encode("ascii"), CRLF,
            self._list_unsubscribe(url), self._tail,
        ))
        return b"".join((
            head, self._text_head, *self.text.encode(values, stuffed=stuffed),
            self._html_head, *self.html.encode(values, stuffed=stuffed), self._close,
        ))

    def wire(self, recipient: Recipient) -> bytes:
        """What goes after DATA: signed if DKIM is on, dot-stuffed, ending CRLF.CRLF."""
        if self.dkim:  # sign the message as it will be read, then dot-stuff it once
            plain = self.render(recipient)
            data = sign(plain, self.dkim) + _DOT.sub(b"..", plain)
        else:
            data = self.render(recipient, stuffed=True)
        return data + b".\r\n"


def load_dkim(config: Config) -> Dkim | None:
    dkim = config.dkim
    if not dkim.key_file:
        return None
    path = config.path(dkim.key_file)
    try:
        key = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"[dkim] key_file: cannot read {path}: {e.strerror}") from None
    if b"PRIVATE KEY" not in key:
        raise ConfigError(f"[dkim] key_file: {path} is not a PEM private key")
    return Dkim(dkim.selector.encode(), dkim.domain.encode(), key)


def sign(message: bytes, key: Dkim) -> bytes:
    """The DKIM-Signature header line(s) for an unstuffed message."""
    import dkim

    present = {line.split(b":", 1)[0].strip().lower()
               for line in message.split(b"\r\n\r\n", 1)[0].split(CRLF) if b":" in line
               and not line[:1].isspace()}
    headers = [h for h in DKIM_HEADERS if h in present]
    try:
        return dkim.sign(message, key.selector, key.domain, key.key, include_headers=headers,
                         linesep=CRLF)
    except dkim.DKIMException as e:
        raise ConfigError(f"[dkim] key_file: cannot sign with this key: {e}") from None

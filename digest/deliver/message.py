"""The one message builder: what the outbox's message.eml holds and what `digest send`
sends are made here, by the same code, from the same issue folder.

The issue is rendered once, with placeholders where a recipient's values go (see
render.Placeholders). Here the two parts are quoted-printable encoded once, line by
line: lines without a placeholder become ready-made bytes (already dot-stuffed for
SMTP's DATA), and only the few lines that hold one are encoded per recipient.
Encoding whole lines keeps the substitution correct however QP would have broken
the line, and every body line stays within RFC 2045's 76 characters.

Headers: From, Subject, Date, Reply-To and List-Id are encoded once with the email
package (RFC 2047 where needed); To, Message-ID and List-Unsubscribe are written per
recipient. List-Unsubscribe holds only ASCII and is never RFC 2047 encoded. The
boundary and the Date come from the issue, so a message is the same bytes whenever
it is made: the outbox copy for the first recipient is byte for byte what is sent.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import html as htmllib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr

from digest.config.schema import Config
from digest.deliver.recipients import Recipient
from digest.errors import ConfigError, HeaderRefused
from digest.outbox.folder import IssueFolder, Manifest
from digest.render.marks import placeholder_pattern
from digest.tokens import load_secret, unsubscribe_link, verp_token

_DOT = re.compile(rb"(?m)^\.")
CRLF = b"\r\n"
# What a header line of ours may hold: printable ASCII and tab (RFC 2047 encodes the rest).
_NOT_HEADER_TEXT = re.compile(rb"[^\t\x20-\x7e]")
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
    """A body line holding placeholders: literal text and field names, alternating."""

    pieces: tuple[str, ...]  # even indexes literal text, odd indexes field names


class _Part:
    """One body part, pre-encoded: static chunks and per-recipient lines."""

    def __init__(self, text: str, *, html: bool, placeholder: re.Pattern[str]) -> None:
        self.html = html
        self.lines: list[str | _Line] = []  # static runs of lines, and placeholder lines
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the CRLF before the next boundary ends the last line
        static: list[str] = []
        for line in lines:
            if "%%digest:" in line and placeholder.search(line):
                if static:
                    self.lines.append("\n".join(static))
                static = []
                self.lines.append(_Line(tuple(placeholder.split(line))))
            else:
                static.append(line)
        if static:
            self.lines.append("\n".join(static))
        self.chunks = [qp_lines(c) if isinstance(c, str) else c for c in self.lines]
        self.stuffed = [_DOT.sub(b"..", c) if isinstance(c, bytes) else c for c in self.chunks]
        self.fields = {p for c in self.lines if isinstance(c, _Line) for p in c.pieces[1::2]}

    def _fill(self, line: _Line, values: dict[str, str]) -> str:
        pieces = list(line.pieces)
        for i in range(1, len(pieces), 2):
            value = values.get(pieces[i], "")
            pieces[i] = htmllib.escape(value) if self.html else value
        return "".join(pieces)

    def personalized(self, values: dict[str, str]) -> str:
        """The part as one recipient reads it (decoded), ending in a newline."""
        return "".join((c if isinstance(c, str) else self._fill(c, values)) + "\n"
                       for c in self.lines)

    def encode(self, values: dict[str, str], *, stuffed: bool) -> list[bytes]:
        out = []
        for chunk in self.stuffed if stuffed else self.chunks:
            if isinstance(chunk, bytes):
                out.append(chunk)
                continue
            encoded = qp_lines(self._fill(chunk, values))
            out.append(_DOT.sub(b"..", encoded) if stuffed else encoded)
        return out


def qp_lines(text: str) -> bytes:
    """Quoted-printable, CRLF line ends, each line (the last too) ending in CRLF."""
    encoded = binascii.b2a_qp(text.encode("utf-8"), quotetabs=False, istext=True,
                              header=False)
    return encoded.replace(b"\n", CRLF) + CRLF


def message_id(issue_key: str, recipient: str, sender: str, key: str) -> str:
    """A Message-ID that is the same every time for one (issue, recipient). Keyed
    (with the state database's id), so a forwarded message does not let anyone
    confirm a guessed address by hashing it."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "digest.invalid"
    digest = hmac.new(key.encode(), f"{issue_key}\n{recipient.lower()}".encode(),
                      hashlib.sha256).hexdigest()[:32]
    return f"<{issue_key}.{digest}@{domain}>"


class MessageTemplate:
    """Build with `MessageTemplate.for_issue`; `render(recipient)` gives one message,
    `wire(recipient)` the same bytes ready for DATA."""

    def __init__(
        self, *, issue_key: str, sender: str, subject: str, html: str, text: str,
        date: datetime, marker: str, id_key: str = "", unsubscribe_url: str = "",
        unsubscribe_mailto: str = "",
        secret: bytes | None = None, list_id: str = "", reply_to: str = "",
        dkim: Dkim | None = None, return_path: str = "",
    ) -> None:
        self.issue_key = issue_key
        self.id_key = id_key
        self.sender = sender
        self.envelope_from = parseaddr(sender)[1]
        self.return_path = return_path
        if return_path and secret is None:  # no VERP would trace a bounce: never silently
            raise ConfigError("[delivery] return_path: VERP needs the token secret "
                              "([delivery] secret_env, e.g. DIGEST_SECRET); set it")
        self.unsubscribe_template = unsubscribe_url
        self.unsubscribe_mailto = unsubscribe_mailto
        self.secret = secret
        self.dkim = dkim
        # QP never writes "=_" (a literal "=" is "=3D"), so no body line can be this.
        boundary = f"=_digest_{hashlib.sha256(issue_key.encode()).hexdigest()[:24]}"
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
        # The lines every message of the issue shares are checked here, once; render
        # checks the few it makes per recipient.
        problem = _head_problem(
            self._from + self._subject + self._date_etc + self._tail,
            [b"from", b"subject", b"date", b"mime-version", b"content-type"]
            + [b"reply-to"] * bool(reply_to) + [b"list-id"] * bool(list_id)
            + [b"list-unsubscribe-post"] * bool(post))
        if problem:
            raise ConfigError(f"the issue's mail headers would have {problem}: check "
                              "[newsletter] name, the subject and the [delivery] addresses")
        pattern = placeholder_pattern(marker)
        self.text = _Part(text, html=False, placeholder=pattern)
        self.html = _Part(html, html=True, placeholder=pattern)
        self.fields = self.text.fields | self.html.fields

    @classmethod
    def for_issue(cls, config: Config, folder: IssueFolder) -> MessageTemplate:
        """The message of a built issue, read from its folder (see IssueFolder.check_owner
        for whose folder it may be)."""
        return cls.from_config(config, folder.manifest, *folder.template_parts())

    @classmethod
    def from_config(cls, config: Config, manifest: Manifest, html: str, text: str, *,
                    test: bool = False) -> MessageTemplate:
        """The message of an issue's template parts. Raises ConfigError when the token
        secret is missing or too short (see tokens.load_secret) or the DKIM key is bad.

        A `test` message is the same issue with "[TEST]" before its subject and a
        Message-ID of its own: a mailbox that drops a second message with a Message-ID
        it has seen must still take the real one later."""
        delivery = config.delivery
        domain = parseaddr(config.sender)[1].rpartition("@")[2] or "digest.invalid"
        list_id = delivery.list_id or \
            f"{config.newsletter.name} <{config.newsletter.slug}.{domain}>"
        if "<" not in list_id:
            list_id = f"<{list_id}>"
        key = issue_key(config, manifest.number)
        return cls(
            issue_key=f"{key}-test-{secrets.token_hex(6)}" if test else key,
            sender=config.sender,
            subject=f"[TEST] {manifest.subject}" if test else manifest.subject,
            html=html, text=text, date=manifest.when,
            marker=manifest.marker, id_key=manifest.state_id,
            unsubscribe_url=delivery.unsubscribe_url,
            unsubscribe_mailto=delivery.unsubscribe_mailto,
            secret=load_secret(config),
            list_id=list_id, reply_to=delivery.reply_to, dkim=load_dkim(config),
            return_path=delivery.return_path,
        )

    def envelope_for(self, recipient: Recipient) -> str:
        """MAIL FROM for one recipient: `[delivery] return_path` with the recipient's
        token after a '+' (VERP: a bounce says whose it is), else the From address."""
        if not self.return_path or self.secret is None:  # (__init__: both or neither)
            return self.envelope_from
        local, _, domain = self.return_path.rpartition("@")
        return f"{local}+{verp_token(self.secret, recipient.email)}@{domain}"

    def message_id(self, recipient: Recipient) -> str:
        return message_id(self.issue_key, recipient.email, self.sender, self.id_key)

    def variant(self, recipient: Recipient) -> str:
        """The topic edition this message is, for the delivery log: "" (the whole
        issue; digest.deliver.variants.Editions names the others)."""
        return ""

    def unsubscribe_url(self, email: str) -> str:
        return unsubscribe_link(self.unsubscribe_template, self.unsubscribe_mailto,
                                self.secret, email)

    def values(self, recipient: Recipient) -> dict[str, str]:
        return {**recipient.values(), "unsubscribe-url": self.unsubscribe_url(recipient.email)}

    def parts(self, recipient: Recipient) -> tuple[str, str]:
        """The HTML and text parts as this recipient reads them."""
        values = self.values(recipient)
        return self.html.personalized(values), self.text.personalized(values)

    def _list_unsubscribe(self, url: str) -> bytes:
        targets = []
        if url and not url.startswith("mailto:"):
            targets.append(f"<{url}>")
        if self.unsubscribe_mailto:
            mailto = self.unsubscribe_mailto
            targets.append(f"<mailto:{mailto}{'' if '?' in mailto else '?subject=unsubscribe'}>")
        if not targets:
            return b""
        line = "List-Unsubscribe: " + ", ".join(targets)
        if len(line) > 998:  # a URL cannot be folded, but the list can, between targets
            line = "List-Unsubscribe: " + ",\r\n ".join(targets)
        return line.encode() + CRLF

    def render(self, recipient: Recipient, *, stuffed: bool = False) -> bytes:
        """The whole message for one recipient (no DKIM signature)."""
        values = self.values(recipient)
        # Folded by the email package: a long or non-ASCII name becomes several
        # RFC 2047 words on several lines, never one line over 998 characters.
        to = policy.SMTP.fold("To", formataddr((recipient.name, recipient.email)))
        own = b"".join((  # this recipient's lines: the rest were checked in __init__
            to.encode("ascii"), b"Message-ID: ", self.message_id(recipient).encode("ascii"),
            CRLF, self._list_unsubscribe(values["unsubscribe-url"]),
        ))
        self._check_head(own, recipient)
        return b"".join((
            self._from, own[:len(to)], self._subject, self._date_etc, own[len(to):],
            self._tail, self._text_head, *self.text.encode(values, stuffed=stuffed),
            self._html_head, *self.html.encode(values, stuffed=stuffed), self._close,
        ))

    def _check_head(self, own: bytes, recipient: Recipient) -> None:
        """Refuse a header line this builder did not make among a recipient's own lines
        (To, Message-ID, List-Unsubscribe): a CR, LF or other control character in a
        value (a name carrying "\\r\\nBcc: ..."), a line over 998 characters, or any
        header beyond those. Raises HeaderRefused."""
        problem = _head_problem(own, [b"to", b"message-id"], optional=b"list-unsubscribe")
        if problem:
            raise HeaderRefused(
                f"{recipient.email}: the message for this address has {problem}; nothing "
                "was sent to it. Its name or another value would add to the headers: fix "
                "it (digest subscribers import, or the recipients file) and send again")

    def signed(self, recipient: Recipient) -> bytes:
        """The whole message for one recipient, DKIM-signed if DKIM is on."""
        plain = self.render(recipient)
        return sign(plain, self.dkim) + plain if self.dkim else plain

    def wire(self, recipient: Recipient) -> bytes:
        """What goes after DATA: signed if DKIM is on, dot-stuffed, ending CRLF.CRLF.
        The DKIM-Signature (it carries the signing time) is the one header added here."""
        if self.dkim:  # sign the message as it will be read, then dot-stuff it once
            data = _DOT.sub(b"..", self.signed(recipient))
        else:
            data = self.render(recipient, stuffed=True)
        return data + b".\r\n"


def _head_problem(head: bytes, wanted: list[bytes], optional: bytes = b"") -> str:
    """What is wrong with these header lines, "" if nothing: a character outside
    printable ASCII and tab, a line over 998 characters, a line that is no header, or
    header names other than `wanted` (and `optional`), each once."""
    names = []
    for line in head.removesuffix(CRLF + CRLF).removesuffix(CRLF).split(CRLF):
        bad = _NOT_HEADER_TEXT.search(line)
        if bad:
            return f"character 0x{bad.group()[0]:02X} in {line[:40]!r}"
        if len(line) > 998:
            return f"a line of {len(line)} characters"
        if line[:1] in (b" ", b"\t"):
            continue  # a folded line goes on the header before
        name, colon, _ = line.partition(b":")
        if not colon or not name or name != name.strip():
            return f"the line {line[:40]!r}, which is no header"
        names.append(name.lower())
    wanted = wanted + [optional] * (bool(optional) and optional in names)
    if sorted(names) == sorted(wanted):
        return ""
    extra = sorted(set(names) - set(wanted)) or [n for n in set(names) if names.count(n) > 1]
    shown = ", ".join(n.decode("ascii") for n in extra) or "a missing header"
    return f"headers digest did not make ({shown})"


def issue_key(config: Config, number: int) -> str:
    return f"{config.newsletter.slug}-{number}"


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
    # here, not at the top: dkim is heavy and only this needs it
    import dkim

    present = {line.split(b":", 1)[0].strip().lower()
               for line in message.split(b"\r\n\r\n", 1)[0].split(CRLF) if b":" in line
               and not line[:1].isspace()}
    headers = [h for h in DKIM_HEADERS if h in present]
    try:
        return dkim.sign(message, key.selector, key.domain, key.key, include_headers=headers,
                         linesep=CRLF)
    except Exception as e:  # noqa: BLE001 - dkimpy raises several kinds on a bad key
        reason = " ".join(str(e).split()) or type(e).__name__
        raise ConfigError(f"[dkim] key_file: cannot sign with this key ({reason}); give a "
                          "PEM RSA or Ed25519 private key") from None

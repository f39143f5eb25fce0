"""The confirmation mail `digest serve` sends when someone subscribes: built here,
DKIM-signed with the issue mails' signer when `[dkim]` is set, and delivered through
the configured delivery, SMTP or a .eml in outbox/confirmations/ (written atomically).
The server's worker (digest.deliver.confirm_queue) calls `deliver_confirmation`; no
request waits for it."""

from __future__ import annotations

import hashlib
import smtplib
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from digest.clock import utcnow
from digest.config.schema import Config
from digest.deliver.connection import connection, reply_line
from digest.deliver.message import Dkim, sign
from digest.errors import DeliveryError

CONFIRM_SECONDS = 48 * 3600  # how long a confirmation link works


class ConfirmationRefused(DeliveryError):
    """The server refused the confirmation for good (5xx): retrying will not help."""


def deliver_confirmation(config: Config, email: str, link: str, dkim: Dkim | None) -> None:
    """Send (or write) one confirmation mail. Raises ConfirmationRefused on a 5xx
    reply, DeliveryError on anything worth retrying (no connection, no answer within
    [smtp] timeout, 4xx)."""
    data = confirmation_bytes(config, email, link, dkim)
    if config.delivery.mode == "smtp":
        try:
            with connection(config.smtp) as conn:
                conn.sendmail(parseaddr(config.sender)[1], [email], data)
        except smtplib.SMTPRecipientsRefused as e:
            code, reply = next(iter(e.recipients.values()))
            raise _refused(code, reply) from None
        except smtplib.SMTPResponseException as e:
            raise _refused(e.smtp_code, e.smtp_error) from None
        except (OSError, smtplib.SMTPException) as e:
            raise DeliveryError(f"confirmation not sent: {type(e).__name__}: {e}") from None
        return
    folder = config.outbox_path / "confirmations"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{utcnow().strftime('%Y%m%dT%H%M%S')}-{hashlib.sha256(email.encode()).hexdigest()[:12]}"
    temp = folder / f".{name}.tmp"
    temp.write_bytes(data)
    temp.replace(folder / f"{name}.eml")


def _refused(code: int, reply: bytes | str) -> DeliveryError:
    line = reply_line(code, reply, ())
    return ConfirmationRefused(line) if code >= 500 else DeliveryError(line)


def confirmation_bytes(config: Config, email: str, link: str, dkim: Dkim | None) -> bytes:
    """The message as sent: CRLF lines, with a DKIM-Signature when `dkim` is given
    (the same signer and header list as the issue mails, digest.deliver.message.sign)."""
    plain = confirmation_message(config, email, link, CONFIRM_SECONDS // 3600).as_bytes(
        policy=policy.SMTP)
    return sign(plain, dkim) + plain if dkim else plain


def confirmation_message(config: Config, email: str, link: str, valid_hours: int
                         ) -> EmailMessage:
    nl = config.newsletter
    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = email
    message["Subject"] = f"Confirm your subscription to {nl.name}"
    message["Date"] = format_datetime(utcnow())
    domain = parseaddr(config.sender)[1].rpartition("@")[2] or "digest.invalid"
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(
        f"Someone (we hope you) asked to get {nl.name} at this address.\n\n"
        f"To confirm, open this link within {valid_hours} hours:\n{link}\n\n"
        "If it was not you, do nothing: without a confirmation you will get nothing.\n")
    return message

"""The confirmation mail `digest serve` sends when someone subscribes: through the
configured delivery, SMTP or a .eml in outbox/confirmations/ (written atomically)."""

from __future__ import annotations

import hashlib
import logging
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from digest.clock import utcnow
from digest.config.schema import Config
from digest.deliver.connection import connection


def send_confirmation(config: Config, email: str, link: str, valid_hours: int) -> None:
    """Runs after the reader has their answer: a failure is logged (the address stays
    pending: subscribing again sends a new link)."""
    try:
        deliver_confirmation(config, email, link, valid_hours)
    except Exception as e:  # noqa: BLE001 - the reader already has their answer
        logging.getLogger("digest.web.app").error("confirmation to %s not sent: %s", email, e)


def deliver_confirmation(config: Config, email: str, link: str, valid_hours: int) -> None:
    message = confirmation_message(config, email, link, valid_hours)
    if config.delivery.mode == "smtp":
        with connection(config.smtp) as conn:
            conn.send_message(message, from_addr=parseaddr(config.sender)[1], to_addrs=[email])
        return
    folder = config.outbox_path / "confirmations"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{utcnow().strftime('%Y%m%dT%H%M%S')}-{hashlib.sha256(email.encode()).hexdigest()[:12]}"
    temp = folder / f".{name}.tmp"
    temp.write_bytes(bytes(message))
    temp.replace(folder / f"{name}.eml")


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

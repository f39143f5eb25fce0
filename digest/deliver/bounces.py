"""`digest bounces PATH`: act on delivery status notifications and complaints.

Reads a Maildir or an mbox (what the `[delivery] return_path` mailbox collects) with
the email package:

- a DSN (RFC 3464, `multipart/report; report-type=delivery-status`, as Postfix, Gmail
  and Microsoft send them) or an Exim-style plain-text bounce: `failed` with a 5.x.x
  status is a hard bounce, the address becomes `bounced` and is never mailed again;
  `delayed` or a 4.x.x status is a soft bounce, and three in a row (no delivery report
  between) count as a hard one;
- an ARF complaint (RFC 5965, `report-type=feedback-report`): the address is
  unsubscribed.

Whose a bounce is comes from the VERP address it was sent to
(`bounces+<tag>@domain`, see `[delivery] return_path`), else from the report's
Final-Recipient / Original-Rcpt-To. Each message is acted on once (by Message-ID).
"""

from __future__ import annotations

import email
import hashlib
import mailbox
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from email.utils import getaddresses
from pathlib import Path
from typing import Any

from digest.addresses import AddressError, parse_address
from digest.config.schema import Config
from digest.deliver.recipients import load_recipients
from digest.errors import ConfigError
from digest.models import BounceKind
from digest.state.bounces import BounceLog
from digest.state.deliveries import Subscriber, Subscribers
from digest.state.store import locked_store
from digest.tokens import load_secret, verp_token

SOFT_LIMIT = 3


@dataclass(frozen=True)
class Event:
    email: str
    kind: BounceKind
    detail: str
    traced: bool = False  # through the VERP address digest sent from, not the report


@dataclass(frozen=True)
class BounceReport:
    messages: int
    hard: int
    soft: int
    complaints: int
    bounced: tuple[str, ...]  # addresses now `bounced`
    unsubscribed: tuple[str, ...]
    skipped: int  # seen before, or not a bounce we could place


def messages(path: Path) -> Iterator[tuple[bytes, EmailMessage]]:
    """The messages of a Maildir (a folder with cur/ and new/) or an mbox file."""
    if path.is_dir():
        if not (path / "cur").is_dir() and not (path / "new").is_dir():
            raise ConfigError(f"{path} is a folder but not a Maildir (no cur/ or new/)")
        box: mailbox.Mailbox = mailbox.Maildir(path, factory=None, create=False)
    elif path.is_file():
        box = mailbox.mbox(path, create=False)
    else:
        raise ConfigError(f"{path} not found: give a Maildir folder or an mbox file")
    try:
        for key in box.iterkeys():
            raw = box.get_bytes(key)
            yield raw, email.message_from_bytes(raw, policy=policy.default)  # type: ignore[misc]
    finally:
        box.close()


def events(message: EmailMessage, known: dict[str, str], return_path: str) -> list[Event]:
    """What one message reports, per recipient. `known`: VERP tag -> address (see
    `verp_tags`)."""
    verp = _verp_address(message, known, return_path)
    found = _events(message, verp)
    return [Event(e.email, e.kind, e.detail, traced=verp is not None) for e in found]


def _events(message: EmailMessage, verp: str | None) -> list[Event]:
    report = message.get_param("report-type", header="content-type") or ""
    if message.get_content_type() == "multipart/report" and str(report).lower() == \
            "feedback-report":
        return _complaint(message, verp)
    if message.get_content_type() == "multipart/report":
        found = _dsn(message, verp)
        if found:
            return found
    return _plain_bounce(message, verp)


def verp_tags(secret: bytes | None, addresses: set[str]) -> dict[str, str]:
    """VERP tag -> address, for every address digest may have mailed."""
    if secret is None:
        return {}
    return {verp_token(secret, a): a for a in addresses}


def _verp_address(message: Message, known: dict[str, str], return_path: str) -> str | None:
    if not return_path or not known:
        return None
    local, _, domain = return_path.rpartition("@")
    pattern = re.compile(rf"{re.escape(local)}\+([a-z2-7]+)@{re.escape(domain)}", re.I)
    for header in ("Delivered-To", "X-Original-To", "To", "Envelope-To"):
        for value in message.get_all(header) or []:
            match = pattern.search(str(value))
            if match and match.group(1).lower() in known:
                return known[match.group(1).lower()]
    return None


def _address(value: str | None) -> str | None:
    """`rfc822; ann@example.com` -> ann@example.com (normalised), or None."""
    if not value:
        return None
    text = str(value).split(";", 1)[-1].strip().strip("<>")
    try:
        return parse_address(text).email
    except AddressError:
        return None


def _dsn(message: EmailMessage, verp: str | None) -> list[Event]:
    out: list[Event] = []
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks: Any = part.get_payload()
        if not isinstance(blocks, list):
            continue
        for block in blocks[1:] if len(blocks) > 1 else blocks:
            action = str(block.get("Action", "")).strip().lower()
            status = str(block.get("Status", "")).strip()
            who = verp or _address(block.get("Final-Recipient")) or _address(
                block.get("Original-Recipient"))
            if not who or not action:
                continue
            detail = " ".join(f"{action} {status} {block.get('Diagnostic-Code', '')}".split())
            if action == "failed" and status.startswith("5"):
                out.append(Event(who, "hard", detail[:300]))
            elif action in ("failed", "delayed"):
                out.append(Event(who, "soft", detail[:300]))
            elif action in ("delivered", "relayed", "expanded"):
                out.append(Event(who, "delivered", detail[:300]))
    return out


_EXIM_FAILED = re.compile(r"could not be delivered to one or more of its\s+recipients", re.I)
_EXIM_DELAYED = re.compile(r"has not yet been delivered", re.I)


def _plain_bounce(message: EmailMessage, verp: str | None) -> list[Event]:
    """Exim's default bounce: text, the failed addresses indented under the notice."""
    body = message.get_body(("plain",))
    text = body.get_content() if body is not None else ""
    if not (_EXIM_FAILED.search(text) or _EXIM_DELAYED.search(text)):
        return []
    delayed = _EXIM_DELAYED.search(text) or "retry time not reached" in text
    kind: BounceKind = "soft" if delayed else "hard"
    if verp:
        return [Event(verp, kind, " ".join(text.split())[:300])]
    found = []
    for line in text.splitlines():
        if line.startswith(("  ", "\t")) and "@" in line:
            who = _address(line.strip().split()[0].rstrip(":"))
            if who:
                found.append(Event(who, kind, " ".join(text.split())[:300]))
    return found


def _complaint(message: EmailMessage, verp: str | None) -> list[Event]:
    who = verp
    for part in message.walk():
        if part.get_content_type() == "message/feedback-report":
            report: Any = part.get_payload()
            fields: Any = report[0] if isinstance(report, list) and report else part
            who = who or _address(fields.get("Original-Rcpt-To"))
        elif part.get_content_type() in ("message/rfc822", "text/rfc822-headers") and not who:
            inner: Any = part.get_payload()
            original: Any = inner[0] if isinstance(inner, list) and inner else None
            if original is None and isinstance(inner, str):
                original = email.message_from_string(inner, policy=policy.default)
            if original is not None:
                addresses = getaddresses([str(v) for v in original.get_all("To") or []])
                who = next((a for a in (_address(x[1]) for x in addresses) if a), None)
    return [Event(who, "complaint", "abuse report (ARF)")] if who else []


def process(config: Config, path: Path) -> BounceReport:
    """Act on every bounce and complaint in the mailbox at `path`.

    Anyone can send mail to a bounce mailbox, so a report counts only when it can be
    traced: with `[delivery] return_path`, through its VERP address (the report's own
    contents are ignored); without, only for an address digest has sent an issue to.
    An address on no list is never added."""
    secret = load_secret(config)
    hard = soft = complaints = count = skipped = 0
    bounced: list[str] = []
    unsubscribed: list[str] = []
    with locked_store(config) as store:
        subscribers, log = Subscribers(store.conn), BounceLog(store.conn)
        known = {s.email.lower(): s for s in subscribers.rows()}
        mailed, sent_to = log.mailed()
        mailed |= {s.email for s in known.values()}
        mailed |= {r.email for r in load_recipients(config).recipients}
        tags = verp_tags(secret, mailed)
        for raw, message in messages(path):
            count += 1
            message_id = str(message.get("Message-ID", "")).strip() or \
                f"<no-id:{hashlib.sha256(raw).hexdigest()}>"
            try:
                found = events(message, tags, config.delivery.return_path)
            except Exception:  # noqa: BLE001 - one odd message never stops the rest
                found = []
            trusted = [e for e in found if e.traced or (
                not config.delivery.return_path and e.email.lower() in sent_to)]
            if not trusted:
                skipped += 1
                continue
            for event in trusted:
                key = event.email.lower()
                if not log.record(message_id, key, event.kind, event.detail):
                    skipped += 1
                    continue
                name = known[key].name if key in known else ""
                if event.kind == "complaint":
                    complaints += 1
                    subscribers.upsert([Subscriber(event.email, "unsubscribed", name)],
                                       reason="complaint")
                    unsubscribed.append(event.email)
                elif event.kind == "hard" or (event.kind == "soft"
                                              and log.soft_days_in_a_row(key) >= SOFT_LIMIT):
                    hard += event.kind == "hard"
                    soft += event.kind == "soft"
                    subscribers.upsert([Subscriber(event.email, "bounced", name)])
                    bounced.append(event.email)
                elif event.kind == "soft":
                    soft += 1
    return BounceReport(count, hard, soft, complaints, tuple(dict.fromkeys(bounced)),
                        tuple(dict.fromkeys(unsubscribed)), skipped)


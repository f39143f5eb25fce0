"""`digest bounces PATH`: act on delivery status notifications and complaints.

Reads a Maildir or an mbox (what the `[delivery] return_path` mailbox collects) with
the email package:

- a DSN (RFC 3464, `multipart/report; report-type=delivery-status`, as Postfix, Gmail
  and Microsoft send them) or an Exim-style plain-text bounce: `failed` with a 5.x.x
  status is a hard bounce, the address becomes `bounced` and is never mailed again;
  `delayed` or a 4.x.x status is a soft bounce, and soft bounces for three issues in
  a row (no issue delivered between without one) count as a hard one, as Mailchimp
  and Campaign Monitor count them (see BounceLog.soft_streak);
- a refusal for the message's content or its sender, not for the address (a 5.7.x or
  4.7.x status, e.g. `5.7.1 content rejected as spam` or a DMARC policy, or spam /
  policy / blocklist wording), is recorded and counted as `policy`, and never
  suppresses the address: it says the sending needs fixing, not the list;
- an ARF complaint (RFC 5965, `report-type=feedback-report`): the address is
  unsubscribed.

Whose a bounce is comes from the VERP address it was sent to
(`bounces+<tag>@domain`, see `[delivery] return_path`), else from the report's
Final-Recipient / Original-Rcpt-To. Each message is acted on once (by Message-ID).
Which issue it is about comes from the Message-ID of the message it returns, else the
latest issue sent to the address (digest.state.audit): `digest report` counts it there.
It needs no state lock when the schema is current: a long send holds the lock, and
its pause thresholds (`[delivery] pause_*`) count the complaints that arrive meanwhile.

A message is read from at most its first MAX_MESSAGE_BYTES (a report's machine-readable
parts come before the returned message), and one nested more than MAX_CONTAINERS deep
or that the email package cannot read is named in a warning, noted as read (by the hash
of its bytes) and skipped: one odd message never stops the others.
"""

from __future__ import annotations

import email
import hashlib
import mailbox
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from email.utils import getaddresses
from pathlib import Path
from typing import Any

from digest.addresses import AddressError, parse_address
from digest.clock import utcnow
from digest.config.schema import Config
from digest.deliver.recipients import configured_recipients
from digest.errors import ConfigError
from digest.models import BounceKind
from digest.state.audit import record_unsubscribe, trace_bounce
from digest.state.bounces import BounceLog
from digest.state.deliveries import Subscriber, Subscribers
from digest.state.migrations import SCHEMA_VERSION
from digest.state.store import Store, locked_store, open_store
from digest.tokens import load_secret, verp_token

SOFT_LIMIT = 3  # issues in a row with a soft bounce make it a hard one
MAX_MESSAGE_BYTES = 4_000_000  # a DSN of one of our issues is a few hundred KB
MAX_CONTAINERS = 64  # multipart or message/* parts: a real report has a handful
_CONTAINER = re.compile(rb"(?im)^content-type:[ \t]*(?:multipart|message)/")
# A refusal of the address itself, whatever its status says about policy.
_ADDRESS_GONE = re.compile(
    r"user unknown|unknown user|no such (?:user|mailbox|recipient|address)|does ?n[o']t "
    r"exist|recipient not found|mailbox not found|address not found|invalid (?:recipient|"
    r"mailbox)|account (?:has been )?disabled", re.I)
# A refusal of the message or of the sender: content, spam, reputation, authentication.
_POLICY = re.compile(
    r"spam|unsolicited|bulk mail|content|polic(?:y|ies)|block|blacklist|deny ?list|"
    r"reputation|dmarc|\bspf\b|\bdkim\b|virus|malware|phish", re.I)
_SMTP_LINE = re.compile(r"\b[245]\d\d\b|\b[245]\.\d{1,3}\.\d{1,3}\b")


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
    policy: int = 0  # refusals for content or the sender: recorded, the address kept
    refused: tuple[str, ...] = ()  # the addresses of those
    notes: tuple[str, ...] = ()  # one line each: a message not read, or read in part


@dataclass(frozen=True)
class Stored:
    """One message of the mailbox: where it is (for warnings), its first bytes, and
    whether there was more."""

    where: str
    raw: bytes
    cut: bool


def messages(path: Path) -> Iterator[Stored]:
    """The messages of a Maildir (a folder with cur/ and new/) or an mbox file, each
    read up to MAX_MESSAGE_BYTES."""
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
            with box.get_file(key) as f:
                raw = f.read(MAX_MESSAGE_BYTES + 1)
            where = f"{path}: message {key}" if path.is_dir() else \
                f"{path}: message #{int(key) + 1}"
            yield Stored(where, raw[:MAX_MESSAGE_BYTES], len(raw) > MAX_MESSAGE_BYTES)
    finally:
        box.close()


class Unreadable(Exception):
    """A mailbox message the email package cannot read safely."""


def read_message(raw: bytes) -> EmailMessage:
    """The message, parsed; raises Unreadable for one nested too deeply to parse
    without running out of stack (the parser recurses per level)."""
    if len(_CONTAINER.findall(raw)) > MAX_CONTAINERS:
        raise Unreadable(f"more than {MAX_CONTAINERS} multipart or message parts")
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


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
            diagnostic = str(block.get("Diagnostic-Code", ""))
            detail = " ".join(f"{action} {status} {diagnostic}".split())
            if action in ("failed", "delayed"):
                kind: BounceKind = "policy" if refused_for_policy(status, diagnostic) else \
                    "hard" if action == "failed" and status.startswith("5") else "soft"
                out.append(Event(who, kind, detail[:300]))
            elif action in ("delivered", "relayed", "expanded"):
                out.append(Event(who, "delivered", detail[:300]))
    return out


def refused_for_policy(status: str, diagnostic: str) -> bool:
    """Whether a failure is about the message or the sender, not the address: an
    X.7.X status (RFC 3463's security or policy class: 5.7.1 spam, 5.7.26 DMARC,
    4.7.0 rate limits) or wording about spam, content, policy or blocklists, unless
    the reply also says the address does not exist."""
    if _ADDRESS_GONE.search(diagnostic):
        return False
    return bool(re.match(r"[45]\.7\.", status.strip()) or re.search(
        r"\b[45]\.7\.\d{1,3}\b", diagnostic) or _POLICY.search(diagnostic))


_EXIM_FAILED = re.compile(r"could not be delivered to one or more of its\s+recipients", re.I)
_EXIM_DELAYED = re.compile(r"has not yet been delivered", re.I)


def _plain_bounce(message: EmailMessage, verp: str | None) -> list[Event]:
    """Exim's default bounce: text, the failed addresses indented under the notice."""
    body = message.get_body(("plain",))
    text = body.get_content() if body is not None else ""
    if not (_EXIM_FAILED.search(text) or _EXIM_DELAYED.search(text)):
        return []
    delayed = _EXIM_DELAYED.search(text) or "retry time not reached" in text
    # Only the servers' replies say why: the returned message below may say anything.
    replies = "\n".join(line for line in text.split("------ This is a copy")[0].splitlines()
                        if _SMTP_LINE.search(line))
    kind: BounceKind = "policy" if replies and refused_for_policy("", replies) else \
        "soft" if delayed else "hard"
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


def returned_message_id(message: EmailMessage) -> str:
    """The Message-ID of the message a report returns (its message/rfc822 or
    text/rfc822-headers part), or "": which issue the report is about."""
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            inner: Any = part.get_payload()
            original: Any = inner[0] if isinstance(inner, list) and inner else None
        elif kind == "text/rfc822-headers":
            text: Any = part.get_payload(decode=True) or b""
            original = email.message_from_bytes(bytes(text), policy=policy.default)
        else:
            continue
        value = original.get("Message-ID", "") if original is not None else ""
        found = re.search(r"<[^<>\s]{1,250}>", str(value))
        if found:
            return found.group(0)
    return ""


@contextmanager
def _bounce_store(config: Config) -> Iterator[Store]:
    """The state database for writing, without the state lock when its schema is
    current: a send holds the lock for its whole run, and the reports that come in
    meanwhile must reach it. SQLite orders the writes (each its own transaction, as the
    web app's). An older schema is migrated under the lock, as every writer does."""
    if isinstance(config.state_db, str):  # PostgreSQL: a store migrates under its own lock
        with open_store(config.state_db) as store:
            yield store
        return
    try:
        conn = sqlite3.connect(f"file:{config.state_path}?mode=ro", uri=True, timeout=30)
        try:
            current = conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        finally:
            conn.close()
    except sqlite3.Error:
        current = False
    if not current:
        with locked_store(config) as store:
            yield store
        return
    with open_store(config.state_db) as store:
        yield store


def process(config: Config, path: Path) -> BounceReport:
    """Act on every bounce and complaint in the mailbox at `path`.

    Anyone can send mail to a bounce mailbox, so a report counts only when it can be
    traced: with `[delivery] return_path`, through its VERP address (the report's own
    contents are ignored); without, only for an address digest has sent an issue to.
    An address on no list is never added. Raises ConfigError when return_path is set
    without the secret that traces it (digest.tokens.load_secret)."""
    secret = load_secret(config)
    hard = soft = complaints = count = skipped = refusals = 0
    bounced: list[str] = []
    unsubscribed: list[str] = []
    refused: list[str] = []
    notes: list[str] = []
    with _bounce_store(config) as store:
        subscribers, log = Subscribers(store.conn), BounceLog(store.conn)
        known = {s.email.lower(): s for s in subscribers.each()}
        mailed, sent_to = log.mailed()
        mailed |= {s.email for s in known.values()}
        mailed |= {r.email for r in configured_recipients(config).recipients}  # + known
        tags = verp_tags(secret, mailed)
        for stored in messages(path):
            count += 1
            digest_of = hashlib.sha256(stored.raw).hexdigest()
            fingerprint = f"<unreadable:{digest_of}>"
            if log.seen(fingerprint):  # found unreadable before: not read again
                skipped += 1
                continue
            try:
                message = read_message(stored.raw)
                message_id = " ".join(str(message.get("Message-ID", "")).split()) or \
                    f"<no-id:{digest_of}>"
                found = events(message, tags, config.delivery.return_path)
                returned = returned_message_id(message)
            except Exception as e:  # noqa: BLE001 - one odd message never stops the rest
                reason = "nested too deeply to read" if isinstance(e, RecursionError) else \
                    " ".join(str(e).split())[:120] or type(e).__name__
                log.unreadable(fingerprint, reason)
                notes.append(f"{stored.where}: cannot be read ({reason}); skipped, and "
                             "noted so it is not read again")
                skipped += 1
                continue
            if stored.cut and not log.seen(message_id):
                notes.append(f"{stored.where}: over {MAX_MESSAGE_BYTES // 1_000_000} MB; "
                             f"read its first {MAX_MESSAGE_BYTES // 1_000_000} MB only")
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
                trace_bounce(store.conn, message_id, key, returned)
                name = known[key].name if key in known else ""
                if event.kind == "complaint":
                    complaints += 1
                    subscribers.upsert([Subscriber(event.email, "unsubscribed", name)],
                                       reason="complaint")
                    record_unsubscribe(store.conn, key, "complaint",
                                       utcnow().isoformat(timespec="milliseconds"), returned)
                    unsubscribed.append(event.email)
                elif event.kind == "policy":
                    refusals += 1
                    refused.append(event.email)
                elif event.kind == "hard" or (event.kind == "soft"
                                              and log.soft_streak(key) >= SOFT_LIMIT):
                    hard += event.kind == "hard"
                    soft += event.kind == "soft"
                    subscribers.upsert([Subscriber(event.email, "bounced", name)])
                    bounced.append(event.email)
                elif event.kind == "soft":
                    soft += 1
    return BounceReport(count, hard, soft, complaints, tuple(dict.fromkeys(bounced)),
                        tuple(dict.fromkeys(unsubscribed)), skipped, refusals,
                        tuple(dict.fromkeys(refused)), tuple(notes))

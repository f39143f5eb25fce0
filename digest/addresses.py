"""The one validator and normaliser of email addresses.

Every address that enters digest comes through here: the config's `from`,
`reply_to`, `recipients` and `unsubscribe_mailto`, the subscriber CSV, the CLI's
`unsubscribe` / `resubscribe` (and any later web form). Validation is
`email-validator`'s syntax check (no DNS: `check_deliverability=False`, so it works
offline), after which:

- surrounding whitespace, a trailing newline included, is dropped; whitespace or a
  control character inside the address is an error;
- the domain is lower-cased and an internationalized domain becomes its ASCII
  (punycode) form, `bob@Bücher.de` -> `bob@xn--bcher-kva.de`, which is what the
  SMTP sender puts in RCPT TO and the To header;
- a local part (before the @) that is not ASCII is refused: the sender does not
  speak SMTPUTF8;
- quoted local parts and IP-address domains are refused; a domain needs a dot and
  must not be a special-use name (`localhost`, `.test`, ...) unless `local_domain`.

`Address.email` keeps the local part's case (for the To header); `Address.key`, the
whole address in lower case, identifies a subscriber in the delivery log and the
suppression list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")  # a local host name, e.g. localhost


class AddressError(ValueError):
    """Not a usable address. The message is one line: the text (quoted) and why."""


@dataclass(frozen=True)
class Address:
    email: str  # ASCII addr-spec: local part as written, domain lower case / punycode

    @property
    def key(self) -> str:
        """The subscriber's key (delivery log, suppression list): lower case."""
        return self.email.lower()

    def __str__(self) -> str:
        return self.email


def shown(text: str, limit: int = 80) -> str:
    """The text as quoted in an error: escapes visible, one line, not too long."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def parse_address(text: str, *, local_domain: bool = False) -> Address:
    """Validate and normalise one bare address (`ann@example.org`, no display name).

    `local_domain` allows a domain without a dot or a special-use one, like the
    default From `digest@localhost`. Raises AddressError."""
    # here, not at the top: email_validator is heavy and only this needs it
    from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

    value = text.strip()
    if not value:
        raise AddressError(f"{shown(text)} is not a valid email address: it is empty")
    local, at, domain = value.rpartition("@")
    domain = domain.lower()
    if local_domain and at and _HOST.fullmatch(domain) and \
            domain.rpartition(".")[2] in SPECIAL_USE_DOMAIN_NAMES:  # e.g. digest@localhost
        checked = parse_address(f"{local}@example.com")  # the local part, checked alike
        return Address(f"{checked.email.rpartition('@')[0]}@{domain}")
    try:
        valid = validate_email(value, check_deliverability=False, allow_smtputf8=True,
                               allow_quoted_local=False, allow_domain_literal=False,
                               allow_display_name=False, strict=True,
                               globally_deliverable=not local_domain)
    except EmailNotValidError as e:
        reason = str(e).rstrip(".")
        raise AddressError(f"{shown(text)} is not a valid email address: "
                           f"{reason[:1].lower()}{reason[1:]}") from None
    if valid.ascii_email is None:
        raise AddressError(f"{shown(text)} is not a valid email address: the part before "
                           "the @ must be ASCII (digest does not send SMTPUTF8 mail)")
    return Address(valid.ascii_email)


def normalize(text: str) -> str:
    """The key of an address as typed: `' Ann@Example.ORG\\n'` -> `'ann@example.org'`.
    Raises AddressError."""
    return parse_address(text).key


def parse_mailbox(text: str, *, local_domain: bool = False) -> tuple[str, Address]:
    """`Ann Lee <ann@example.org>`, `"Lee, Ann" <ann@example.org>` or a bare address,
    read by the same header parser as the message builder uses: (display name, address).
    Raises AddressError."""
    value = text.strip()
    if "<" not in value:
        return "", parse_address(text, local_domain=local_domain)
    try:
        header = policy.SMTP.header_factory("To", value)
        addresses = header.addresses
        groups = header.groups
    except Exception:  # the stdlib parser raises IndexError, TypeError, ... on some junk
        raise AddressError(f"{shown(text)} is not an address like "
                           "'Ann Lee <ann@example.org>'") from None
    if header.defects or len(addresses) != 1 or groups[0].display_name is not None:
        raise AddressError(f"{shown(text)} is not one address like "
                           "'Ann Lee <ann@example.org>' (quote a name with a comma)")
    mailbox = addresses[0]
    if not mailbox.username or not mailbox.domain:
        raise AddressError(f"{shown(text)} is not a valid email address: it needs a part "
                           "before and after the @-sign")
    try:
        return mailbox.display_name, parse_address(mailbox.addr_spec, local_domain=local_domain)
    except AddressError as e:
        raise AddressError(f"{shown(text)}: {e}") from None


MAX_NAME = 200  # characters of a display name: a header line has a length limit

# Bidirectional embeddings, overrides, isolates and marks: a name shown backwards.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_JOINERS = frozenset("\u200c\u200d")  # ZWNJ and ZWJ: part of how some names are spelt


def clean_name(text: str, limit: int | None = MAX_NAME) -> str:
    """A display name as digest keeps it, from any way in (the subscriber CSV and
    `subscribers import`, the recipients file, the web form): control characters,
    line and paragraph separators and other spaces become one space (a CR/LF in a name
    would start a header of its own), bidi controls and other invisible format
    characters and lone surrogates are dropped, runs of spaces become one, and the
    result is cut to `limit` characters (None: not cut)."""
    import unicodedata

    if text.isprintable():  # nothing to drop (the common case): only spaces to squeeze
        name = " ".join(text.split())
        return name if limit is None else name[:limit].rstrip()
    out = []
    for c in text:
        category = unicodedata.category(c)
        if category in ("Cc", "Zl", "Zp", "Zs"):
            out.append(" ")
        elif c in _JOINERS or category not in ("Cf", "Cs", "Co", "Cn") and c not in _BIDI:
            out.append(c)
    name = " ".join("".join(out).split())
    return name if limit is None else name[:limit].rstrip()

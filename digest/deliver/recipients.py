"""The subscriber list: `[delivery] recipients` (inline) or `recipients_file` (CSV).

The CSV has a header row with at least an `email` column; `name` and any other
columns are optional and available to templates as `{{ recipient.<column> }}`
(e.g. a `company` column fills `{{ recipient.company }}`). A bad row is reported with its
line number and skipped; it never stops a send. Every address goes through
digest.addresses (one validator, one normal form: whitespace dropped, domain lower
case and punycode, ASCII local part); addresses with the same key (they differ only
in case) are one subscriber (the first row wins).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from stat import S_ISREG

from digest.addresses import MAX_NAME, AddressError, clean_name, parse_address, parse_mailbox
from digest.config.schema import Config
from digest.errors import ConfigError
from digest.state.deliveries import Subscribers
from digest.state.store import open_readonly

_FIELD = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_Row = tuple[str, str, str, tuple[tuple[str, str], ...]]  # where, address, name, fields


@dataclass(frozen=True)
class Recipient:
    email: str  # normalised (digest.addresses): local part's case kept for the To header
    name: str = ""
    fields: tuple[tuple[str, str], ...] = field(default=())  # extra CSV columns

    @property
    def key(self) -> str:
        """The delivery-log and suppression key: the address in lower case
        (digest.addresses.Address.key)."""
        return self.email.lower()

    def values(self) -> dict[str, str]:
        """Placeholder field -> value, for substitution into the rendered issue."""
        return {**dict(self.fields), "email": self.email, "name": self.name}


@dataclass(frozen=True)
class RecipientList:
    recipients: tuple[Recipient, ...]
    problems: tuple[str, ...] = ()  # "subscribers.csv line 7: ... skipped"
    duplicates: int = 0
    source: str = ""
    # keys of the recipients that came from the subscribers table (not the configured
    # list): a send checks their status again before each message
    subscribers: frozenset[str] = frozenset()


MAX_LIST_BYTES = 500_000_000  # some millions of subscribers


def load_recipients(config: Config) -> RecipientList:
    """The configured list (`[delivery] recipients` or `recipients_file`) and, after
    it, the active subscribers of the state database (`digest subscribers`), each
    address once. Raises ConfigError only if the file can't be read."""
    listed = configured_recipients(config)

    store = open_readonly(config.state_db)
    try:
        active = Subscribers(store.conn).rows("active")
    finally:
        store.close()
    if not active:
        return listed
    keys = {r.key for r in listed.recipients}
    # Cleaned again on the way out: a name stored before names were cleaned on the
    # way in must not reach a header either.
    extra = tuple(Recipient(s.email, clean_name(s.name)) for s in active
                  if s.email.lower() not in keys)
    return RecipientList(listed.recipients + extra, listed.problems, listed.duplicates,
                         listed.source, frozenset(r.key for r in extra))


def configured_recipients(config: Config) -> RecipientList:
    """`[delivery] recipients` or `recipients_file` alone, without the subscribers
    table."""
    delivery = config.delivery
    if delivery.recipients_file:
        path = config.path(delivery.recipients_file)
        try:
            if not S_ISREG(path.stat().st_mode):
                raise ConfigError(f"[delivery] recipients_file: {path} is not a regular file")
            with open(path, "rb") as f:
                raw = f.read(MAX_LIST_BYTES + 1)
            if len(raw) > MAX_LIST_BYTES:
                raise ConfigError(f"[delivery] recipients_file: {path} is over "
                                  f"{MAX_LIST_BYTES // 1_000_000} MB; split the list")
            data = raw.decode("utf-8-sig")
        except FileNotFoundError:
            raise ConfigError(f"[delivery] recipients_file: {path} not found") from None
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"[delivery] recipients_file: cannot read {path}: {e}") from None
        return parse_csv(data, source=str(path))
    return parse_inline(delivery.recipients)


def parse_inline(entries: Sequence[str]) -> RecipientList:
    """`["a@example.com", "Ann Lee <ann@example.com>"]` (the config refuses a bad
    entry when it loads; here it is reported and skipped like a bad CSV row)."""
    rows: list[_Row] = []
    problems = []
    for i, entry in enumerate(entries):
        where = f"[delivery] recipients[{i}]"
        try:
            name, address = parse_mailbox(entry)
        except AddressError as e:
            problems.append(f"{where}: {e}; skipped")
            continue
        rows.append((where, address.email, name, ()))
    result = _collect(rows, source="[delivery] recipients")
    return RecipientList(result.recipients, tuple(problems) + result.problems,
                         result.duplicates, result.source)


def parse_csv(data: str, source: str) -> RecipientList:
    reader = csv.reader(io.StringIO(data, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return RecipientList((), (f"{source}: empty file; expected a header row 'email,name'",),
                             source=source)
    except csv.Error as e:
        raise ConfigError(f"[delivery] recipients_file: {source} line 1: {e}") from None
    columns = [c.strip().lower().replace("_", "-") for c in header]
    if "email" not in columns:
        raise ConfigError(
            f"[delivery] recipients_file: {source} line 1: no 'email' column in the header "
            f"({', '.join(header)}); the first row must name the columns, e.g. 'email,name'"
        )
    problems = []
    for column in columns:
        if column and not _FIELD.match(column):
            problems.append(f"{source} line 1: column {column!r} is not usable in templates "
                            "(use letters, digits and '-')")
    at_email, at_name = columns.index("email"), columns.index("name") if "name" in columns \
        else None
    extra = [(i, c) for i, c in enumerate(columns)
             if c not in ("email", "name") and _FIELD.match(c)]
    rows: list[_Row] = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            problems.append(f"{source} line {reader.line_num}: {e}; row skipped")
            continue
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= at_email:
            problems.append(f"{source} line {line}: no email column; row skipped")
            continue
        name = row[at_name].strip() if at_name is not None and at_name < len(row) else ""
        fields = tuple((c, row[i].strip()) for i, c in extra if i < len(row))
        rows.append((f"{source} line {line}", row[at_email], name, fields))
    result = _collect(rows, source=source)
    return RecipientList(result.recipients, tuple(problems) + result.problems,
                         result.duplicates, source)


def _collect(rows: list[_Row], source: str) -> RecipientList:
    seen: dict[str, str] = {}
    recipients = []
    problems = []
    duplicates = 0
    for where, text, name, fields in rows:
        try:
            address = parse_address(text)
        except AddressError as e:
            problems.append(f"{where}: {e}; row skipped")
            continue
        key = address.key
        if key in seen:
            duplicates += 1
            problems.append(f"{where}: {text.strip()} repeats {seen[key]}; duplicate skipped")
            continue
        seen[key] = where
        name = clean_name(name, limit=None)
        if len(name) > MAX_NAME:
            problems.append(f"{where}: name longer than {MAX_NAME} characters; shortened")
            name = clean_name(name)
        long = [k for k, v in fields if len(v) > MAX_NAME]
        if long:  # one reader's 3,000-character field would drop cards for everyone
            problems.append(f"{where}: {', '.join(long)} longer than {MAX_NAME} characters; "
                            "shortened")
        fields = tuple((k, clean_name(v)) for k, v in fields)
        recipients.append(Recipient(address.email, name, fields))
    return RecipientList(tuple(recipients), tuple(problems), duplicates, source)

"""The subscriber list: `[delivery] recipients` (inline) or `recipients_file` (CSV).

The CSV has a header row with at least an `email` column; `name` and any other
columns are optional and available to templates as `{{ recipient.<column> }}`
(e.g. a `company` column fills `{{ recipient.company }}`). A bad row is reported with its
line number and skipped; it never stops a send. Addresses that differ only in case
are one subscriber (the first row wins).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from email.utils import parseaddr

from .config import Config
from .errors import ConfigError

# A practical subset of RFC 5321: dot-atom local part, a dotted domain of LDH labels.
# Deliberately ASCII only (no SMTPUTF8) and no quoted local parts.
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"^{_LOCAL}@{_LABEL}(?:\.{_LABEL})+$")
MAX_NAME = 200
_FIELD = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class Recipient:
    email: str  # as given (case kept for the To header)
    name: str = ""
    fields: tuple[tuple[str, str], ...] = field(default=())  # extra CSV columns

    @property
    def key(self) -> str:
        """The delivery-log and suppression key: the address in lower case."""
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


def valid_address(address: str) -> bool:
    return len(address) <= 254 and bool(_ADDRESS.match(address)) and \
        len(address.partition("@")[0]) <= 64


def load_recipients(config: Config) -> RecipientList:
    """Read the configured list. Raises ConfigError only if the file can't be read."""
    delivery = config.delivery
    if delivery.recipients_file:
        path = config.path(delivery.recipients_file)
        try:
            data = path.read_text("utf-8-sig")
        except FileNotFoundError:
            raise ConfigError(f"[delivery] recipients_file: {path} not found") from None
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"[delivery] recipients_file: cannot read {path}: {e}") from None
        return parse_csv(data, source=str(path))
    return parse_inline(delivery.recipients)


def parse_inline(entries: list[str]) -> RecipientList:
    """`["a@example.com", "Ann Lee <ann@example.com>"]`."""
    rows: list[tuple[str, str, str, tuple[tuple[str, str], ...]]] = []
    for i, entry in enumerate(entries):
        name, address = parseaddr(entry)
        where = f"[delivery] recipients[{i}]"
        rows.append((where, address if address else entry, name, ()))
    return _collect(rows, source="[delivery] recipients")


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
    rows = []
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
        rows.append((f"{source} line {line}", row[at_email].strip(), name, fields))
    result = _collect(rows, source=source)
    return RecipientList(result.recipients, tuple(problems) + result.problems,
                         result.duplicates, source)


def _collect(rows: list[tuple[str, str, str, tuple[tuple[str, str], ...]]], source: str
             ) -> RecipientList:
    seen: dict[str, str] = {}
    recipients = []
    problems = []
    duplicates = 0
    for where, address, name, fields in rows:
        address = address.strip()
        if not valid_address(address):
            shown = address if address else "(empty)"
            problems.append(f"{where}: {shown!r} is not a valid email address; row skipped")
            continue
        key = address.lower()
        if key in seen:
            duplicates += 1
            problems.append(f"{where}: {address} repeats {seen[key]}; duplicate skipped")
            continue
        seen[key] = where
        name = _clean(name)
        if len(name) > MAX_NAME:
            problems.append(f"{where}: name longer than {MAX_NAME} characters; shortened")
            name = name[:MAX_NAME]
        fields = tuple((k, _clean(v)) for k, v in fields)
        recipients.append(Recipient(address, name, fields))
    return RecipientList(tuple(recipients), tuple(problems), duplicates, source)


def _clean(value: str) -> str:
    """No control characters (a CR/LF in a name would be header injection)."""
    return " ".join("".join(c if c.isprintable() else " " for c in value).split())

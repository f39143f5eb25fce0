"""`digest subscribers list|import|export`: the list of record in the state database
(see digest.state.deliveries.Subscribers).

The CSV is read row by row and written row by row: a list of 200,000 is never held
as text or as a table. Every cell an export writes that a spreadsheet would run as a
formula (it starts with `=`, `+`, `-`, `@`, a tab or a CR) gets a `'` in front, in
every column, the address too (`-bob@example.com` is a real address); an import takes
that `'` off again, so an export imports back as it was."""

from __future__ import annotations

import csv
import ipaddress
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from digest.cli.common import BadConfig, failures, get_config, out, warn
from digest.config.schema import Config

if TYPE_CHECKING:
    from digest.state.deliveries import Subscriber

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ESCAPED = frozenset((*FORMULA_START, "'"))  # what follows a `'` that escape_cell put
TIME_COLUMNS = ("created_at", "confirmed_at")
TABLE_COLUMNS = ("email", "status", "name", "source", "created_at")
TABLE_WIDTH = 40  # a name or source wider than this is cut in the table (not in CSV)


@click.group()
def subscribers() -> None:
    """The subscribers kept in the state database (merged with [delivery] recipients
    and recipients_file when sending).

    \b
    Example:
        digest subscribers import people.csv
        digest subscribers list --status active
        digest subscribers export > backup.csv
    """


@subscribers.command("list")
@click.option("--status", type=click.Choice(["pending", "active", "unsubscribed", "bounced"]),
              help="Only the subscribers in this status.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv"]), default="table",
              show_default=True, help="A table to read, or CSV to process.")
@click.pass_context
def list_(ctx: click.Context, status: str | None, fmt: str) -> None:
    """List the subscribers (all, or those in one status).

    \b
    Example:
        digest subscribers list
        digest subscribers list --status pending --format csv
    """
    if fmt == "csv":
        zones = _zones(ctx)
        _each(ctx, status, lambda rows: write_csv(rows, sys.stdout, zones=zones))
        return
    # Two passes over the cursor (column widths, then the lines): nothing is kept.
    widths = {c: len(c) for c in TABLE_COLUMNS}

    def measure(rows: Iterable[Subscriber]) -> int:
        count = 0
        for s in rows:
            count += 1
            for c, cell in zip(TABLE_COLUMNS, _table_cells(s), strict=True):
                widths[c] = max(widths[c], _width(cell))
        return count

    count = _each(ctx, status, measure)

    def write(rows: Iterable[Subscriber]) -> None:
        stdout = sys.stdout
        stdout.write(_table_line(TABLE_COLUMNS, widths))
        stdout.write(_table_line(["-" * widths[c] for c in TABLE_COLUMNS], widths))
        for s in rows:
            stdout.write(_table_line(_table_cells(s), widths))

    _each(ctx, status, write)
    out.print(f"{count} subscriber(s)")


@subscribers.command("export")
@click.pass_context
def export(ctx: click.Context) -> None:
    """Every subscriber, every column, as CSV on stdout (the consent records too, and
    the `topics` each ticked, names separated by `|`).

    \b
    Example:
        digest subscribers export > backup.csv
    """
    topics = _stored_topics(ctx)
    zones = _zones(ctx)
    _each(ctx, None, lambda rows: write_csv(rows, sys.stdout, topics, zones))


@subscribers.command("import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--source", default="import", show_default=True,
              help="Where these subscribers came from, when the file has no source column.")
@click.pass_context
def import_(ctx: click.Context, file: Path, source: str) -> None:
    """Add or update subscribers from a CSV file with an `email` column and, optionally,
    name, status (default active), source, created_at, confirmed_at (ISO 8601 times),
    confirm_ip, topics ([[topics]] names separated by `|`; empty: everything), tz or
    time_zone (an IANA zone, for [schedule] deliver = "local"; an unknown one is named
    and ignored). A bad row (an unknown topic too) is named and skipped. An address on
    the suppression list comes in unsubscribed (or bounced), never active.

    \b
    Example:
        digest subscribers import people.csv
        digest subscribers import signups.csv --source "spring fair"
    """
    # here, not at the top: `digest --help` stays fast
    from digest.state.deliveries import Subscribers
    from digest.state.store import locked_store

    config = get_config(ctx)
    topics: dict[str, str] = {}  # address key -> topics text, when the file has the column
    cells: dict[str, tuple[int, str, str]] = {}  # address key -> (line, column, zone)
    rows, columns = _read_import(file, source, _TopicColumn(file, config, topics), cells)
    zones = _import_zones(file, cells)
    with failures(), locked_store(config) as store:
        subscribers = Subscribers(store.conn)
        stored = {s.email.lower(): s for s in subscribers.each()}
        suppressed = subscribers.suppression_reasons()
        kept = []
        held = 0
        for new in rows:
            key = new.email.lower()
            before = stored.get(key)
            if before is not None and before.status in ("unsubscribed", "bounced") \
                    and new.status in ("active", "pending"):
                warn(f"{file}: {new.email} is {before.status} here; an import never "
                     "undoes that (they subscribe again themselves); skipped")
                continue
            if before is None and key in suppressed and new.status in ("active", "pending"):
                # On the list of those never to mail (unsubscribed from a configured list,
                # `digest unsubscribe`, a bounce): it comes in as what it is.
                new = replace(new, status="bounced" if suppressed[key] == "bounced"
                              else "unsubscribed")
                held += 1
            if before is not None:  # a column the file does not give keeps its value
                new = replace(new, name=new.name or before.name,
                              source=new.source if "source" in columns else before.source)
            kept.append(new)
        added, updated = subscribers.upsert(kept)
        if "topics" in columns:
            from digest.state.topics import set_topics

            set_topics(store.conn, ((s.email, topics.get(s.email.lower(), "")) for s in kept))
        if zones:
            from digest.state.zones import set_zones

            set_zones(store.conn, {s.email.lower(): zones[s.email.lower()] for s in kept
                                   if s.email.lower() in zones})
    note = f"; {held} of them on the suppression list: imported as unsubscribed or " \
        "bounced, not mailed" if held else ""
    out.print(f"{added} added, {updated} updated from {file}{note}")


class _TopicColumn:
    """An import's `topics` cells: only `[[topics]]` names; an unknown one is warned
    about with its line and the row skipped."""

    def __init__(self, file: Path, config: Config, found: dict[str, str]) -> None:
        self.file, self.config, self.found = file, config, found

    def take(self, email: str, row: dict[str, str], line: int) -> bool:
        from digest.addresses import shown
        from digest.curate.topics import read_topics, topics_text

        known, unknown = read_topics(row.get("topics", ""), self.config)
        if unknown:
            names = ", ".join(t.name for t in self.config.topics) or "none are configured"
            warn(f"{self.file} line {line}: topic {shown(unknown[0], 60)} is not one of "
                 f"[[topics]] ({names}); row skipped")
            return False
        self.found[email.lower()] = topics_text(known)
        return True


def _stored_topics(ctx: click.Context) -> dict[str, str]:
    """Address key -> topics text for the export: only names still in [[topics]] (as
    the send reads them), so the file imports again after a topic was removed."""
    from digest.curate.topics import read_topics, topics_text
    from digest.state.store import open_readonly
    from digest.state.topics import all_topics

    config = get_config(ctx)
    with failures():
        store = open_readonly(config.state_db)
    try:
        stored = all_topics(store.conn)
    finally:
        store.close()
    return {key: topics_text(read_topics(text, config)[0]) for key, text in stored.items()}


ZONE_COLUMNS = ("tz", "time_zone")


def _import_zones(file: Path, cells: dict[str, tuple[int, str, str]]) -> dict[str, str]:
    """Address key -> time zone, from the `tz` or `time_zone` cells of the rows the
    import keeps (_read_import gathers them: a row it skips, a second one of an
    address too, gives none); an empty cell keeps the zone a subscriber has, an
    unknown name is warned about and ignored."""
    from digest.addresses import shown
    from digest.deliver.zones import clean_zone

    found: dict[str, str] = {}
    for key, (line, column, cell) in sorted(cells.items(), key=lambda c: c[1][0]):
        zone = clean_zone(cell)
        if zone:
            found[key] = zone
        else:
            warn(f"{file} line {line}: {column} {shown(cell, 60)} is not a time zone; use "
                 "an IANA name like Asia/Kathmandu (ignored: the newsletter's zone "
                 "applies)")
    return found


def _zones(ctx: click.Context) -> dict[str, str]:
    """Subscriber key -> time zone, for the export's time_zone column."""
    from digest.state.store import open_readonly
    from digest.state.zones import subscriber_zones

    config = get_config(ctx)
    with failures():
        store = open_readonly(config.state_db)
    try:
        return subscriber_zones(store.conn)
    finally:
        store.close()


def _read_import(file: Path, source: str, topics: _TopicColumn | None = None,
                 zones: dict[str, tuple[int, str, str]] | None = None
                 ) -> tuple[list[Subscriber], set[str]]:
    """The file's good rows (each bad one warned about and skipped) and its columns;
    `zones` gets each good row's non-empty `tz` (else `time_zone`) cell."""
    from digest.addresses import AddressError, clean_name, parse_address, shown
    from digest.state.deliveries import SUBSCRIBER_STATES, Subscriber

    rows: list[Subscriber] = []
    seen: set[str] = set()
    try:
        with open(file, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            try:
                header = next(reader, None)
            except csv.Error as e:
                raise BadConfig(f"{file} line 1: {e}") from None
            fields = [unescape_cell(h).strip().lower() for h in header or []]
            if "email" not in fields:
                raise BadConfig(f"{file}: no `email` column in the header row")
            columns = set(fields)
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    break
                except csv.Error as e:  # e.g. a field over the csv module's 131,072
                    warn(f"{file} line {reader.line_num}: {e}; row skipped")
                    continue
                line = reader.line_num
                if not any(c.strip() for c in cells):
                    continue
                row = {k: unescape_cell(v).strip() for k, v in zip(fields, cells, strict=False)
                       if k}
                try:
                    email = parse_address(row.get("email", "")).email
                except AddressError as e:
                    warn(f"{file} line {line}: {e}; skipped")
                    continue
                status = (row.get("status") or "active").lower()
                if status not in SUBSCRIBER_STATES:
                    warn(f"{file} line {line}: status {shown(status)} is not one of "
                         f"{', '.join(SUBSCRIBER_STATES)}; skipped")
                    continue
                try:
                    times = {c: consent_time(row.get(c, ""), c) for c in TIME_COLUMNS}
                    ip = consent_ip(row.get("confirm_ip", ""))
                except ValueError as e:
                    warn(f"{file} line {line}: {e}; row skipped")
                    continue
                if email.lower() in seen:
                    warn(f"{file} line {line}: {email} is listed before; skipped")
                    continue
                if topics is not None and "topics" in columns and \
                        not topics.take(email, row, line):
                    continue
                seen.add(email.lower())
                if zones is not None:
                    _zone_cell(zones, email.lower(), row, line)
                rows.append(Subscriber(email, status, clean_name(row.get("name", "")),
                                       clean_name(row.get("source", "")) or source,
                                       times["created_at"] or "", "", times["confirmed_at"],
                                       ip))
    except UnicodeDecodeError as e:
        raise BadConfig(f"{file}: not UTF-8 ({e.reason} at byte {e.start} of a "
                        "block); save it as UTF-8 CSV") from None
    except OSError as e:
        raise BadConfig(f"{file}: cannot read it: {e.strerror}") from None
    return rows, columns


def _zone_cell(zones: dict[str, tuple[int, str, str]], key: str, row: dict[str, str],
               line: int) -> None:
    column = next((c for c in ZONE_COLUMNS if c in row), None)
    if column is not None and row[column]:
        zones[key] = (line, column, row[column])


def consent_time(value: str, column: str = "") -> str | None:
    """An ISO 8601 time as the database keeps it (UTC, milliseconds; one without a
    zone is read as UTC), or None for an empty cell. Raises ValueError."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        when = None
    if when is None or not 1900 <= when.year <= 9999:
        raise ValueError(f"{column or 'a consent time'} {_quoted(value)} is not an ISO 8601 "
                         "time like 2026-11-20T10:00:00+00:00")
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="milliseconds")


def consent_ip(value: str) -> str | None:
    """An IPv4 or IPv6 address in its usual spelling, or None for an empty cell.
    Raises ValueError."""
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"confirm_ip {_quoted(value)} is not an IP address like 192.0.2.7 "
                         "or 2001:db8::7") from None


def _quoted(value: str) -> str:
    from digest.addresses import shown

    return shown(value, 60)


def escape_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: `'` before one that starts like a formula
    (and before one that starts with `'` and then such a character, so that
    unescape_cell gives back exactly the value)."""
    if value[:1] in _ESCAPED and (value[0] != "'" or value[1:2] in _ESCAPED):
        return "'" + value
    return value


def unescape_cell(value: str) -> str:
    """The value escape_cell was given."""
    if value[:1] == "'" and value[1:2] in _ESCAPED:
        return value[1:]
    return value


def write_csv(rows: Iterable[Subscriber], stream: TextIO,
              topics: Mapping[str, str] | None = None,
              zones: Mapping[str, str] | None = None) -> None:
    """The header and one line per subscriber, each cell through escape_cell; with
    `topics` (address key -> topics text) a `topics` column, with `zones` (key -> time
    zone) a `time_zone` column, last and in that order."""
    from digest.state.deliveries import SUBSCRIBER_COLUMNS

    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(SUBSCRIBER_COLUMNS + (("topics",) if topics is not None else ())
                    + (("time_zone",) if zones is not None else ()))
    for s in rows:
        cells = [escape_cell(getattr(s, c) or "") for c in SUBSCRIBER_COLUMNS]
        if topics is not None:
            cells.append(escape_cell(topics.get(s.email.lower(), "")))
        if zones is not None:
            cells.append(escape_cell(zones.get(s.email.lower(), "")))
        writer.writerow(cells)


def _each(ctx: click.Context, status: str | None, use):  # type: ignore[no-untyped-def]
    """`use(rows)` over the subscribers, read from the database as they are used."""
    # here, not at the top: `digest --help` stays fast
    from digest.state.deliveries import Subscribers
    from digest.state.store import open_readonly

    config = get_config(ctx)
    with failures():
        store = open_readonly(config.state_db)
    try:
        return use(Subscribers(store.conn).each(status))
    finally:
        store.close()


def _table_cells(s: Subscriber) -> list[str]:
    from digest.addresses import clean_name

    # A name kept before names were cleaned could still hold a terminal's escape codes.
    return [clean_name(str(getattr(s, c) or ""), TABLE_WIDTH) for c in TABLE_COLUMNS]


def _width(text: str) -> int:
    from rich.cells import cell_len

    return len(text) if text.isascii() else cell_len(text)


def _table_line(cells: Iterable[str], widths: dict[str, int]) -> str:
    parts: Iterator[str] = (cell + " " * (widths[c] - _width(cell))
                            for c, cell in zip(TABLE_COLUMNS, cells, strict=True))
    return "  ".join(parts).rstrip() + "\n"


COMMANDS = [subscribers]

"""`digest subscribers list|import|export`: the list of record in the state database
(see digest.state.deliveries.Subscribers)."""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import replace
from pathlib import Path

import click
from rich.table import Table

from digest.cli.common import BadConfig, failures, get_config, out, warn


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
    rows = _rows(ctx, status)
    if fmt == "csv":
        sys.stdout.write(_csv(rows))
        return
    table = Table(show_edge=False, header_style="bold")
    for column in ("email", "status", "name", "source", "created_at"):
        table.add_column(column)
    for s in rows:
        table.add_row(s.email, s.status, s.name, s.source, s.created_at)
    out.print(table)
    out.print(f"{len(rows)} subscriber(s)")


@subscribers.command("export")
@click.pass_context
def export(ctx: click.Context) -> None:
    """Every subscriber, every column, as CSV on stdout (the consent records too).

    \b
    Example:
        digest subscribers export > backup.csv
    """
    sys.stdout.write(_csv(_rows(ctx, None)))


@subscribers.command("import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--source", default="import", show_default=True,
              help="Where these subscribers came from, when the file has no source column.")
@click.pass_context
def import_(ctx: click.Context, file: Path, source: str) -> None:
    """Add or update subscribers from a CSV file with an `email` column and, optionally,
    name, status (default active), source, created_at, confirmed_at, confirm_ip. A bad
    row is named and skipped.

    \b
    Example:
        digest subscribers import people.csv
        digest subscribers import signups.csv --source conference-2026
    """
    # here, not at the top: `digest --help` stays fast
    from digest.addresses import AddressError, parse_address
    from digest.state.deliveries import SUBSCRIBER_STATES, Subscriber, Subscribers
    from digest.state.store import locked_store

    config = get_config(ctx)
    try:
        text = file.read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise BadConfig(f"{file}: cannot read it as UTF-8 CSV: {e}") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames or "email" not in [f.strip().lower() for f in reader.fieldnames]:
        raise BadConfig(f"{file}: no `email` column in the header row")
    columns = {f.strip().lower() for f in reader.fieldnames}
    rows: list[Subscriber] = []
    seen: set[str] = set()
    for line, raw in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()
               if isinstance(v, str)}
        try:
            email = parse_address(row.get("email", "")).email
        except AddressError as e:
            warn(f"{file} line {line}: {e}; skipped")
            continue
        status = (row.get("status") or "active").lower()
        if status not in SUBSCRIBER_STATES:
            warn(f"{file} line {line}: status {status!r} is not one of "
                 f"{', '.join(SUBSCRIBER_STATES)}; skipped")
            continue
        if email.lower() in seen:
            warn(f"{file} line {line}: {email} is listed before; skipped")
            continue
        seen.add(email.lower())
        rows.append(Subscriber(email, status, row.get("name", "")[:200],
                               row.get("source") or source, row.get("created_at", ""),
                               "", row.get("confirmed_at") or None,
                               row.get("confirm_ip") or None))
    with failures(), locked_store(config) as store:
        subscribers = Subscribers(store.conn)
        stored = {s.email.lower(): s for s in subscribers.rows()}
        kept = []
        for new in rows:
            before = stored.get(new.email.lower())
            if before is not None and before.status in ("unsubscribed", "bounced") \
                    and new.status in ("active", "pending"):
                warn(f"{file}: {new.email} is {before.status} here; an import never "
                     "undoes that (they subscribe again themselves); skipped")
                continue
            if before is not None:  # a column the file does not give keeps its value
                new = replace(new, name=new.name or before.name,
                              source=new.source if "source" in columns else before.source)
            kept.append(new)
        added, updated = subscribers.upsert(kept)
    out.print(f"{added} added, {updated} updated from {file}")


def _rows(ctx: click.Context, status: str | None) -> list:  # type: ignore[type-arg]
    # here, not at the top: `digest --help` stays fast
    from digest.state.deliveries import Subscribers
    from digest.state.store import open_readonly

    config = get_config(ctx)
    with failures():
        store = open_readonly(config.state_path)
    try:
        return Subscribers(store.conn).rows(status)
    finally:
        store.close()


def _csv(rows: list) -> str:  # type: ignore[type-arg]
    # here, not at the top: `digest --help` stays fast
    from digest.state.deliveries import SUBSCRIBER_COLUMNS

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SUBSCRIBER_COLUMNS)
    for s in rows:
        writer.writerow([_cell(getattr(s, c) or "") if c in ("name", "source")
                         else getattr(s, c) or "" for c in SUBSCRIBER_COLUMNS])
    return buffer.getvalue()


def _cell(value: str) -> str:
    """A name or source a spreadsheet will not run as a formula (an address is left
    as it is: `-bob@example.com` is a real one, and must import back the same)."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


COMMANDS = [subscribers]

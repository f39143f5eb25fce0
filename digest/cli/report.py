"""`digest report [ISSUE]`: the audit of one issue, as text to read, or CSV or JSON to
keep (digest.state.report reads it; nothing is written).

Text escapes every control character (a reply or an address that came in from outside
cannot move the cursor or rewrite a line); CSV puts a `'` before any cell a spreadsheet
would run as a formula (`=`, `+`, `-`, `@`, a tab or a CR); JSON is ASCII. Recipient
rows are written as they are read, in every format."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

import click

from digest.cli.common import failures, get_config
from digest.errors import DeliveryError

if TYPE_CHECKING:
    from digest.state.report import Event, IssueReport, RecipientRow
    from digest.state.store import Store

TOP_DOMAINS = 20  # in text; CSV and JSON have all
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = ("issue", "email", "address", "domain", "variant", "state", "attempts",
               "updated_at", "last_reply", "message_id", "bounces", "complained_at",
               "unsubscribed_at")


def shown(text: str) -> str:
    """`text` with every control, format or line/paragraph separator character written
    as an escape (`\\x1b`, `\\u202e`): one line on the terminal, as it was."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else
                   f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"
                   if ord(c) < 0x10000 else f"\\U{ord(c):08x}" for c in text)


_FORMULA = frozenset(FORMULA_START)


def safe_cell(value: object) -> str:
    text = str(value)
    return "'" + text if text[:1] in _FORMULA else text


@contextmanager
def _opened(ctx: click.Context, number: int | None) -> Iterator[tuple[Store, IssueReport]]:
    from digest.state.report import issue_report, pick_issue
    from digest.state.store import open_readonly

    config = get_config(ctx)
    with failures():
        store = open_readonly(config.state_db)
        try:
            issue = pick_issue(store, number)
            if issue is None:
                raise DeliveryError(f"issue #{number} does not exist; `digest status` lists "
                                    "the issues" if number is not None else
                                    "no issue built yet: nothing to report")
            yield store, issue_report(store, issue)
        finally:
            store.close()


@click.command()
@click.argument("issue", type=int, required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "csv", "json"]), default="text",
              show_default=True, help="Text to read, or CSV (a row per recipient) or JSON "
                                      "(everything) to keep.")
@click.pass_context
def report(ctx: click.Context, issue: int | None, fmt: str) -> None:
    """The audit of ISSUE (default: the latest issue): who got which variant and when,
    counts by state, variant and recipient domain, and the bounces, complaints and
    unsubscribes traced to it. Reads the state database only.

    \b
    Example:
        digest report                   # the latest issue, to read
        digest report 12 --format csv > issue-12.csv
        digest report 12 --format json > issue-12.json
    """
    from digest.state.report import recipients

    with _opened(ctx, issue) as (store, found):
        rows = recipients(store.conn, found.issue.number)
        write = {"text": write_text, "csv": write_csv, "json": write_json}[fmt]
        write(found, rows, sys.stdout)


# Text ---------------------------------------------------------------------------------

def _states(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {state}" for state, n in counts.items()) or "none"


def _event_line(e: Event) -> str:
    parts = [e.kind, e.email, e.at] + ([e.detail] if e.detail else [])
    return "  " + shown("  ".join(parts)) + "\n"


def write_text(found: IssueReport, rows: Iterator[RecipientRow], out: TextIO) -> None:
    i, c = found.issue, found.counts
    out.write(shown(f"issue #{i.number} \"{i.subject}\" ({i.date}): {i.state}") + "\n")
    if found.paused:
        out.write("  " + shown(found.paused) + "\n")
    out.write(f"recipients: {c.recipients}\n")
    out.write(f"by state: {_states(c.by_state)}\n")
    out.write(f"by variant: {shown(_states(c.by_variant))}\n")
    top = list(c.by_domain.items())[:TOP_DOMAINS]
    more = f", the {len(top)} largest" if len(c.by_domain) > len(top) else ""
    out.write(f"by domain ({len(c.by_domain)} domain(s){more}):\n")
    width = max((len(d) for d, _ in top), default=0)
    for domain, states in top:
        out.write(f"  {shown(domain).ljust(width)}  {sum(states.values()):>7}  "
                  f"{_states(states)}\n")
    b = found.bounce_counts
    out.write(f"bounces: {sum(b.values())} ({_states(b)}); refused by the server at send "
              f"time: {c.by_state.get('failed', 0)} (state failed)\n")
    for e in found.bounces:
        out.write(_event_line(e))
    out.write(f"complaints: {len(found.complaints)}\n")
    for e in found.complaints:
        out.write(_event_line(e))
    u = found.unsubscribe_counts
    out.write(f"unsubscribes: {len(found.unsubscribes)}"
              + (f" ({shown(_states(u))})" if u else "") + "\n")
    for e in found.unsubscribes:
        out.write(_event_line(e))
    out.write("recipients (address, variant, state, attempts, when, last reply):\n")
    for r in rows:
        out.write("  " + shown(f"{r.address}  {r.variant}  {r.state}  {r.attempts}  "
                               f"{r.updated_at}  {r.last_reply}".rstrip()) + "\n")


# CSV ----------------------------------------------------------------------------------

def _by_email(events: list[Event]) -> dict[str, list[Event]]:
    found: dict[str, list[Event]] = {}
    for e in events:
        found.setdefault(e.email, []).append(e)
    return found


def write_csv(found: IssueReport, rows: Iterator[RecipientRow], out: TextIO) -> None:
    """A row per recipient; the events traced to the issue in its last three columns."""
    bounces, complaints = _by_email(found.bounces), _by_email(found.complaints)
    unsubscribes = _by_email(found.unsubscribes)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    number = found.issue.number
    for r in rows:
        cells: tuple[Any, ...] = (
            number, r.email, r.address, r.domain, r.variant, r.state, r.attempts,
            r.updated_at, r.last_reply, r.message_id,
            " ".join(e.kind for e in bounces.get(r.email, ())),
            " ".join(e.at for e in complaints.get(r.email, ())),
            " ".join(e.at for e in unsubscribes.get(r.email, ())))
        writer.writerow([safe_cell(cell) for cell in cells])


# JSON ---------------------------------------------------------------------------------

def _event(e: Event) -> dict[str, str]:
    return {"email": e.email, "kind": e.kind, "at": e.at, "detail": e.detail}


def write_json(found: IssueReport, rows: Iterator[RecipientRow], out: TextIO) -> None:
    """One JSON object; the recipients array is written row by row."""
    i, c = found.issue, found.counts
    head = {
        "issue": {"number": i.number, "subject": i.subject, "date": i.date,
                  "state": i.state, "created_at": i.created_at, "paused": found.paused},
        "counts": {"recipients": c.recipients, "by_state": c.by_state,
                   "by_variant": c.by_variant, "by_domain": c.by_domain,
                   "bounces": found.bounce_counts, "complaints": len(found.complaints),
                   "unsubscribes": found.unsubscribe_counts},
        "bounces": [_event(e) for e in found.bounces],
        "complaints": [_event(e) for e in found.complaints],
        "unsubscribes": [_event(e) for e in found.unsubscribes],
    }
    out.write(json.dumps(head, indent=1)[:-2] + ',\n "recipients": [')
    first = True
    for r in rows:
        out.write(("\n  " if first else ",\n  ") + json.dumps({
            "email": r.email, "address": r.address, "domain": r.domain,
            "variant": r.variant, "state": r.state, "attempts": r.attempts,
            "updated_at": r.updated_at, "last_reply": r.last_reply,
            "message_id": r.message_id}))
        first = False
    out.write("\n ]\n}\n")


COMMANDS = (report,)

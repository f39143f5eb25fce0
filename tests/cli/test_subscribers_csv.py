"""`digest subscribers` CSV under attack (issue 22, items 9, 11, 13 and 14): formula
cells escaped on export in every column and read back on import, consent times and IPs
validated, a giant field named in one line, suppressed addresses kept suppressed."""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

import pytest

from tests.helpers import (
    run,
    secret,  # noqa: F401 - the autouse secret fixture
)
from tests.send_project import project
from tests.smtp_server import Recorder, SmtpServer

FORMULAS = ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "'=already"]


def state(tmp_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(tmp_path / ".digest" / "state.db")


def imported(config: Path, tmp_path: Path, text: str, *, name: str = "people.csv",
             expect: int = 0) -> str:
    path = tmp_path / name
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    result = run(config, "subscribers", "import", str(path), expect=expect)
    assert "Traceback" not in result.output
    return result.output


def exported(config: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(run(config, "subscribers", "export",
                                               expect=0).output, newline="")))


def test_every_formula_looking_cell_is_escaped_and_reads_back(built: Path,
                                                             tmp_path: Path) -> None:
    config = project(built, tmp_path, 1, emails=[])
    imported(config, tmp_path, "email,name\n-bob@example.com,Bob\n+plus@example.com,=x\n")
    # Rows an older digest let in (any string as a time or IP), written straight to the
    # state file: the export must still not hand a spreadsheet a formula.
    with state(tmp_path) as db:
        db.execute("INSERT INTO subscribers (email, address, name, status, source, "
                   "created_at, updated_at, confirmed_at, confirm_ip) VALUES "
                   "(?, ?, ?, 'active', ?, ?, ?, ?, ?)",
                   ("=cmd@example.com", "=cmd@example.com", "@name", "+source",
                    "=HYPERLINK(\"http://x\")", "-2026", "+1", "=1+2"))
    rows = exported(config)
    cells = [v for r in rows for v in r.values()]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")], cells
    by_email = {r["email"]: r for r in rows}
    legacy = by_email["'=cmd@example.com"]
    assert legacy["created_at"] == "'=HYPERLINK(\"http://x\")"
    assert legacy["updated_at"] == "'-2026" and legacy["confirmed_at"] == "'+1"
    assert legacy["confirm_ip"] == "'=1+2" and legacy["source"] == "'+source"
    assert by_email["'-bob@example.com"]["name"] == "Bob"
    assert by_email["'+plus@example.com"]["name"] == "'=x"

    # Read back (the good rows): the escaping comes off, nothing changes.
    with state(tmp_path) as db:
        db.execute("DELETE FROM subscribers WHERE email = '=cmd@example.com'")
    text = run(config, "subscribers", "export", expect=0).output
    again = imported(config, tmp_path, text, name="back.csv")
    assert "0 added, 2 updated" in again
    with state(tmp_path) as db:
        names = dict(db.execute("SELECT address, name FROM subscribers").fetchall())
    assert names == {"-bob@example.com": "Bob", "+plus@example.com": "=x"}


@pytest.mark.parametrize("value", FORMULAS + ["plain", "'plain", "''", "'"])
def test_escaping_is_undone_exactly(value: str) -> None:
    from digest.cli.subscribers import escape_cell, unescape_cell

    assert unescape_cell(escape_cell(value)) == value
    assert escape_cell(value)[:1] not in ("=", "+", "-", "@", "\t", "\r")


@pytest.mark.parametrize(("column", "value", "said"), [
    ("confirmed_at", "yesterday", "confirmed_at 'yesterday' is not an ISO 8601 time"),
    ("confirmed_at", "=1+1", "confirmed_at '=1+1' is not an ISO 8601 time"),
    ("created_at", "2026-13-45", "created_at '2026-13-45' is not an ISO 8601 time"),
    ("confirm_ip", "999.1.1.1", "confirm_ip '999.1.1.1' is not an IP address"),
    ("confirm_ip", "=cmd|' /C calc'!A0", "confirm_ip \"=cmd|' /C calc'!A0\" is not an IP"),
])
def test_consent_times_and_ips_are_checked_on_import(built: Path, tmp_path: Path,
                                                     column: str, value: str,
                                                     said: str) -> None:
    config = project(built, tmp_path, 1, emails=[])
    cell = '"' + value.replace('"', '""') + '"'
    output = imported(config, tmp_path, f"email,{column}\nbad@example.com,{cell}\n"
                                        f"good@example.com,\n")
    lines = [line for line in output.splitlines() if "bad@" in line or "line 2" in line]
    assert len(lines) == 1 and f"people.csv line 2: {said}" in lines[0], output
    assert "row skipped" in lines[0]
    assert "1 added" in output
    assert [r["email"] for r in exported(config)] == ["good@example.com"]


def test_consent_times_and_ips_are_kept_in_one_spelling(built: Path, tmp_path: Path) -> None:
    config = project(built, tmp_path, 1, emails=[])
    imported(config, tmp_path, "email,created_at,confirmed_at,confirm_ip\n"
                               "a@example.com,2026-11-20,2026-11-20T18:00:00+08:00,"
                               "2001:DB8:0:0::7\n")
    (row,) = exported(config)
    assert row["created_at"] == "2026-11-20T00:00:00.000+00:00"
    assert row["confirmed_at"] == "2026-11-20T10:00:00.000+00:00"
    assert row["confirm_ip"] == "2001:db8::7"


def test_a_field_over_the_csv_limit_is_one_line(built: Path, tmp_path: Path) -> None:
    config = project(built, tmp_path, 1, emails=[])
    output = imported(config, tmp_path, "email,name\nbig@example.com," + "x" * 140_000 +
                      "\nafter@example.com,After\n")
    assert "people.csv line 2: field larger than field limit (131072); row skipped" in \
        " ".join(output.split())
    assert "1 added" in output
    assert [r["email"] for r in exported(config)] == ["after@example.com"]


def test_suppressed_addresses_import_suppressed(built: Path, tmp_path: Path) -> None:
    recorder = Recorder()
    with SmtpServer(recorder) as smtp:
        config = project(built, tmp_path, smtp.port, emails=[])
        run(config, "unsubscribe", "gone@example.com", expect=0)
        output = imported(config, tmp_path, "email,name,status\ngone@example.com,Gone,active\n"
                                            "new@example.com,New,active\n")
        said = " ".join(output.split())
        assert "2 added, 0 updated" in said
        assert "1 of them on the suppression list: imported as unsubscribed or bounced, " \
               "not mailed" in said
        statuses = {r["email"]: r["status"] for r in exported(config)}
        assert statuses == {"gone@example.com": "unsubscribed", "new@example.com": "active"}
        active = run(config, "subscribers", "list", "--status", "active", "--format", "csv",
                     expect=0).output
        assert "gone@" not in active
        run(config, "send", expect=0)
    assert [m.rcpt_tos for m in recorder.messages] == [["new@example.com"]]


def test_list_streams_an_aligned_table(built: Path, tmp_path: Path) -> None:
    config = project(built, tmp_path, 1, emails=[])
    imported(config, tmp_path, "email,name,created_at\n"
                               "ann@example.com,Ann 李,2026-11-01T00:00:00Z\n"
                               "bartholomew.long@example.com,\x1b[31mB,2026-11-02T00:00:00Z\n")
    lines = run(config, "subscribers", "list", expect=0).output.splitlines()
    assert lines[0].split() == ["email", "status", "name", "source", "created_at"]
    assert lines[1].startswith("-" * len("bartholomew.long@example.com") + "  ")
    assert lines[2].startswith("ann@example.com" + " " * 15 + "active")
    assert "\x1b" not in "".join(lines)
    assert lines[-1] == "2 subscriber(s)"

"""`digest state copy`: a SQLite state file, every table of it (articles, issues, the
delivery log, subscribers, the suppression list, bounces, the caches ...), copied into
an empty PostgreSQL database, in one transaction, then counted on both sides.

The file is migrated first (so both have this digest's schema) and held under its
state lock throughout, so no command changes it while it is read. The target must be
empty: a copy never merges into, or overwrites, a state that is in use.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digest.errors import StateError
from digest.state.backend import check_url, describe
from digest.state.lock import state_lock
from digest.state.migrations import schema_version
from digest.state.store import open_store

# Parents before children (foreign keys are checked row by row); any other table
# (one a later migration adds) follows in name order.
ORDER = ("meta", "feeds", "articles", "issues", "issue_articles", "deliveries",
         "suppressions", "subscribers", "confirmations", "bounces", "pages", "images",
         "rate_limits")
BATCH = 1000


@dataclass(frozen=True)
class Copied:
    table: str
    rows: int


def copy_state(source: Path, url: str, lock_timeout: float) -> list[Copied]:
    """Copy the SQLite state at `source` into the empty PostgreSQL database at `url`;
    the tables and their row counts, checked equal on both sides."""
    from digest.state import postgres

    check_url(url)
    if not source.exists():
        raise StateError(f"no state database at {source} to copy; check [state] path")
    with state_lock(source, lock_timeout):
        open_store(source).close()  # migrated to this digest's schema
        target = postgres.connect(url, pooled=False)
        try:
            _check_empty(target, url)
            open_store(url).close()  # the schema, made by the same migrations
            src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
            try:
                return _copy(src, target, url)
            finally:
                src.close()
        finally:
            target.close()


def _check_empty(conn: Any, url: str) -> None:
    tables = [r[0] for r in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = "
        "current_schema() ORDER BY table_name").fetchall()]
    if tables or schema_version(conn):
        raise StateError(
            f"PostgreSQL database {describe(url)} is not empty (it has {', '.join(tables[:5])}"
            f"{' ...' if len(tables) > 5 else ''}); copy into a new, empty database "
            "(createdb digest), never over a state in use")


def _copy(src: sqlite3.Connection, dst: Any, url: str) -> list[Copied]:
    import psycopg

    theirs = _columns(dst.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema()").fetchall())
    ours = {name: [r[1] for r in src.execute(f'PRAGMA table_info("{name}")')]
            for (name,) in src.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%'")}
    tables = sorted((t for t in ours if t in theirs),
                    key=lambda t: (ORDER.index(t) if t in ORDER else len(ORDER), t))
    copied = []
    dst.execute("BEGIN IMMEDIATE")
    try:
        dst.execute("DELETE FROM meta")  # the file's identity, not the new one
        for table in tables:
            columns = [c for c in ours[table] if c in theirs[table]]
            names = ", ".join(f'"{c}"' for c in columns)
            marks = ", ".join("?" * len(columns))
            insert = f'INSERT INTO "{table}" ({names}) VALUES ({marks})'
            try:
                for rows in _batches(src.execute(f'SELECT {names} FROM "{table}"')):
                    dst.executemany(insert, rows)
            except psycopg.IntegrityError as e:
                raise StateError(
                    f"cannot copy table {table} to {describe(url)}: {str(e).splitlines()[0]}; "
                    "run `digest doctor` on the file first, then copy again into a new "
                    "database") from None
            _advance_identity(dst, table, columns)
            copied.append(Copied(table, int(src.execute(
                f'SELECT count(*) FROM "{table}"').fetchone()[0])))
        for entry in copied:
            found = int(dst.execute(f'SELECT count(*) FROM "{entry.table}"').fetchone()[0])
            if found != entry.rows:
                raise StateError(
                    f"copy of table {entry.table} to {describe(url)} has {found} rows, the "
                    f"file {entry.rows}; nothing was kept: run the copy again")
    except BaseException:
        if dst.in_transaction:
            dst.execute("ROLLBACK")
        raise
    dst.execute("COMMIT")
    return copied


def _columns(rows: list[Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for table, column in rows:
        found.setdefault(table, []).append(column)
    return found


def _batches(cursor: sqlite3.Cursor) -> Iterator[list[tuple[Any, ...]]]:
    while rows := cursor.fetchmany(BATCH):
        yield rows


def _advance_identity(dst: Any, table: str, columns: list[str]) -> None:
    """A self-numbering column (confirmations.id) given its values by the copy: its
    sequence continues after the highest, so the next row does not collide."""
    for column in columns:
        row = dst.execute("SELECT pg_get_serial_sequence(?, ?)", (f'"{table}"', column)).fetchone()
        if row and row[0]:
            dst.execute(f'SELECT setval(?, COALESCE((SELECT max("{column}") FROM "{table}"), 0) '
                        "+ 1, false)", (row[0],))

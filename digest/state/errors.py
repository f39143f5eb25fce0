"""SQLite errors from the state database, turned into one-line StateErrors that say
what went wrong and what to do, without losing anyone's data.

Two kinds must never be confused:

- *cannot write* (a read-only file or mount, a full disk, a folder that cannot be
  opened): the database is fine; fix the disk and run the command again;
- *damaged* (not a database, a malformed page): `digest doctor` checks it and writes a
  repaired copy that keeps the suppression list and the delivery log.

Neither advice is ever "delete it": that would throw both away.

`TranslatingConnection` applies this to every query on the state database, wherever in
the code it runs, so a failing write in the middle of `collect` reads like a failing
open. Integrity errors (a UNIQUE constraint) are left alone: they are our bugs.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from digest.errors import StateError

DAMAGED = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
READ_ONLY = (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM)


def damaged(path: Path | str | None, detail: str) -> StateError:
    return StateError(
        f"state database {_name(path)} is damaged ({detail}); run `digest doctor` to check "
        "it and write a repaired copy that keeps the suppression list and the delivery log")


def newer_schema(path: Path | str | None, version: int, expected: int) -> StateError:
    return StateError(
        f"state database {_name(path)} is at schema {version}, newer than this digest "
        f"understands ({expected}); upgrade digest")


def first_problem(report: list[str]) -> str:
    """One line out of what `PRAGMA integrity_check` / `quick_check` returned."""
    lines = [line.strip() for row in report for line in row.splitlines()
             if line.strip() and not line.startswith("***")]
    if not lines:
        return "no details"
    return lines[0] + (f" (and {len(lines) - 1} more)" if len(lines) > 1 else "")


def state_error(error: sqlite3.Error, path: Path | None) -> StateError | None:
    """The StateError for a failure of the database or the disk under it; None for
    anything else (a constraint, a bad query: a bug, which should say so)."""
    code = (getattr(error, "sqlite_errorcode", None) or 0) & 0xFF
    detail = str(error)
    name = _name(path)
    folder = path.parent if path else "its folder"
    if code in DAMAGED:
        return damaged(path, detail)
    if code == sqlite3.SQLITE_CANTOPEN and path and path.parent.is_dir() \
            and not os.access(path.parent, os.W_OK):  # a read-only mount, even for root
        code = sqlite3.SQLITE_READONLY
    if code in READ_ONLY:
        return StateError(
            f"cannot write state database {name}: it or its folder is read-only ({detail}); "
            f"make {folder} writable, or point [state] path at a writable folder "
            "(the database itself is fine: keep it)")
    if code == sqlite3.SQLITE_FULL:
        return StateError(
            f"cannot write state database {name}: the disk is full ({detail}); free some "
            "space on it and run the command again (the database itself is fine: keep it)")
    if code == sqlite3.SQLITE_CANTOPEN:
        return StateError(
            f"cannot open state database {name} ({detail}); check that {folder} exists and "
            "this user may read and write it, or set [state] path")
    if code == sqlite3.SQLITE_IOERR:
        return StateError(
            f"cannot read or write state database {name} ({detail}); check the disk it is "
            "on (full, read-only or failing) and run the command again")
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return StateError(
            f"state database {name} is busy ({detail}): another program is writing to it; "
            "try again when it has finished")
    return None


@contextmanager
def translated(path: Path | None, cursor: sqlite3.Cursor | None = None) -> Iterator[None]:
    """Raise the StateError for a database or disk failure in the block. The failed
    `cursor` is closed first: the error's traceback keeps it alive, and its statement
    would keep the database file open after the connection is closed."""
    try:
        yield
    except sqlite3.Error as e:
        error = state_error(e, path)
        if error is None:
            raise
        if cursor is not None:
            cursor.close()
        raise error from None


def _name(path: Path | str | None) -> str:
    return str(path) if path else "(in memory)"


class TranslatingCursor(sqlite3.Cursor):
    """A cursor whose database and disk failures are StateErrors (see the module)."""

    def _path(self) -> Path | None:
        return getattr(self.connection, "path", None)

    def execute(self, sql: str, parameters: Any = (), /) -> TranslatingCursor:
        with translated(self._path(), self):
            super().execute(sql, parameters)
        return self

    def executemany(self, sql: str, seq: Any, /) -> TranslatingCursor:
        with translated(self._path(), self):
            super().executemany(sql, seq)
        return self

    def executescript(self, script: str, /) -> TranslatingCursor:
        with translated(self._path(), self):
            super().executescript(script)
        return self

    def fetchone(self) -> Any:
        with translated(self._path(), self):
            return super().fetchone()

    def fetchmany(self, size: int | None = None) -> list[Any]:
        with translated(self._path(), self):
            return super().fetchmany(self.arraysize if size is None else size)

    def fetchall(self) -> list[Any]:
        with translated(self._path(), self):
            return super().fetchall()

    def __next__(self) -> Any:
        with translated(self._path(), self):
            return super().__next__()


class TranslatingConnection(sqlite3.Connection):
    """The state database connection: `sqlite3.connect(..., factory=...)`, then set
    `path` (None for an in-memory copy)."""

    path: Path | None = None
    dialect = "sqlite"

    def cursor(self, factory: Any = None) -> Any:  # type: ignore[override]
        return super().cursor(factory or TranslatingCursor)

    def execute(self, sql: str, parameters: Any = (), /) -> Any:  # type: ignore[override]
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, seq: Any, /) -> Any:  # type: ignore[override]
        return self.cursor().executemany(sql, seq)

    def executescript(self, script: str, /) -> Any:  # type: ignore[override]
        return self.cursor().executescript(script)

    def commit(self) -> None:
        with translated(self.path):
            super().commit()

    def rollback(self) -> None:
        with translated(self.path):
            super().rollback()

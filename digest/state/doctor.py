"""`digest doctor`: check the state database and, when it is damaged, replace it with
a repaired copy that keeps whatever can still be read — above all the suppression list
and the delivery log, which no feed can give back.

The repair never changes the damaged file: it reads a scratch copy, writes a new
database beside it (the current schema, filled table by table, row by row, skipping
what cannot be read), keeps the damaged file under a new name, and only then puts the
new one in its place.

SQLite's own `.recover` (sqlite3 CLI) is not used: a fresh Debian machine lacks the
CLI, and Debian 12's (3.40) is built without the `sqlite_dbpage` table `.recover`
needs. What this copy cannot do that `.recover` could: find rows on pages no table
points to any more.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from digest.clock import utcnow
from digest.config.schema import Config
from digest.errors import StateError
from digest.outbox.folder import scan_outbox
from digest.state.backend import describe, is_url
from digest.state.errors import DAMAGED, first_problem, newer_schema, translated
from digest.state.lock import state_lock
from digest.state.migrations import SCHEMA_VERSION
from digest.state.store import open_store

MAGIC = b"SQLite format 3\x00"
PAGE_SIZES = (4096, 1024, 2048, 8192, 16384, 32768, 65536, 512)
# What each table means to the editor, in the order the report lists them.
TABLES = {
    "suppressions": "unsubscribed address(es)",
    "deliveries": "delivery log row(s)",
    "issues": "issue(s)",
    "issue_articles": "article placement(s) in issues",
    "articles": "article(s)",
    "feeds": "feed(s) with their validators and health",
    "meta": "identity row(s) of this database",
}


@dataclass(frozen=True)
class TableReport:
    name: str
    rows: int
    problem: str | None = None  # why some (or all) rows could not be read

    def describe(self) -> str:
        what = TABLES.get(self.name, "row(s)")
        text = f"{self.rows} {what} ({self.name})"
        return text + (f": some rows unreadable ({self.problem})" if self.problem else "")


@dataclass(frozen=True)
class DoctorReport:
    path: Path
    status: str  # "missing" | "ok" | "damaged" | "repaired"
    schema: int | None = None
    problem: str | None = None  # what the integrity check found
    tables: tuple[TableReport, ...] = ()
    kept_as: Path | None = None  # where the damaged file went


def check_state(path: Path) -> DoctorReport:
    """`PRAGMA integrity_check` on the file as it is, changing nothing."""
    if not path.exists():
        return DoctorReport(path, "missing")
    conn = _open_source(path)
    try:
        with translated(path):
            try:
                schema = int(conn.execute("PRAGMA user_version").fetchone()[0])
                result = [str(r[0]) for r in conn.execute("PRAGMA integrity_check")]
            except sqlite3.DatabaseError as e:
                if _code(e) not in DAMAGED:
                    raise
                return DoctorReport(path, "damaged", _header_version(path), str(e))
            if result != ["ok"]:
                return DoctorReport(path, "damaged", schema, first_problem(result))
            tables = tuple(TableReport(name, _count(conn, name)) for name in TABLES
                           if name in _tables(conn))
    finally:
        conn.close()
    return DoctorReport(path, "ok", schema, None, tables)


def repair_state(path: Path, problem: str | None = None, *, outbox: Path | None = None,
                 slug: str = "") -> DoctorReport:
    """Write a repaired copy of the damaged database at `path` and put it in place; the
    damaged file is kept beside it. Hold the state lock around this. A lost identity
    (meta) is taken back from this newsletter's issue folders in `outbox`."""
    version = _header_version(path)
    if version is not None and version > SCHEMA_VERSION:
        raise newer_schema(path, version, SCHEMA_VERSION)
    new = path.with_name(path.name + ".repairing")
    _remove(new)
    with tempfile.TemporaryDirectory(prefix="digest-doctor-") as scratch:
        copy = Path(scratch) / "damaged.db"
        shutil.copyfile(path, copy)
        if (wal := _sibling(path, "-wal")).exists():  # committed changes not yet merged
            shutil.copyfile(wal, _sibling(copy, "-wal"))
        _mend_header(copy)
        try:
            tables = _salvage(copy, new)
            if outbox is not None and not _kept(tables, "meta"):
                tables = _restore_identity(new, outbox, slug, tables)
        except BaseException:
            _remove(new)
            raise
    if not any(t.rows for t in tables if t.name != "meta"):
        _remove(new)
        raise _nothing_readable(path, problem or next(
            (t.problem for t in tables if t.problem), "no table could be read"))
    kept_as = _keep_aside(path)
    os.replace(new, path)
    return DoctorReport(path, "repaired", SCHEMA_VERSION, problem, tables, kept_as)


def _nothing_readable(path: Path, problem: str) -> StateError:
    return StateError(
        f"could not read anything from state database {path} ({problem}); it is left as it "
        "is. Restore it from a backup if there is one; otherwise move it aside and digest "
        "starts afresh, without the suppression list and delivery log it held")


# Reading what can be read -----------------------------------------------------------


def _open_source(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.text_factory = lambda b: b.decode("utf-8", "replace")  # damaged text too
    conn.execute("PRAGMA writable_schema = ON")  # read a file shorter than its header says
    return conn


def _salvage(source: Path, target: Path) -> tuple[TableReport, ...]:
    """Copy every table of the current schema from `source`, as far as it reads."""
    store = open_store(target)  # a new database with the current schema
    conn: sqlite3.Connection = store.conn  # type: ignore[assignment]  # a SQLite file
    try:
        conn.execute("PRAGMA foreign_keys = OFF")  # keep deliveries of a lost issue row
        src = _open_source(source)
        try:
            try:
                found = _tables(src)
                schema_problem = None
            except sqlite3.DatabaseError as e:
                found, schema_problem = set(), str(e)
            reports = []
            for name in [t for t in TABLES if t in _tables(conn)]:
                if name not in found:
                    reports.append(TableReport(name, 0, schema_problem or "not in the file"))
                    continue
                reports.append(_copy_table(src, conn, name))
        finally:
            src.close()
    finally:
        store.close()
    return tuple(reports)


def _copy_table(src: sqlite3.Connection, dst: sqlite3.Connection, name: str) -> TableReport:
    try:
        have = {r[1] for r in src.execute(f'PRAGMA table_info("{name}")')}
    except sqlite3.DatabaseError as e:
        return TableReport(name, 0, str(e))
    columns = [r[1] for r in dst.execute(f'PRAGMA table_info("{name}")') if r[1] in have]
    rows, problem = _readable_rows(src, name, columns)
    if not rows:
        return TableReport(name, 0, problem)
    dst.execute(f'DELETE FROM "{name}"')  # rows a migration seeded (a new identity)
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" * len(columns))
    dst.executemany(f'INSERT OR IGNORE INTO "{name}" ({names}) VALUES ({marks})', rows)
    return TableReport(name, _count(dst, name), problem)


def _readable_rows(src: sqlite3.Connection, name: str, columns: list[str]
                   ) -> tuple[list[tuple[object, ...]], str | None]:
    """Rows in rowid order; past a page that cannot be read, skip ever further ahead."""
    rows: list[tuple[object, ...]] = []
    problem: str | None = None
    after: int | None = None
    step = 1
    names = ", ".join(f'"{c}"' for c in columns)
    for _ in range(80):
        where = "" if after is None else f" WHERE rowid > {after}"
        try:
            for row in src.execute(f'SELECT rowid, {names} FROM "{name}" NOT INDEXED'
                                   f"{where} ORDER BY rowid"):
                rows.append(tuple(row[1:]))
                after, step = row[0], 1
            return rows, problem
        except sqlite3.DatabaseError as e:
            problem = problem or str(e)
            after = (after or 0) + step
            step *= 2
            if after > 2**62:
                break
    return rows, problem


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _count(conn: sqlite3.Connection, name: str) -> int:
    return int(conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0])


def _mend_header(copy: Path) -> None:
    """A file whose first bytes were overwritten is "not a database" to SQLite, however
    intact its pages. Restore the fixed fields of the 100-byte header and find the page
    size by trying the usual ones."""
    error = _unreadable(copy)
    if error is None or _code(error) != sqlite3.SQLITE_NOTADB:
        return
    with copy.open("r+b") as f:
        header = bytearray(f.read(100))
        if len(header) < 100:
            return
        header[0:16] = MAGIC
        if header[18] not in (1, 2) or header[19] not in (1, 2):
            header[18] = header[19] = 2 if _sibling(copy, "-wal").exists() else 1
        header[20:24] = bytes((0, 64, 32, 32))  # reserved bytes; fixed payload fractions
        for size in PAGE_SIZES:
            header[16:18] = (1 if size == 65536 else size).to_bytes(2, "big")
            f.seek(0)
            f.write(header)
            f.flush()
            if _unreadable(copy) is None:
                return


def _unreadable(path: Path) -> sqlite3.DatabaseError | None:
    """Why SQLite cannot read the table list of `path`, if it cannot."""
    conn = _open_source(path)
    try:
        _tables(conn)
        return None
    except sqlite3.DatabaseError as e:
        return e
    finally:
        conn.close()


def _kept(tables: tuple[TableReport, ...], name: str) -> bool:
    return any(t.name == name and t.rows for t in tables)


def _restore_identity(new: Path, outbox: Path, slug: str, tables: tuple[TableReport, ...]
                      ) -> tuple[TableReport, ...]:
    """Issue folders carry the id of the database that built them (`send` and recovery
    check it): when the repaired database lost its own, take it back from the folders
    of the issues it still records, if they agree on one."""
    conn = sqlite3.connect(new)
    try:
        if "meta" not in _tables(conn):
            return tables
        recorded = {r[0] for r in conn.execute("SELECT outbox_path FROM issues")}
        ids = {f.manifest.state_id for f in scan_outbox(outbox)
               if f.manifest.slug == slug and f.manifest.state_id
               and (f.path.name in recorded or not recorded)}
        if len(ids) != 1:
            return tables
        with conn:
            conn.execute("UPDATE meta SET value = ? WHERE key = 'state_id'", (ids.pop(),))
    finally:
        conn.close()
    return tuple(replace(t, rows=1, problem=f"{t.problem}; taken back from the issue "
                         f"folders in {outbox}") if t.name == "meta" else t for t in tables)


# Keeping the damaged file ------------------------------------------------------------


def _keep_aside(path: Path) -> Path:
    """Keep the damaged file (and its -wal/-shm) under a new name; never delete it."""
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    try:
        os.link(path, aside)  # the damaged file stays reachable under its new name ...
    except OSError:
        shutil.copy2(path, aside)
    for suffix in ("-wal", "-shm"):  # ... and its WAL must not be applied to the new one
        if (extra := _sibling(path, suffix)).exists():
            os.replace(extra, _sibling(aside, suffix))
    return aside


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _remove(path: Path) -> None:
    for p in (path, _sibling(path, "-wal"), _sibling(path, "-shm"), _sibling(path, "-journal")):
        p.unlink(missing_ok=True)


def _header_version(path: Path) -> int | None:
    """user_version straight from the header: readable when SQLite cannot open the file."""
    try:
        with path.open("rb") as f:
            header = f.read(100)
    except OSError:
        return None
    if len(header) < 100 or not header.startswith(MAGIC):
        return None  # not to be trusted
    return int.from_bytes(header[60:64], "big")


def _code(error: sqlite3.Error) -> int:
    return (getattr(error, "sqlite_errorcode", None) or 0) & 0xFF



def doctor(config: Config) -> DoctorReport:
    """Check the state database; repair it, under the state lock, when it is damaged."""
    if is_url(config.state_db):
        raise StateError(
            f"digest doctor checks and repairs a SQLite state file; the state is the "
            f"PostgreSQL database {describe(config.state_db)} ([state] url or "
            "DIGEST_DATABASE_URL): check it with PostgreSQL's own tools (pg_amcheck, and "
            "pg_dump for a copy)")
    report = check_state(config.state_path)
    if report.status != "damaged":
        return report
    with state_lock(config.state_path, config.state.lock_timeout):
        return repair_state(config.state_path, report.problem, outbox=config.outbox_path,
                            slug=config.newsletter.slug)

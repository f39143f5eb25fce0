"""The fetch cache: what enrichment measured and read (pictures as made per slot, article
pages' facts, both with their ETag / Last-Modified) and the host names that lately did
not resolve, in its own SQLite file beside the state database (`cache.db`).

Nothing editorial lives here: deleting the file only makes the next build ask the hosts
again. `build` and `build --preview` both read and write it, so a preview can keep what
it fetched without opening the state database for writing; a preview reuses, unasked,
what was fetched or revalidated within FRESH_FOR (a build always revalidates, with a
conditional request). A name that failed to resolve is not looked up again for DNS_FOR.

It is a cache, so it never stops a build: a damaged file is removed and made again, one
that cannot be opened, read or written (locked past BUSY_MS, read-only, a full disk) is
skipped; either way one WARNING line, and the build goes on. Writers (a preview while a
build runs) share it through WAL and a busy timeout. Rows older than KEEP_FOR go, and
each table keeps at most MAX_ROWS rows (the least lately fetched go first).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from digest.clock import utcnow
from digest.collect.hosts import LookupFailures
from digest.models import CachedImage, CachedPage

NAME = "cache.db"
VERSION = 2  # of the file's tables; another version is a cache to make again
FRESH_FOR = timedelta(hours=6)  # a preview reuses what was fetched this recently, unasked
DNS_FOR = timedelta(minutes=10)  # a name that did not resolve is not looked up again
KEEP_FOR = timedelta(days=90)  # older rows are forgotten (stories move on)
MAX_ROWS = {"images": 1_000, "pages": 5_000, "dns_failures": 1_000}  # made: 10-50 KB each
BUSY_MS = 3_000  # how long a write waits for another process's write

log = logging.getLogger(__name__)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS images (
    url TEXT NOT NULL, slot TEXT NOT NULL, etag TEXT, last_modified TEXT,
    source_width INTEGER NOT NULL, source_height INTEGER NOT NULL, name TEXT NOT NULL,
    width INTEGER NOT NULL, height INTEGER NOT NULL, data BLOB NOT NULL,
    fetched_at TEXT NOT NULL, fetched_for TEXT NOT NULL DEFAULT '', PRIMARY KEY (url, slot));
CREATE INDEX IF NOT EXISTS images_fetched ON images (fetched_at);
CREATE TABLE IF NOT EXISTS pages (
    url TEXT PRIMARY KEY, etag TEXT, last_modified TEXT, facts TEXT NOT NULL,
    fetched_at TEXT NOT NULL, fetched_for TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS pages_fetched ON pages (fetched_at);
CREATE TABLE IF NOT EXISTS dns_failures (
    host TEXT PRIMARY KEY, error TEXT NOT NULL, fetched_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS dns_failures_fetched ON dns_failures (fetched_at);
PRAGMA user_version = {VERSION};
"""

_IMAGES = """INSERT INTO images (url, slot, etag, last_modified, source_width, source_height,
                 name, width, height, data, fetched_at, fetched_for)
             VALUES (:url, :slot, :etag, :last_modified, :source_width, :source_height,
                     :name, :width, :height, :data, :fetched_at, :fetched_for)
             ON CONFLICT (url, slot) DO UPDATE SET etag = excluded.etag,
                 last_modified = excluded.last_modified, source_width = excluded.source_width,
                 source_height = excluded.source_height, name = excluded.name,
                 width = excluded.width, height = excluded.height, data = excluded.data,
                 fetched_at = excluded.fetched_at, fetched_for = excluded.fetched_for"""
_PAGES = """INSERT INTO pages (url, etag, last_modified, facts, fetched_at, fetched_for)
            VALUES (:url, :etag, :last_modified, :facts, :fetched_at, :fetched_for)
            ON CONFLICT (url) DO UPDATE SET etag = excluded.etag,
                last_modified = excluded.last_modified, facts = excluded.facts,
                fetched_at = excluded.fetched_at, fetched_for = excluded.fetched_for"""
_DNS = """INSERT INTO dns_failures (host, error, fetched_at) VALUES (?, ?, ?)
          ON CONFLICT (host) DO UPDATE SET error = excluded.error,
              fetched_at = excluded.fetched_at"""
_KEYS = {"images": "url, slot", "pages": "url", "dns_failures": "host"}
# The file is not a database, or is damaged: make it again. Anything else (locked,
# read-only, full, cannot open) is skipped, the file left as it is.
_DAMAGED = {sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT}


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _damaged(e: sqlite3.Error) -> bool:
    return getattr(e, "sqlite_errorcode", None) in _DAMAGED


class Cache:
    """The cache file at `path` (None: no cache, every read misses, nothing is kept).
    `lookups` holds the names that failed to resolve within DNS_FOR; `keep` stores what
    a build fetched, and the names that failed in it."""

    def __init__(self, path: Path | None, *, make_folder: bool = True) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._warned = False
        if path is not None and (make_folder or path.parent.is_dir()):
            self._conn = self._open(path)
        self.lookups = LookupFailures(self._dns_failures(), DNS_FOR)

    # opening -------------------------------------------------------------------

    def _open(self, path: Path) -> sqlite3.Connection | None:
        try:
            return self._connect(path)
        except sqlite3.Error as e:
            if not _damaged(e):
                self._warn(f"cannot be used ({e}); this build fetches without it (the "
                           "file may be deleted: it holds nothing editorial)")
                return None
            self._warn(f"is damaged ({e}); it is made again (it holds nothing editorial)")
        self._remove(path)
        try:
            return self._connect(path)
        except sqlite3.Error as e:
            log.debug("fetch cache %s: still unusable: %s", path, e)
            return None

    def _connect(self, path: Path) -> sqlite3.Connection:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise sqlite3.OperationalError(f"cannot make {path.parent}: {e.strerror}") from None
        conn = sqlite3.connect(path, timeout=BUSY_MS / 1000, isolation_level=None,
                               check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_MS}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")  # a lost last write is a miss
            if version != VERSION:
                if version:  # another digest's layout: a cache, so start it afresh
                    for table in _KEYS:
                        conn.execute(f"DROP TABLE IF EXISTS {table}")
                conn.executescript(_SCHEMA)
            return conn
        except BaseException:
            conn.close()
            raise

    def _remove(self, path: Path) -> None:
        for suffix in ("", "-wal", "-shm"):
            try:
                path.with_name(path.name + suffix).unlink(missing_ok=True)
            except OSError as e:
                log.debug("fetch cache: cannot remove %s%s: %s", path, suffix, e.strerror)

    def _warn(self, what: str) -> None:
        """One WARNING per build, however many things fail after the first."""
        if not self._warned:
            self._warned = True
            log.warning("fetch cache %s %s", self.path, what)

    def _failed(self, e: sqlite3.Error, doing: str) -> None:
        """A read or write failed: the rest of the build does without the cache (and a
        damaged file goes, for the next build to make again)."""
        again = "; it is made again next time" if _damaged(e) else ""
        then = "what this build fetched is not kept" if doing == "written" else \
            "this build goes on without it"
        self._warn(f"could not be {doing} ({e}); {then}{again}")
        self.close()
        if again and self.path is not None:
            self._remove(self.path)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # reading -------------------------------------------------------------------

    def cached_images(self, url: str) -> dict[str, CachedImage]:
        """The picture at `url` as made for each slot so far, by slot."""
        if self._conn is None:
            return {}
        try:
            rows = self._conn.execute(
                """SELECT url, slot, etag, last_modified, source_width, source_height, name,
                          width, height, data, fetched_at, fetched_for
                   FROM images WHERE url = ?""",
                (url,)).fetchall()
        except sqlite3.Error as e:
            self._failed(e, "read")
            return {}
        return {r[1]: CachedImage(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8],
                                  bytes(r[9]), r[10], r[11]) for r in rows}

    def cached_page(self, url: str) -> CachedPage | None:
        """What enrichment last read from the article page at `url`."""
        if self._conn is None:
            return None
        try:
            row = self._conn.execute(
                """SELECT url, etag, last_modified, facts, fetched_at, fetched_for FROM pages
                   WHERE url = ?""",
                (url,)).fetchone()
        except sqlite3.Error as e:
            self._failed(e, "read")
            return None
        return CachedPage(*row) if row else None

    def _dns_failures(self) -> dict[str, tuple[str, str]]:
        """host -> (error, when) for the names that failed within DNS_FOR."""
        if self._conn is None:
            return {}
        try:
            rows = self._conn.execute(
                "SELECT host, error, fetched_at FROM dns_failures WHERE fetched_at >= ?",
                (_stamp(utcnow() - DNS_FOR),)).fetchall()
        except sqlite3.Error as e:
            self._failed(e, "read")
            return {}
        return {host: (error, when) for host, error, when in rows}

    # writing -------------------------------------------------------------------

    def keep(self, images: Iterable[CachedImage] = (), pages: Iterable[CachedPage] = ()
             ) -> None:
        """Store what this build fetched and the names that failed to resolve in it (one
        transaction), and forget what is past KEEP_FOR or over MAX_ROWS. A write that
        fails is a WARNING line, never an error."""
        image_rows = [i.__dict__ for i in images]
        page_rows = [p.__dict__ for p in pages]
        failures = self.lookups.new()
        if self._conn is None or not (image_rows or page_rows or failures):
            return
        now = utcnow()
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(_IMAGES, image_rows)
                self._conn.executemany(_PAGES, page_rows)
                self._conn.executemany(_DNS, [(h, e, w) for h, (e, w) in failures.items()])
                self._forget(now)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            self._failed(e, "written")

    def _forget(self, now: datetime) -> None:
        """Rows past their age, then the least lately fetched over each table's cap: an
        index range and one pass over at most the cap's rows, whatever the file holds."""
        assert self._conn is not None
        ages = {"images": KEEP_FOR, "pages": KEEP_FOR, "dns_failures": DNS_FOR}
        for table, age in ages.items():
            self._conn.execute(f"DELETE FROM {table} WHERE fetched_at < ?",
                               (_stamp(now - age),))
            keys = _KEYS[table]
            self._conn.execute(
                f"""DELETE FROM {table} WHERE ({keys}) IN (SELECT {keys} FROM {table}
                    ORDER BY fetched_at DESC LIMIT -1 OFFSET ?)""", (MAX_ROWS[table],))


def open_cache(state_path: Path, *, make_folder: bool = True) -> Cache:
    """The cache beside the state database at `state_path`. Without `make_folder` (a
    preview), no cache where that folder does not exist yet: a preview on a machine
    that never collected leaves no trace but its outbox/preview/."""
    return Cache(state_path.with_name(NAME), make_folder=make_folder)

"""The fetch cache: what enrichment measured and read (pictures as made per slot, article
pages' facts, their ETag / Last-Modified), in its own SQLite file beside the state
database (`cache.db`). Nothing editorial lives here: deleting the file only makes the
next build ask the hosts again. `build` and `build --preview` both read and write it, so a
preview never opens the state database for writing; a preview within FRESH_FOR of a fetch
asks that host nothing. A damaged file is set aside with a one-line warning and made
again; a cache that cannot be used at all is skipped (never fatal)."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from digest.clock import utcnow
from digest.models import CachedImage, CachedPage

NAME = "cache.db"
FRESH_FOR = timedelta(hours=6)  # a preview reuses what was fetched this recently, unasked
KEEP_FOR = timedelta(days=90)  # older rows are forgotten (stories move on)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    url TEXT NOT NULL, slot TEXT NOT NULL, etag TEXT, last_modified TEXT,
    source_width INTEGER NOT NULL, source_height INTEGER NOT NULL, name TEXT NOT NULL,
    width INTEGER NOT NULL, height INTEGER NOT NULL, data BLOB NOT NULL,
    fetched_at TEXT NOT NULL, PRIMARY KEY (url, slot));
CREATE TABLE IF NOT EXISTS pages (
    url TEXT PRIMARY KEY, etag TEXT, last_modified TEXT, facts TEXT NOT NULL,
    fetched_at TEXT NOT NULL);
"""


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def fresh(fetched_at: str, now: datetime | None = None) -> bool:
    """Fetched within FRESH_FOR of now."""
    try:
        then = datetime.fromisoformat(fetched_at)
    except ValueError:
        return False
    now = now or utcnow()
    if then.tzinfo is None and now.tzinfo is not None:
        then = then.replace(tzinfo=now.tzinfo)
    return timedelta(0) <= now - then <= FRESH_FOR


class Cache:
    """The cache file at `path` (None: no cache, every read misses)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        if path is not None:
            self._conn = self._open(path)

    def _open(self, path: Path) -> sqlite3.Connection | None:
        for attempt in (1, 2):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(path, timeout=10, isolation_level=None)
            except (OSError, sqlite3.Error) as e:
                _warn(f"cache {path} cannot be opened ({e}); this build fetches without it")
                return None
            try:
                conn.execute("PRAGMA busy_timeout = 10000")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.executescript(_SCHEMA)
                conn.execute("SELECT count(*) FROM images").fetchone()
                conn.execute("SELECT count(*) FROM pages").fetchone()
                return conn
            except sqlite3.DatabaseError as e:
                conn.close()
                if attempt == 2:
                    break
                _warn(f"cache {path} is damaged ({e}); it is made again (it holds "
                      "nothing editorial)")
                for extra in ("", "-wal", "-shm"):
                    try:
                        path.with_name(path.name + extra).unlink(missing_ok=True)
                    except OSError:
                        pass
        _warn(f"cache {path} cannot be used; this build fetches without it")
        return None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _failed(self, e: sqlite3.Error) -> None:
        _warn(f"cache {self.path} failed ({e}); this build goes on without it")
        self.close()

    def cached_images(self, url: str) -> dict[str, CachedImage]:
        if self._conn is None:
            return {}
        try:
            cursor = self._conn.execute(
                """SELECT url, slot, etag, last_modified, source_width, source_height, name,
                          width, height, data, fetched_at FROM images WHERE url = ?""",
                (url,))
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
            return {r["slot"]: CachedImage(**{**r, "data": bytes(r["data"])}) for r in rows}
        except sqlite3.Error as e:
            self._failed(e)
            return {}

    def cached_page(self, url: str) -> CachedPage | None:
        if self._conn is None:
            return None
        try:
            row = self._conn.execute(
                "SELECT url, etag, last_modified, facts, fetched_at FROM pages WHERE url = ?",
                (url,)).fetchone()
        except sqlite3.Error as e:
            self._failed(e)
            return None
        return CachedPage(url=row[0], etag=row[1], last_modified=row[2], facts=row[3],
                          fetched_at=row[4]) if row else None

    def _write(self, query: str, table: str, rows: list[dict[str, object]]) -> None:
        if self._conn is None or not rows:
            return
        cutoff = (utcnow() - KEEP_FOR).isoformat(timespec="seconds")
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(f"DELETE FROM {table} WHERE fetched_at < ?", (cutoff,))
                self._conn.executemany(query, rows)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            self._failed(e)

    def save_images(self, images: Iterable[CachedImage]) -> None:
        self._write(
            """INSERT OR REPLACE INTO images (url, slot, etag, last_modified, source_width,
                   source_height, name, width, height, data, fetched_at)
               VALUES (:url, :slot, :etag, :last_modified, :source_width, :source_height,
                       :name, :width, :height, :data, :fetched_at)""",
            "images", [i.__dict__ for i in images])

    def save_pages(self, pages: Iterable[CachedPage]) -> None:
        self._write(
            """INSERT OR REPLACE INTO pages (url, etag, last_modified, facts, fetched_at)
               VALUES (:url, :etag, :last_modified, :facts, :fetched_at)""",
            "pages", [p.__dict__ for p in pages])


def open_cache(state_path: Path) -> Cache:
    """The cache beside the state database at `state_path`."""
    return Cache(state_path.with_name(NAME))

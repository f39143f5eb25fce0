"""Rate limits in the state database: a generic cell rate algorithm (GCRA) over one
row a key, so every process on the file (several `digest serve` workers, a restart)
shares them, and one request costs one indexed upsert, whatever the number of clients.

A bucket allowing `limit` events a `window` frees one event every `window / limit`
seconds; its row holds `free_at`, the time the bucket is full again. An event is
allowed when, after it, `free_at` is no more than a window ahead; a row whose
`free_at` has passed is a full bucket and is deleted, a few at a time (by the index on
`free_at`), as events go by: the table never grows past the clients of one window and
no request scans it."""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import Any

from digest.state.backend import Where, greatest

# Every EXPIRE_EVERY events, up to EXPIRE_BATCH spent rows go: more than one a call,
# so the table cannot grow on spent rows, and never a scan.
EXPIRE_EVERY, EXPIRE_BATCH = 32, 256

_TAKE = """
INSERT INTO rate_limits (key, free_at) VALUES (:key, :now + :step)
ON CONFLICT (key) DO UPDATE SET free_at = {max}(rate_limits.free_at, :now) + :step
    WHERE {max}(rate_limits.free_at, :now) + :step <= :now + :window
RETURNING free_at
"""
_EXPIRE = """
DELETE FROM rate_limits WHERE key IN
    (SELECT key FROM rate_limits WHERE free_at <= :now ORDER BY free_at LIMIT :batch)
"""


class RateLimits:
    """The `rate_limits` table on one connection of its own (autocommit, WAL, no fsync
    per event: a limit lost in a power cut is no harm). Thread-safe."""

    def __init__(self, path: Where | None) -> None:
        self.lock = threading.Lock()
        self.events = 0
        self.errors: tuple[type[Exception], ...] = (sqlite3.OperationalError,)
        if isinstance(path, str):  # PostgreSQL: a connection of the pool, kept
            from digest.errors import StateError
            from digest.state import postgres

            self.conn: Any = postgres.connect(path)
            self.errors = (StateError,)
            self.take_sql = _TAKE.format(max=greatest(self.conn))
            return
        self.take_sql = _TAKE.format(max="max")
        uri = f"file:{path}" if path else "file::memory:"
        # A short busy wait: a request's thread waits that long for a writer at most.
        self.conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=2,
                                    check_same_thread=False)
        self.conn.execute("PRAGMA synchronous = NORMAL")
        if path is None:  # a private table (tests, a limiter without a state file)
            self.conn.execute("CREATE TABLE rate_limits (key BLOB PRIMARY KEY, "
                              "free_at REAL NOT NULL) WITHOUT ROWID")
            self.conn.execute("CREATE INDEX rate_limits_free_at ON rate_limits (free_at)")

    def take(self, key: bytes, now: float, limit: int, window: float) -> bool:
        """Count one event for `key`; False (and nothing counted) when over the limit."""
        params = {"key": key, "now": now, "step": window / limit, "window": window + 1e-6}
        with self.lock:
            try:
                allowed = bool(self.conn.execute(self.take_sql, params).fetchall())  # all: ends it
                self.events += 1
                if self.events % EXPIRE_EVERY == 0:
                    self.conn.execute(_EXPIRE, {"now": now, "batch": EXPIRE_BATCH})
            except self.errors as e:
                # The file locked past the busy wait (a long write elsewhere): a reader
                # is not turned away for it; the limit holds again on the next event.
                logging.getLogger(__name__).warning("rate limit not counted: %s", e)
                return True
        return allowed

    def size(self) -> int:
        with self.lock:
            return int(self.conn.execute("SELECT count(*) FROM rate_limits").fetchone()[0])

    def close(self) -> None:
        self.conn.close()

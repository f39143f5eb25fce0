"""One digest process at a time: an exclusive lock file beside the state database, or,
with PostgreSQL, an advisory lock in the database (held by a connection of its own, so
processes on different machines exclude each other; a killed holder's connection
closes and the lock is free).

An flock belongs to the open file, shared by every process that has a copy of the
descriptor: a forked child (a feed-parsing worker) that kept one would hold the lock
after its parent died. So the descriptor is not inherited over exec (os.open's default)
and is closed in every forked child (`os.register_at_fork`).
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from digest.errors import LockError, StateError
from digest.state.backend import Where, describe

_held: set[int] = set()  # lock descriptors open in this process


def _close_in_child() -> None:
    for fd in list(_held):
        try:
            os.close(fd)
        except OSError:
            pass
    _held.clear()


os.register_at_fork(after_in_child=_close_in_child)


def lock_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".lock")


@contextmanager
def state_lock(where: Where, timeout: float) -> Iterator[None]:
    """Hold the state lock for the block; wait up to `timeout` seconds for a holder."""
    if isinstance(where, str):
        from digest.state.postgres import STATE_LOCK

        def busy_db(holder: str) -> str:
            return (f"another digest process holds the state lock of {describe(where)} "
                    f"({holder}); waited {timeout:g}s. Try again when it finishes, or raise "
                    "[state] lock_timeout")

        with advisory(where, STATE_LOCK, timeout, busy_db):
            yield
        return
    path = lock_path(where)

    def busy(holder: str) -> str:
        return (f"another digest process holds {path} ({holder}); waited {timeout:g}s. "
                "Try again when it finishes, or raise [state] lock_timeout")

    with exclusive(path, timeout, busy):
        yield


@contextmanager
def exclusive(path: Path, timeout: float, busy: Callable[[str], str]) -> Iterator[None]:
    """An flock on `path` for the block, naming this process in the file. If another
    process holds it past `timeout`, raise LockError(busy(<what the file names>))."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:  # a read-only mount, a full disk: not a reason for a traceback
        raise StateError(f"cannot write lock file {path} ({e.strerror}); make {path.parent} "
                         "writable, or point [state] path at a writable folder") from None
    _held.add(fd)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
                    raise LockError(busy(holder)) from None
                time.sleep(0.1)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}: {' '.join(_command())}".encode(), 0)
        except OSError:
            pass  # the name only helps a waiting process; a full disk is reported later
        yield
    finally:
        _held.discard(fd)
        os.close(fd)  # closing releases the flock


@contextmanager
def advisory(url: str, key: int, timeout: float | None,
             busy: Callable[[str], str]) -> Iterator[None]:
    """PostgreSQL advisory lock `key` for the block, on a connection of its own. If
    another session holds it past `timeout` seconds (None: wait for ever), raise
    LockError(busy(<who holds it>))."""
    from digest.state import postgres

    conn = postgres.connect(url, pooled=False)
    try:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not postgres.try_lock(conn, key):
            if deadline is not None and time.monotonic() >= deadline:
                raise LockError(busy(postgres.lock_holder(conn, key)))
            time.sleep(0.2)
        yield
    finally:
        conn.close()  # ending the session releases the lock


class Lead:
    """A daemon's lead (`leader_lock`): `held()` says whether it still is, asking the
    server every few seconds (a lost connection ends the session, and the lock with it:
    a standby may be leading already). A lead on a SQLite file is always held."""

    CHECK_EVERY = 5.0

    def __init__(self, conn: Any = None) -> None:
        self.conn = conn
        self.checked = time.monotonic()

    def held(self) -> bool:
        if self.conn is None or time.monotonic() - self.checked < self.CHECK_EVERY:
            return True
        self.checked = time.monotonic()
        try:
            self.conn.execute("SELECT 1").fetchone()
        except StateError:
            return False
        return True


@contextmanager
def leader_lock(url: str, stop: threading.Event,
                waiting: Callable[[str], None]) -> Iterator[Lead | None]:
    """Lead for the block: PostgreSQL's advisory lock LEADER_LOCK, one holder among
    every process on every machine. While another holds it, call `waiting(<who>)` once
    and wait as a standby, trying again every second, until it is free (the leader
    stopped, or was killed: its session ended) or `stop` is set (then yield None)."""
    from digest.state import postgres

    conn = postgres.connect(url, pooled=False)
    try:
        told = False
        while not postgres.try_lock(conn, postgres.LEADER_LOCK):
            if not told:
                waiting(postgres.lock_holder(conn, postgres.LEADER_LOCK))
                told = True
            if stop.wait(1.0):
                yield None
                return
        yield Lead(conn)
    finally:
        conn.close()


def _command() -> list[str]:
    args = [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv else ["digest"]
    return args[:6]

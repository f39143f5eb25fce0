"""The two state backends behind one interface: a SQLite file (the default) or a
PostgreSQL database (`[state] url`, or $DIGEST_DATABASE_URL).

Where the state is, `Where`, is a Path (SQLite) or a postgresql:// URL (a str):
`Config.state_db`. The query code (store, deliveries, bounces, ...) is the same for
both: it runs SQL both engines accept (`?` placeholders, `INSERT ... ON CONFLICT (...)
DO NOTHING / DO UPDATE`, standard functions) on a `Connection`, which for PostgreSQL
is digest.state.postgres.PgConnection (it turns `?` / `:name` into psycopg's `%s` /
`%(name)s` once per statement text, and `BEGIN IMMEDIATE` into a transaction holding
the write lock). The few fragments that differ are chosen by `dialect(conn)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

from digest.errors import StateError

Where = Path | str
Dialect = Literal["sqlite", "postgresql"]
SCHEMES = ("postgresql", "postgres")


class Connection(Protocol):
    """What the query code uses of a connection: sqlite3.Connection's shape."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...

    def executemany(self, sql: str, seq: Any, /) -> Any: ...

    def close(self) -> None: ...

    @property
    def in_transaction(self) -> bool: ...


def is_url(where: Where) -> bool:
    """Whether the state is a PostgreSQL database (a URL) rather than a SQLite file."""
    return isinstance(where, str)


def check_url(url: str) -> str:
    """The URL, once it is one PostgreSQL takes; else a StateError saying what to write."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in SCHEMES:
        raise StateError(f"[state] url: {describe(url)!r} is not a PostgreSQL URL; write it "
                         "like 'postgresql://user@host/dbname', or leave it out (and unset "
                         "DIGEST_DATABASE_URL) for the SQLite file at [state] path")
    return url


def describe(where: Where) -> str:
    """How a message names the database: its path, or its URL without the password."""
    if not isinstance(where, str):
        return str(where)
    try:
        parts = urlsplit(where)
        netloc = parts.netloc
        if "@" in netloc:
            user, host = netloc.rsplit("@", 1)
            netloc = f"{user.split(':', 1)[0]}@{host}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return "(the PostgreSQL URL of [state] url)"


def dialect(conn: object) -> Dialect:
    """Which SQL a connection speaks (a plain sqlite3 connection is SQLite)."""
    return getattr(conn, "dialect", "sqlite")


# The key of a suppression row as written before every address was normalised
# (digest.state.deliveries): the same expression as migration 11's index, per engine,
# so each engine's index serves it.
SUPPRESSION_KEY: dict[Dialect, str] = {
    "sqlite": "lower(trim(email, ' ' || char(9, 10, 11, 12, 13)))",
    "postgresql": "lower(trim(email, E' \\t\\n\\x0b\\f\\r'))",
}


def suppression_key(conn: object) -> str:
    return SUPPRESSION_KEY[dialect(conn)]


def greatest(conn: object) -> str:
    """The two-argument maximum: SQLite's scalar max(), PostgreSQL's greatest()."""
    return "greatest" if dialect(conn) == "postgresql" else "max"

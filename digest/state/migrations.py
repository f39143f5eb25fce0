"""The state database's schema, as numbered migrations applied in order; each runs in
one transaction. The same list runs on both engines: SQLite keeps how many have run
in PRAGMA user_version, PostgreSQL in the one-row table `schema_version`.

A migration is portable SQL (a str: plain CREATE TABLE with TEXT / INTEGER / REAL /
BLOB columns, ALTER TABLE ... ADD COLUMN, CREATE INDEX), which PostgreSQL runs in its
own types (digest.state.postgres.ddl), or, where it cannot be portable, `PerEngine`,
one text for each."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from digest.state.backend import SUPPRESSION_KEY, Dialect, Where, describe, dialect
from digest.state.errors import (
    newer_schema,
)


@dataclass(frozen=True)
class PerEngine:
    """A migration written once for each engine."""

    sqlite: str
    postgresql: str


# Migration 11 (below): SQLite cannot change a CHECK in place, so the table is copied.
_M11 = """
    CREATE TABLE deliveries_10 (
        issue_number INTEGER NOT NULL REFERENCES issues(number),
        email TEXT NOT NULL,
        address TEXT NOT NULL,
        state TEXT NOT NULL
            CHECK (state IN ('pending', 'sending', 'delivered', 'deferred', 'failed',
                             'suppressed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        last_reply TEXT,
        message_id TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (issue_number, email)
    );
    INSERT INTO deliveries_10 (issue_number, email, address, state, attempts, last_reply,
                               message_id, updated_at)
        SELECT issue_number, email, address, state, attempts, last_reply, message_id,
               updated_at FROM deliveries;
    DROP TABLE deliveries;
    ALTER TABLE deliveries_10 RENAME TO deliveries;
    CREATE INDEX deliveries_state ON deliveries(issue_number, state);
    CREATE INDEX suppressions_key
        ON suppressions(lower(trim(email, ' ' || char(9, 10, 11, 12, 13))));
"""

MIGRATIONS: list[str | PerEngine] = [
    # 1: feeds, articles, issues
    """
    CREATE TABLE feeds (
        url TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        etag TEXT,
        last_modified TEXT,
        last_status TEXT,
        last_error TEXT,
        failures INTEGER NOT NULL DEFAULT 0,
        last_fetched TEXT,
        last_ok TEXT
    );
    CREATE TABLE articles (
        id TEXT PRIMARY KEY,
        feed_url TEXT NOT NULL,
        feed_name TEXT NOT NULL,
        url TEXT NOT NULL,
        title TEXT NOT NULL,
        summary TEXT NOT NULL,
        body_html TEXT NOT NULL,
        category TEXT NOT NULL,
        author TEXT NOT NULL,
        image TEXT,
        published TEXT,
        first_seen TEXT NOT NULL
    );
    CREATE INDEX articles_url ON articles(url);
    CREATE TABLE issues (
        number INTEGER PRIMARY KEY,
        slot TEXT UNIQUE,
        date TEXT NOT NULL,
        subject TEXT NOT NULL,
        outbox_path TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE issue_articles (
        issue_number INTEGER NOT NULL REFERENCES issues(number),
        article_id TEXT NOT NULL UNIQUE REFERENCES articles(id),
        section TEXT NOT NULL,
        position INTEGER NOT NULL,
        reason TEXT NOT NULL
    );
    """,
    # 2: the delivery log (one row per issue x recipient) and the suppression list
    """
    CREATE TABLE deliveries (
        issue_number INTEGER NOT NULL REFERENCES issues(number),
        email TEXT NOT NULL,
        address TEXT NOT NULL,
        state TEXT NOT NULL
            CHECK (state IN ('pending', 'sending', 'delivered', 'deferred', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        last_reply TEXT,
        message_id TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (issue_number, email)
    );
    CREATE INDEX deliveries_state ON deliveries(issue_number, state);
    CREATE TABLE suppressions (
        email TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    """,
    # 3: this database's identity, written into every issue manifest, so recovery and
    # sending only take issue folders that this database made
    PerEngine(
        sqlite="""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta (key, value) VALUES ('state_id', lower(hex(randomblob(16))));
        """,
        postgresql="""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta (key, value)
            VALUES ('state_id', replace(gen_random_uuid()::text, '-', ''));
        """),
    # 4: the picture cache: each source picture as made for one slot (the cropped,
    # resized JPEG and its size), with the source's validators for a conditional GET
    """
    CREATE TABLE images (
        url TEXT NOT NULL,
        slot TEXT NOT NULL,
        etag TEXT,
        last_modified TEXT,
        source_width INTEGER NOT NULL,
        source_height INTEGER NOT NULL,
        name TEXT NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        data BLOB NOT NULL,
        fetched_at TEXT NOT NULL,
        PRIMARY KEY (url, slot)
    );
    """,
    # 5: the article-page cache of enrichment: what a page said (JSON, digest.enrich.pages),
    # with the validators of the response for a conditional GET
    """
    CREATE TABLE pages (
        url TEXT PRIMARY KEY,
        etag TEXT,
        last_modified TEXT,
        facts TEXT NOT NULL,
        fetched_at TEXT NOT NULL
    );
    """,
    # 6: subscribers, the list of record (digest.state.deliveries.Subscribers): who, in what
    # state, from where, and the consent record (when and from which address confirmed)
    """
    CREATE TABLE subscribers (
        email TEXT PRIMARY KEY,
        address TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'unsubscribed',
                                               'bounced')),
        source TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        confirmed_at TEXT,
        confirm_ip TEXT,
        soft_bounces INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX subscribers_status ON subscribers (status);
    """,
    # 7: bounces and complaints acted on (digest.deliver.bounces), one row per message and
    # address: a mailbox read twice counts nothing twice
    """
    CREATE TABLE bounces (
        message_id TEXT NOT NULL,
        email TEXT NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT,
        received_at TEXT NOT NULL,
        PRIMARY KEY (message_id, email)
    );
    """,
    # 8: what curation reads of an article besides its text: its place in its feed,
    # whether the item was dated, its language and all its categories (JSON list)
    """
    ALTER TABLE articles ADD COLUMN position INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE articles ADD COLUMN undated INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE articles ADD COLUMN language TEXT NOT NULL DEFAULT '';
    ALTER TABLE articles ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
    """,
    # 9: the confirmation mails of `digest serve` (digest.state.confirmations): queued in
    # the transaction that records the sign-up, sent by the server's worker with retries.
    # Times are integer milliseconds (the confirmation token carries the same number).
    """
    CREATE TABLE confirmations (
        id INTEGER PRIMARY KEY,
        email TEXT NOT NULL,
        address TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'failed', 'skipped')),
        issued_ms INTEGER NOT NULL,
        next_ms INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        sent_ms INTEGER
    );
    CREATE INDEX confirmations_due ON confirmations (state, next_ms);
    CREATE INDEX confirmations_email ON confirmations (email, state);
    """,
    # 10: the readers' pages' rate limits (digest.state.ratelimits), shared by every
    # process on this file: one row a client or address, its bucket's next free time
    """
    CREATE TABLE rate_limits (
        key BLOB PRIMARY KEY,
        free_at REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX rate_limits_free_at ON rate_limits (free_at);
    """,
    # 11: a delivery row may be `suppressed` (the address was unsubscribed while the send
    # ran: never sent), and the suppression list is looked up by key before each message
    # (digest.deliver.engine), so the key expression has an index. SQLite cannot change
    # a CHECK in place: the table is copied (every column of migration 2's table).
    PerEngine(sqlite=_M11, postgresql=_M11.replace(SUPPRESSION_KEY["sqlite"],
                                                   SUPPRESSION_KEY["postgresql"])),
    # 12: the audit of an issue (`digest report`, digest.state.audit): the issue each
    # bounce and complaint is traced to, and every unsubscribe (the web's, a complaint's)
    # with the issue it is traced to; deliveries looked up by address for the tracing
    """
    ALTER TABLE bounces ADD COLUMN issue_number INTEGER;
    CREATE INDEX bounces_issue ON bounces (issue_number, kind);
    CREATE TABLE unsubscribes (
        email TEXT NOT NULL,
        issue_number INTEGER,
        reason TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX unsubscribes_issue ON unsubscribes (issue_number);
    CREATE INDEX deliveries_email ON deliveries (email);
    """,
    # 13: the topics a reader ticked (digest.state.topics), names joined by "|"
    """
    ALTER TABLE subscribers ADD COLUMN topics TEXT NOT NULL DEFAULT ''
    """,
    # 14: a subscriber's time zone (an IANA name, '' for the newsletter's), for delivery
    # at [schedule] local_time in the reader's morning (digest.deliver.zones)
    """
    ALTER TABLE subscribers ADD COLUMN time_zone TEXT NOT NULL DEFAULT '';
    """,
    # 15: the order bounce reports came in (digest.state.bounces.soft_streak), which
    # SQLite's rowid gave and PostgreSQL has no column for
    PerEngine(
        sqlite="""
        ALTER TABLE bounces ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
        UPDATE bounces SET seq = rowid;
        CREATE INDEX bounces_seq ON bounces (seq);
        """,
        postgresql="""
        ALTER TABLE bounces ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX bounces_seq ON bounces (seq);
        """),
    # 16: the topic edition each delivery row was sent ("markets+tech"; '' the full
    # issue), written as the message starts, read by `digest report`
    """
    ALTER TABLE deliveries ADD COLUMN variant TEXT NOT NULL DEFAULT ''
    """,
]


SCHEMA_VERSION = len(MIGRATIONS)


def statements(migration: str | PerEngine, engine: Dialect) -> list[str]:
    """A migration's statements as `engine` runs them."""
    if isinstance(migration, PerEngine):
        text = migration.postgresql if engine == "postgresql" else migration.sqlite
    else:
        text = migration
    found = [s.strip() for s in text.split(";") if s.strip()]
    if engine == "postgresql":
        from digest.state.postgres import ddl

        found = [ddl(s) for s in found]
    return found


def schema_version(conn: Any) -> int:
    """How many migrations have run on this database (0: none, or no database yet)."""
    if dialect(conn) == "sqlite":
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    if not conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()[0]:
        return 0
    row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(conn: Any, path: Where) -> None:
    if dialect(conn) == "postgresql":
        _migrate_postgres(conn, str(path))
        return
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise newer_schema(path, version, SCHEMA_VERSION)
    if version < SCHEMA_VERSION:
        # SQLite's way to copy a table: foreign keys off (a repaired database may keep
        # deliveries of a lost issue row; see digest.state.doctor), then as they were
        enforced = conn.execute("PRAGMA foreign_keys").fetchone()[0]
        conn.execute("PRAGMA foreign_keys = OFF")
        try:
            _migrate(conn, version)
        finally:
            conn.execute(f"PRAGMA foreign_keys = {int(enforced)}")


def _migrate(conn: sqlite3.Connection, version: int) -> None:
    for number in range(version, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in statements(MIGRATIONS[number], "sqlite"):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number + 1}")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def _migrate_postgres(conn: Any, url: str) -> None:
    """Every migration not run yet, in one transaction (PostgreSQL's DDL is
    transactional) under the write lock: two processes starting at once migrate once."""
    if schema_version(conn) == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
        version = schema_version(conn)
        if version > SCHEMA_VERSION:
            raise newer_schema(describe(url), version, SCHEMA_VERSION)
        for number in range(version, SCHEMA_VERSION):
            for statement in statements(MIGRATIONS[number], "postgresql"):
                conn.execute(statement)
        conn.execute("DELETE FROM schema_version")
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")

"""The state database: one SQLite file (WAL), schema versioned by PRAGMA user_version,
or a PostgreSQL database (`[state] url`: digest.state.postgres, the same queries).

Tables: feeds (validators, health), articles (everything collected, kept between
runs), issues (committed issues), issue_articles (which article an issue consumed,
where it went and why; an article belongs to at most one issue), plus the delivery
tables and the picture cache (images) added by later migrations.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from digest.clock import utcnow
from digest.config.schema import Config
from digest.errors import CommitLost, StateError
from digest.models import (
    Article,
    CachedImage,
    CachedPage,
    CuratedIssue,
    FeedState,
    Image,
    IssueRecord,
    IssueState,
)
from digest.state.backend import Connection, Where, describe
from digest.state.errors import (
    TranslatingConnection,
    damaged,
    first_problem,
    newer_schema,
    translated,
)
from digest.state.lock import state_lock
from digest.state.migrations import SCHEMA_VERSION, migrate, schema_version


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class Store:
    """A connection to the state database. Use `open_store` / `open_readonly`."""

    def __init__(self, conn: Connection, path: Path | None) -> None:
        self.conn = conn
        self.path = path

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error (on PostgreSQL: a
        transaction holding the write lock, digest.state.postgres)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            if self.conn.in_transaction:  # SQLite may have rolled back itself (disk full)
                self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # feeds -----------------------------------------------------------------

    def feed_states(self) -> dict[str, FeedState]:
        rows = self.conn.execute("SELECT * FROM feeds").fetchall()
        return {r["url"]: FeedState(**dict(r)) for r in rows}

    def save_feed_state(self, state: FeedState) -> None:
        self.conn.execute(
            """INSERT INTO feeds (url, name, etag, last_modified, last_status, last_error,
                                  failures, last_fetched, last_ok)
               VALUES (:url, :name, :etag, :last_modified, :last_status, :last_error,
                       :failures, :last_fetched, :last_ok)
               ON CONFLICT(url) DO UPDATE SET name=excluded.name, etag=excluded.etag,
                 last_modified=excluded.last_modified, last_status=excluded.last_status,
                 last_error=excluded.last_error, failures=excluded.failures,
                 last_fetched=excluded.last_fetched, last_ok=excluded.last_ok""",
            state.__dict__,
        )

    # articles --------------------------------------------------------------

    def known_ids(self, ids: Iterable[str]) -> set[str]:
        """Which of these articles are stored."""
        return self._present("SELECT id FROM articles WHERE id IN ({})", ids)

    def used_ids(self, ids: Iterable[str]) -> set[str]:
        """Which of these articles a committed issue has consumed."""
        return self._present(
            "SELECT article_id FROM issue_articles WHERE article_id IN ({})", ids)

    def _present(self, query: str, ids: Iterable[str]) -> set[str]:
        ids = list(ids)
        found: set[str] = set()
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            rows = self.conn.execute(query.format(",".join("?" * len(chunk))), chunk)
            found.update(r[0] for r in rows)
        return found

    def add_articles(self, articles: Iterable[Article], seen_at: datetime) -> int:
        """Insert articles not stored yet; return how many were new."""
        cur = self.conn.executemany(
            """INSERT INTO articles (id, feed_url, feed_name, url, title, summary,
                   body_html, category, author, image, published, first_seen, position,
                   undated, language, tags)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (id) DO NOTHING""",
            [
                (a.id, a.feed_url, a.feed_name, a.url, a.title, a.summary, a.body_html,
                 a.category, a.author, _image_json(a.image), _iso(a.published), _iso(seen_at),
                 a.position, int(a.undated), a.language, json.dumps(list(a.tags)))
                for a in articles
            ],
        )
        return cur.rowcount

    def unused_articles(self, bodies: bool = True) -> list[Article]:
        """Articles no committed issue has consumed yet. Without `bodies`, each has an
        empty body_html: curating needs no bodies, and 50,000 of them weigh 100 MB+;
        `with_bodies` fills in those of the stories placed."""
        body = "a.body_html" if bodies else "'' AS body_html"
        rows = self.conn.execute(
            f"""SELECT a.id, a.feed_url, a.feed_name, a.url, a.title, a.summary, {body},
                   a.category, a.author, a.image, a.published, a.first_seen, a.position,
                   a.undated, a.language, a.tags FROM articles a
               WHERE NOT EXISTS (SELECT 1 FROM issue_articles ia WHERE ia.article_id = a.id)
               ORDER BY a.first_seen, a.id"""
        )
        return [_article(r) for r in rows]

    def with_bodies(self, articles: Iterable[Article]) -> dict[str, Article]:
        """The articles with their stored body_html, by id."""
        full = {}
        for article in articles:
            row = self.conn.execute("SELECT body_html FROM articles WHERE id = ?",
                                    (article.id,)).fetchone()
            full[article.id] = replace(article, body_html=row[0]) if row else article
        return full

    @property
    def state_id(self) -> str:
        """A random id made with this database; issue manifests carry it."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'state_id'").fetchone()
        return str(row[0])

    # the picture cache -------------------------------------------------------

    def cached_page(self, url: str) -> CachedPage | None:
        """What enrichment last read from the article page at `url`."""
        row = self.conn.execute("SELECT * FROM pages WHERE url = ?", (url,)).fetchone()
        return CachedPage(**dict(row)) if row else None

    def save_pages(self, pages: Iterable[CachedPage], keep_days: int = 90) -> None:
        """Keep these pages' facts (one transaction); forget those read more than
        `keep_days` ago."""
        rows = [p.__dict__ for p in pages]
        if not rows:
            return
        cutoff = _iso(utcnow() - timedelta(days=keep_days))
        with self.transaction() as conn:
            conn.execute("DELETE FROM pages WHERE fetched_at < ?", (cutoff,))
            conn.executemany(
                """INSERT INTO pages (url, etag, last_modified, facts, fetched_at)
                   VALUES (:url, :etag, :last_modified, :facts, :fetched_at)
                   ON CONFLICT (url) DO UPDATE SET etag = excluded.etag,
                     last_modified = excluded.last_modified, facts = excluded.facts,
                     fetched_at = excluded.fetched_at""", rows)

    def cached_images(self, url: str) -> dict[str, CachedImage]:
        """The picture at `url` as made for each slot so far, by slot."""
        rows = self.conn.execute("SELECT * FROM images WHERE url = ?", (url,)).fetchall()
        return {r["slot"]: CachedImage(**{**dict(r), "data": bytes(r["data"])}) for r in rows}

    def save_images(self, images: Iterable[CachedImage], keep_days: int = 90) -> None:
        """Keep these pictures (one transaction), replacing what a slot had for a url,
        and forget those fetched more than `keep_days` ago (stories move on)."""
        rows = [i.__dict__ for i in images]
        if not rows:
            return
        cutoff = _iso(utcnow() - timedelta(days=keep_days))
        with self.transaction() as conn:
            conn.execute("DELETE FROM images WHERE fetched_at < ?", (cutoff,))
            conn.executemany(
                """INSERT INTO images (url, slot, etag, last_modified, source_width,
                       source_height, name, width, height, data, fetched_at)
                   VALUES (:url, :slot, :etag, :last_modified, :source_width, :source_height,
                           :name, :width, :height, :data, :fetched_at)
                   ON CONFLICT (url, slot) DO UPDATE SET etag = excluded.etag,
                     last_modified = excluded.last_modified,
                     source_width = excluded.source_width,
                     source_height = excluded.source_height, name = excluded.name,
                     width = excluded.width, height = excluded.height, data = excluded.data,
                     fetched_at = excluded.fetched_at""",
                rows)

    # issues ----------------------------------------------------------------

    def next_issue_number(self, after: int = 0) -> int:
        """One more than the last issue here, and than `after` (the last number in the
        outbox, which outlives a lost database)."""
        row = self.conn.execute("SELECT COALESCE(MAX(number), 0) FROM issues").fetchone()
        return max(int(row[0]), after) + 1

    def issue_for_slot(self, slot: str) -> IssueRecord | None:
        row = self.conn.execute("SELECT * FROM issues WHERE slot = ?", (slot,)).fetchone()
        return IssueRecord(**dict(row)) if row else None

    def issues(self) -> list[IssueRecord]:
        rows = self.conn.execute("SELECT * FROM issues ORDER BY number").fetchall()
        return [IssueRecord(**dict(r)) for r in rows]

    def get_issue(self, number: int) -> IssueRecord | None:
        row = self.conn.execute("SELECT * FROM issues WHERE number = ?", (number,)).fetchone()
        return IssueRecord(**dict(row)) if row else None

    def commit_issue(self, issue: CuratedIssue, subject: str, outbox_path: str, *,
                     state: IssueState = "built") -> None:
        """Record a written issue and consume its articles, in one transaction. State
        `recovered`: adopted from the outbox, whether it was sent is unknown."""
        with self.transaction() as conn:
            conn.execute(
                """INSERT INTO issues (number, slot, date, subject, outbox_path, state,
                                       created_at) VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (issue.number, issue.slot, issue.date.isoformat(timespec="seconds"), subject,
                 outbox_path, state, _iso(utcnow())),
            )
            conn.executemany(
                """INSERT INTO issue_articles (issue_number, article_id, section, position,
                                               reason) VALUES (?, ?, ?, ?, ?)""",
                [(issue.number, d.article_id, d.section, d.position, d.reason)
                 for d in issue.decisions],
            )
        self._confirm_issue(issue.number)

    def _confirm_issue(self, number: int) -> None:
        """Read the issue back through a new connection: a database file deleted or
        replaced while we held it open takes our commit with it, silently."""
        if self.path is None:
            return
        try:
            check = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            try:
                found = check.execute("SELECT 1 FROM issues WHERE number = ?",
                                      (number,)).fetchone()
            finally:
                check.close()
        except sqlite3.Error:
            found = None
        if not found:
            raise CommitLost(
                f"issue #{number} was written, but the state database {self.path} did not "
                "keep it (deleted or replaced while digest ran); check [state] path")

    def issue_articles(self, number: int) -> list[tuple[str, str, int, str]]:
        rows = self.conn.execute(
            """SELECT article_id, section, position, reason FROM issue_articles
               WHERE issue_number = ? ORDER BY section, position""",
            (number,),
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def _image_json(image: Image | None) -> str | None:
    return json.dumps(image.__dict__, sort_keys=True) if image else None


def _article(row: Any) -> Article:
    image = json.loads(row["image"]) if row["image"] else None
    return Article(
        id=row["id"], feed_url=_shared(row["feed_url"]), feed_name=_shared(row["feed_name"]),
        url=row["url"], title=row["title"], summary=row["summary"], body_html=row["body_html"],
        category=_shared(row["category"]), author=_shared(row["author"]),
        image=Image(**image) if image else None,
        published=_dt(row["published"]), first_seen=_dt(row["first_seen"]),
        position=row["position"], undated=bool(row["undated"]),
        language=_shared(row["language"]),
        tags=tuple(_shared(str(t)) for t in json.loads(row["tags"] or "[]")),
    )


def _shared(value: Any) -> Any:
    """One copy of a value many articles repeat (their feed's url and name, category,
    author, language, tags): 50,000 candidates hold 1,000 feeds' (issue 19, peak RSS)."""
    return sys.intern(value) if type(value) is str else value


def _connect(uri: str, path: Path | None) -> TranslatingConnection:
    """A connection whose database and disk failures are StateErrors naming the file."""
    with translated(path):
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30,
                               factory=TranslatingConnection)
    conn.path = path
    conn.row_factory = sqlite3.Row
    try:
        conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    return conn


def open_store(path: Where) -> Store:
    """Open (creating and migrating as needed) the state database for writing.

    Everything that would stop the command later stops it here, before any work: a
    newer schema, a damaged file, a file or folder this process cannot write (or, for
    PostgreSQL, a server that cannot be reached)."""
    if isinstance(path, str):
        return _open_postgres(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StateError(f"cannot create {path.parent}: {e.strerror}; check [state] path") from None
    conn = _connect(f"file:{path}", path)
    try:
        version = _check(conn, path)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        _probe_write(conn, version)
        migrate(conn, path)
    except BaseException:
        conn.close()
        raise
    return Store(conn, path)


def open_readonly(path: Where) -> Store:
    """Open the state database without changing a byte of it (for previews).

    A missing database reads as an empty one (an in-memory copy of the schema)."""
    if isinstance(path, str):
        return _open_postgres(path, readonly=True)
    if not path.exists():
        conn = _connect("file::memory:", None)
        migrate(conn, path)
        return Store(conn, None)
    conn = _connect(f"file:{path}?mode=ro", path)
    try:
        conn.execute("PRAGMA user_version")  # SQLite opens the file lazily: here
    except StateError:
        conn.close()
        wal = path.with_name(path.name + "-wal")
        if os.access(path.parent, os.W_OK) or (wal.exists() and wal.stat().st_size):
            raise
        # A read-only folder (a read-only mount, a backup) where SQLite cannot make the
        # WAL index: nothing can write there, so the file can be read as immutable.
        conn = _connect(f"file:{path}?mode=ro&immutable=1", path)
    try:
        version = _check(conn, path)
        if version != SCHEMA_VERSION:
            raise StateError(
                f"state database {path} is at schema {version}, this digest expects "
                f"{SCHEMA_VERSION}; run `digest collect` once to migrate it")
    except BaseException:
        conn.close()
        raise
    return Store(conn, path)


def _check(conn: sqlite3.Connection, path: Path) -> int:
    """The schema version, once the file is known to be one this digest can read and
    SQLite's quick check finds nothing wrong (it reads every page: a few ms per MB)."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise newer_schema(path, version, SCHEMA_VERSION)
    problems = [str(row[0]) for row in conn.execute("PRAGMA quick_check(3)")]
    if problems != ["ok"]:
        raise damaged(path, f"quick check: {first_problem(problems)}")
    return version


def _probe_write(conn: sqlite3.Connection, version: int) -> None:
    """Fail now, not half-way through the command, when the file cannot be written:
    a write that is rolled back leaves the file as it was."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(f"PRAGMA user_version = {version}")
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")


@contextmanager
def locked_store(config: Config) -> Iterator[Store]:
    """The state database for writing, under the state lock: what every command that
    changes state opens (`with locked_store(config) as store:`); closed, then unlocked."""
    with state_lock(config.state_db, config.state.lock_timeout), \
            open_store(config.state_db) as store:
        yield store


def _open_postgres(url: str, readonly: bool = False) -> Store:
    """The PostgreSQL state database at `url`, migrated; or, `readonly`, on a session of
    its own that the server keeps read-only (a database never migrated reads as empty,
    from temporary tables of that session only)."""
    from digest.state import postgres

    conn = postgres.connect(url, pooled=not readonly)
    try:
        version = schema_version(conn)
        if version > SCHEMA_VERSION:
            raise newer_schema(describe(url), version, SCHEMA_VERSION)
        if not readonly:
            migrate(conn, url)
        elif version == 0:
            conn.execute("SET search_path = pg_temp")
            migrate(conn, url)
        elif version != SCHEMA_VERSION:
            raise StateError(
                f"state database {describe(url)} is at schema {version}, this digest "
                f"expects {SCHEMA_VERSION}; run `digest collect` once to migrate it")
        if readonly:
            conn.execute("SET default_transaction_read_only = on")
    except BaseException:
        conn.close()
        raise
    return Store(conn, None)

"""The state layer's queries, the same on both backends: a real SQLite file and a real
PostgreSQL server (tests/postgres_server.py; skipped, saying so, where PostgreSQL is
not installed). Each test runs once per backend through the `state_db` fixture."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from digest.errors import StateError
from digest.models import Article, CachedImage, CachedPage, CuratedIssue, Decision, FeedState
from digest.state.bounces import BounceLog
from digest.state.confirmations import Confirmations
from digest.state.deliveries import DeliveryLog, Subscriber, Subscribers
from digest.state.migrations import SCHEMA_VERSION, schema_version
from digest.state.ratelimits import RateLimits
from digest.state.store import open_readonly, open_store

SEEN = datetime(2026, 11, 30, 8, tzinfo=UTC)


def _article(i: int, **changes: object) -> Article:
    fields: dict[str, object] = dict(
        id=f"a{i}", feed_url="https://example.org/feed", feed_name="Wire",
        url=f"https://example.org/{i}", title=f"Story {i} 100% true", summary="s",
        body_html=f"<p>body {i}</p>", category="World", author="Ann",
        published=datetime(2026, 11, 29, i % 24, tzinfo=UTC), position=i, undated=i % 2 == 1,
        language="en", tags=("a", "ü"))
    fields.update(changes)
    return Article(**fields)  # type: ignore[arg-type]


def _integrity(state_db: Path | str) -> type[Exception]:
    if isinstance(state_db, str):
        import psycopg

        return psycopg.IntegrityError
    return sqlite3.IntegrityError


def _issue(number: int, ids: list[str], slot: str | None = None) -> CuratedIssue:
    return CuratedIssue(number=number, date=SEEN, big_story=None, need_to_know=(),
                        read_more=(), coming_up=(), slot=slot, decisions=tuple(
                            Decision(i, "read_more", n, "ranked") for n, i in enumerate(ids)))


def test_articles_and_issues(state_db: Path | str) -> None:
    with open_store(state_db) as store:
        assert store.add_articles([_article(i) for i in range(5)], SEEN) == 5
        assert store.add_articles([_article(i) for i in range(3, 8)], SEEN) == 3  # 3, 4 known
        assert store.known_ids(["a1", "a7", "zz"]) == {"a1", "a7"}
        unused = store.unused_articles()
        assert [a.id for a in unused] == [f"a{i}" for i in range(8)]
        assert unused[1] == _article(1, first_seen=SEEN)
        assert store.unused_articles(bodies=False)[0].body_html == ""
        assert store.with_bodies([unused[2]])["a2"].body_html == "<p>body 2</p>"

        assert store.next_issue_number() == 1
        store.commit_issue(_issue(1, ["a0", "a2"], slot="2026-11-30"), "Subject 1", "0001")
        assert store.next_issue_number(after=4) == 5
        assert store.used_ids(["a0", "a1", "a2"]) == {"a0", "a2"}
        assert [a.id for a in store.unused_articles()] == ["a1", *[f"a{i}" for i in range(3, 8)]]
        record = store.issue_for_slot("2026-11-30")
        assert record is not None and record.number == 1 and record.state == "built"
        assert store.get_issue(1) == record and store.issues() == [record]
        assert store.issue_articles(1) == [("a0", "read_more", 0, "ranked"),
                                           ("a2", "read_more", 1, "ranked")]
        assert len(store.state_id) == 32 and int(store.state_id, 16) >= 0
        with pytest.raises(_integrity(state_db)):  # an article is in one issue at most
            store.commit_issue(_issue(2, ["a0"]), "Subject 2", "0002")
        assert store.next_issue_number() == 2  # the failed commit left nothing


def test_feeds_pages_and_images(state_db: Path | str) -> None:
    feed = FeedState("https://example.org/feed", "Wire", '"e1"', None, "ok", None, 0,
                     "2026-11-30T08:00:00+00:00", "2026-11-30T08:00:00+00:00")
    picture = bytes(range(256)) * 4
    with open_store(state_db) as store:
        store.save_feed_state(feed)
        store.save_feed_state(FeedState(**{**feed.__dict__, "failures": 2, "etag": None}))
        assert store.feed_states()[feed.url].failures == 2
        assert store.feed_states()[feed.url].etag is None
        now = datetime.now(UTC).isoformat(timespec="seconds")
        page = CachedPage("https://example.org/1", None, None, '{"a": 1}', now)
        store.save_pages([page])
        store.save_pages([CachedPage(**{**page.__dict__, "facts": '{"a": 2}'})])
        assert store.cached_page(page.url) == CachedPage(**{**page.__dict__, "facts": '{"a": 2}'})
        image = CachedImage("https://example.org/p.jpg", "wide", None, None, 800, 600, "p.jpg",
                            600, 300, picture, now)
        store.save_images([image])
        store.save_images([CachedImage(**{**image.__dict__, "width": 300})])
        assert store.cached_images(image.url) == {
            "wide": CachedImage(**{**image.__dict__, "width": 300})}


def test_delivery_log_and_suppressions(state_db: Path | str) -> None:
    with open_store(state_db) as store:
        store.commit_issue(_issue(1, []), "Subject", "0001")
    log = DeliveryLog.open_shared(state_db)
    try:
        rows = [("ann@example.net", "Ann@example.net", "<m1>"),
                ("bo@example.net", "bo@example.net", "<m2>")]
        assert log.add_pending(1, rows) == 2
        assert log.add_pending(1, rows) == 0
        log.mark(1, "ann@example.net", "sending", attempt=True)
        log.mark(1, "bo@example.net", "delivered", "250 ok", attempt=True)
        assert log.counts(1)["sending"] == 1 and log.counts(1)["delivered"] == 1
        assert log.in_flight_by_issue() == {1: 1}
        assert [d.email for d in log.in_state(1, "sending")] == ["ann@example.net"]
        assert log.rows(1)["bo@example.net"].last_reply == "250 ok"
        assert log.mark_in_flight(1, "deferred", "retry") == 1
        assert log.rows(1)["ann@example.net"].attempts == 1

        assert log.suppress("cy@example.net", "unsubscribed")
        assert not log.suppress("cy@example.net", "unsubscribed")
        with open_store(state_db) as store:  # a row written before keys were normalised
            store.conn.execute("INSERT INTO suppressions (email, reason, created_at) "
                               "VALUES (?, 'complaint', 'x')", (" Dee@Example.net\n",))
        assert log.unwanted("dee@example.net") == "complaint"
        assert not log.suppress("dee@example.net", "unsubscribed")
        assert log.suppressed() == {"cy@example.net", "dee@example.net"}
        assert log.suppression_count() == 2
        assert log.unsuppress("dee@example.net") and not log.unsuppress("dee@example.net")
        log.mark(1, "bo@example.net", "suppressed")
        assert log.add_pending(1, rows) == 1  # back on the list: owed the issue again
        log.set_issue_state(1, "sent")
    finally:
        log.close()


def test_subscribers_and_confirmations(state_db: Path | str) -> None:
    open_store(state_db).close()
    t0 = 1_796_025_600_000
    with Subscribers.opened(state_db) as subscribers:
        assert subscribers.upsert([Subscriber("Ann@example.net", "active", "Ann", "csv"),
                                   Subscriber("bo@example.net", "unsubscribed")]) == (2, 0)
        assert subscribers.upsert([Subscriber("ann@example.net", "active", "Annie")]) == (0, 1)
        got = subscribers.get("ANN@example.net")
        assert got is not None and got.email == "ann@example.net" and got.source == "csv"
        assert [s.email for s in subscribers.each("active")] == ["ann@example.net"]
        assert subscribers.suppression_reasons() == {"bo@example.net": "unsubscribed"}

        assert subscribers.request("cy@example.net", "Cy", t0) == "queued"
        assert subscribers.request("cy@example.net", "Cy", t0 + 1000) == "slot"
        assert subscribers.request("ann@example.net", "", t0) == "active"
        assert subscribers.confirm("cy@example.net", t0, "192.0.2.1", t0 + 5000) == "active"
        assert subscribers.confirm("cy@example.net", t0, "192.0.2.1", t0 + 6000) == "already"
        subscribers.unsubscribe("cy@example.net", t0 + 7000)
        assert subscribers.confirm("cy@example.net", t0, "192.0.2.1", t0 + 8000) == "refused"
        got = subscribers.get("cy@example.net")
        assert got is not None and got.status == "unsubscribed"
        subscribers.unsubscribe("new@example.net", t0)
        assert subscribers.request("new@example.net", "", t0 + 1) == "queued"

    with Confirmations.opened(state_db) as queue:
        job = queue.next_due(t0 + 10)
        assert job is not None and job.email == "cy@example.net" and job.issued_ms == t0
        queue.retry(job, t0 + 60_000, "421 later")
        assert queue.next_due(t0 + 10) is not None  # new@'s
        assert queue.next_time() == t0 + 1
        queue.sent(job, t0 + 70_000)
        assert queue.states("cy@example.net") == ["sent", "skipped"]
        later = t0 + 10 * 86_400_000
        assert queue.expire(later, 86_400_000) == (0, 4)  # no web sign-up pending; every row
        assert queue.next_due(later) is None


def test_rate_limits(state_db: Path | str) -> None:
    open_store(state_db).close()
    limits = RateLimits(state_db)
    try:
        now = 1_796_025_600.25
        assert [limits.take(b"\x00k\xff", now, 3, 60) for _ in range(4)] == [True] * 3 + [False]
        assert limits.take(b"other", now, 3, 60)
        assert limits.take(b"\x00k\xff", now + 20.5, 3, 60)  # one freed every 20 s
        assert limits.size() == 2
        for i in range(40):  # spent rows are expired as events go by
            limits.take(bytes([i]), now + 1000, 1, 1)
        assert limits.size() <= 40
    finally:
        limits.close()


def test_bounce_log_order(state_db: Path | str) -> None:
    with open_store(state_db) as store:
        log = BounceLog(store.conn)
        assert log.record("<m1>", "ann@example.net", "soft", "mailbox full")
        assert not log.record("<m1>", "ann@example.net", "soft", "mailbox full")
        log.unreadable("<m9>", "no address")
        assert log.seen("<m9>") and log.seen("<m1>") and not log.seen("<m2>")
        # Reports of one second: only the order they came in tells the newest.
        assert log.record("<m2>", "ann@example.net", "hard", "no such user")
        assert log.record("<m3>", "ann@example.net", "soft", "full")
        assert log.soft_streak("ann@example.net") == 1
        assert log.mailed() == (set(), set())


def test_migrations_run_once_and_readonly_opens(state_db: Path | str) -> None:
    with open_readonly(state_db) as store:  # no database yet: reads as empty
        assert store.issues() == [] and store.unused_articles() == []
    for _ in range(2):
        with open_store(state_db) as store:
            assert schema_version(store.conn) == SCHEMA_VERSION
            state_id = store.state_id
            store.add_articles([_article(1)], SEEN)
    with open_readonly(state_db) as store:
        assert store.state_id == state_id
        assert [a.id for a in store.unused_articles()] == ["a1"]


def test_write_transactions_run_one_at_a_time(state_db: Path | str) -> None:
    """BEGIN IMMEDIATE (SQLite's write lock; PostgreSQL's advisory write lock): a second
    writer waits for the first to commit, then sees its rows."""
    first = open_store(state_db)
    seen: list[int] = []
    try:
        with first.transaction() as conn:
            conn.execute("INSERT INTO meta (key, value) VALUES ('k1', 'v')")

            def write() -> None:
                with open_store(state_db) as second, second.transaction() as other:
                    seen.append(len(other.execute("SELECT key FROM meta").fetchall()))
                    other.execute("INSERT INTO meta (key, value) VALUES ('k2', 'v')")

            thread = threading.Thread(target=write)
            thread.start()
            time.sleep(0.5)
            assert seen == []  # waiting for the write lock
        thread.join(10)
        assert seen == [2]  # state_id and k1
    finally:
        first.close()


def _columns_sqlite(path: Path) -> dict[str, list[str]]:
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: [r[1] for r in conn.execute(f'PRAGMA table_info("{t}")')] for t in tables}
    finally:
        conn.close()


def test_both_engines_make_the_same_schema(tmp_path: Path, postgres_url: str) -> None:
    """The same migrations give the same tables and columns on both engines (plus
    PostgreSQL's schema_version, where SQLite has PRAGMA user_version)."""
    from digest.state import postgres

    open_store(tmp_path / "state.db").close()
    open_store(postgres_url).close()
    conn = postgres.connect(postgres_url)
    try:
        rows = conn.execute(
            """SELECT table_name, column_name FROM information_schema.columns
               WHERE table_schema = 'public' ORDER BY table_name, ordinal_position""").fetchall()
        indexes = {r[0] for r in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}
    finally:
        conn.close()
    found: dict[str, list[str]] = {}
    for table, column in rows:
        found.setdefault(table, []).append(column)
    assert found.pop("schema_version") == ["version"]
    assert found == _columns_sqlite(tmp_path / "state.db")
    assert {"suppressions_key", "deliveries_state", "bounces_seq", "confirmations_due",
            "rate_limits_free_at", "articles_url"} <= indexes


def test_subscribers_stream_past_a_batch(state_db: Path | str) -> None:
    """More subscribers than one server-side batch (digest.state.postgres.STREAM_BATCH)
    come back, all of them, in order."""
    open_store(state_db).close()
    people = [Subscriber(f"r{i:05d}@example.net", "active", created_at="2026-11-30T08:00:00")
              for i in range(4500)]
    with Subscribers.opened(state_db) as subscribers:
        assert subscribers.upsert(people) == (4500, 0)
        streamed = subscribers.each("active")
        first = next(streamed)
        assert subscribers.get("r00001@example.net") is not None  # the connection stays usable
        rest = [s.email for s in streamed]
    assert [first.email, *rest] == [p.email for p in people]


def test_quoted_text_and_percent_signs_reach_the_engine_as_written(state_db: Path | str) -> None:
    """`?`, `:name` and `%` inside quoted text are text, not parameters, on both engines."""
    with open_store(state_db) as store:
        row = store.conn.execute(
            "SELECT '100% ?:x', ? || '%', 7 % 4, :n FROM meta WHERE key LIKE 'state%'"
            .replace(":n", "?"), ("a", 3)).fetchone()
        assert tuple(row) == ("100% ?:x", "a%", 3, 3)


def test_a_readonly_store_cannot_write(state_db: Path | str) -> None:
    open_store(state_db).close()
    with open_readonly(state_db) as store, pytest.raises(StateError) as caught:
        store.conn.execute("INSERT INTO meta (key, value) VALUES ('x', 'y')")
    assert "read-only" in str(caught.value) or "readonly" in str(caught.value)

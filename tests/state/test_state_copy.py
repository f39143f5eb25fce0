"""`digest state copy --to URL`: a SQLite state with issues, a delivery log,
subscribers, suppressions, bounces and confirmations, copied into an empty PostgreSQL
database (a real server), counted on both sides; the copy then carries on where the
file left off. A database that is not empty is refused."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from digest.state.bounces import BounceLog
from digest.state.deliveries import Subscribers
from digest.state.store import open_readonly, open_store
from tests.helpers import config_with, error_line, rss, run
from tests.smtp_server import Recorder, SmtpServer

READERS = ["ann@example.net", "bo@example.net"]
T0 = 1_796_025_600_000


def _counts(conn: object, tables: list[str]) -> dict[str, int]:
    return {t: int(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0])  # type: ignore[attr-defined]
            for t in tables}


def test_copy_into_postgresql_and_carry_on(tmp_path: Path, postgres_url: str) -> None:
    with SmtpServer(Recorder()) as smtp:
        config = config_with(tmp_path, [{"url": "feed.xml", "name": "Wire"}],
                             f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\n'
                             'security = "none"\nconnections = 1\ntimeout = 10\n')
        config.write_text(config.read_text("utf-8").replace(
            'recipients = ["editor@example.com"]',
            f'mode = "smtp"\nrecipients = {json.dumps(READERS)}'), "utf-8")
        (tmp_path / "feed.xml").write_bytes(rss(5, "Alpha"))
        run(config, "build", expect=0)
        run(config, "send", expect=0)
    state = tmp_path / ".digest" / "state.db"
    with open_store(state) as store:
        subscribers = Subscribers(store.conn)
        subscribers.unsubscribe("gone@example.net", T0)
        assert subscribers.request("new@example.net", "New", T0) == "queued"
        BounceLog(store.conn).record("<m1>", "bo@example.net", "soft", "full")
        state_id = store.state_id
    tables = [r[0] for r in sqlite3.connect(state).execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    before = _counts(sqlite3.connect(state), tables)

    copied = run(config, "state", "copy", "--to", postgres_url, expect=0)
    assert "the counts match" in copied.output
    assert "deliveries: 2 row(s)" in copied.output

    from digest.state import postgres

    conn = postgres.connect(postgres_url)
    try:
        assert _counts(conn, tables) == before
    finally:
        conn.close()
    with open_readonly(postgres_url) as store:
        assert store.state_id == state_id  # the outbox's issues are this state's
        assert [i.number for i in store.issues()] == [1]
    with Subscribers.opened(postgres_url) as subscribers:  # a new queue row numbers on
        assert subscribers.request("later@example.net", "", T0 + 1) == "queued"

    with_url = config.with_name("pg.toml")
    with_url.write_text(config.read_text("utf-8") + f'\n[state]\nurl = "{postgres_url}"\n',
                        "utf-8")
    (tmp_path / "feed.xml").write_bytes(rss(5, "Beta"))
    run(with_url, "build", expect=0)
    with open_readonly(postgres_url) as store:
        assert [i.number for i in store.issues()] == [1, 2]
        first = {a for a, *_ in store.issue_articles(1)}
        second = {a for a, *_ in store.issue_articles(2)}
        assert first and second and not first & second  # nothing used twice

    again = error_line(run(config, "state", "copy", "--to", postgres_url, expect=1))
    assert "is not empty" in again and "createdb" in again

"""`digest send` on a state database an older digest left (schema 8, before the
confirmations, rate-limit and copied delivery tables) migrates it and sends, as it did
before the send-order check was added: the check read the file read-only and refused
"run `digest collect` once to migrate it", so a cron `digest send` stopped working on
the first run after an upgrade. Real SQLite file, real aiosmtpd."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from digest.state.migrations import SCHEMA_VERSION
from tests.helpers import config_with, rss, run
from tests.smtp_server import Recorder, SmtpServer

READERS = ["ann@example.net", "bo@example.net"]


def _as_schema_8(state: Path) -> None:
    """What migrations 9-16 added, taken away again (the deliveries table is empty)."""
    conn = sqlite3.connect(state)
    conn.executescript("DROP TABLE unsubscribes; DROP INDEX bounces_issue; "
                       "DROP INDEX deliveries_email; ALTER TABLE bounces DROP COLUMN "
                       "issue_number;")
    conn.executescript("DROP TABLE confirmations; DROP TABLE rate_limits; "
                       "DROP INDEX suppressions_key; PRAGMA user_version = 8;")
    # and what later migrations added to older tables
    conn.executescript("ALTER TABLE subscribers DROP COLUMN topics; "  # 13
                       "ALTER TABLE subscribers DROP COLUMN time_zone; "  # 14
                       "DROP INDEX bounces_seq; ALTER TABLE bounces DROP COLUMN seq;")  # 15
    conn.close()


def test_send_migrates_an_older_database_and_sends(tmp_path: Path) -> None:
    with SmtpServer(Recorder()) as smtp:
        config = config_with(tmp_path, [{"url": "feed.xml", "name": "Wire"}],
                             f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\n'
                             'security = "none"\nconnections = 1\ntimeout = 10\n')
        config.write_text(config.read_text("utf-8").replace(
            'recipients = ["editor@example.com"]',
            f'mode = "smtp"\nrecipients = {json.dumps(READERS)}'), "utf-8")
        (tmp_path / "feed.xml").write_bytes(rss(5, "Alpha"))
        run(config, "build", expect=0)
        state = tmp_path / ".digest" / "state.db"
        _as_schema_8(state)

        sent = run(config, "send", expect=0)
        assert "schema 8" not in sent.output, sent.output
        assert sorted(smtp.handler.counts) == READERS
        assert sqlite3.connect(state).execute("PRAGMA user_version").fetchone()[0] == \
            SCHEMA_VERSION

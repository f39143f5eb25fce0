"""The commands through their front door, on each backend: with DIGEST_DATABASE_URL
set (the `state_db` fixture), `digest build`, `send`, `subscribers` and `status` keep
their state in PostgreSQL and leave no SQLite file behind; without it, in the file."""

from __future__ import annotations

import json
from pathlib import Path

from digest.state.store import open_readonly
from tests.helpers import config_with, rss, run
from tests.smtp_server import Recorder, SmtpServer

READERS = ["ann@example.net", "bo@example.net"]


def test_build_then_send_over_smtp(tmp_path: Path, state_db: Path | str) -> None:
    with SmtpServer(Recorder()) as smtp:
        config = config_with(tmp_path, [{"url": "feed.xml", "name": "Wire"}],
                             f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\n'
                             'security = "none"\nconnections = 2\ntimeout = 10\n')
        config.write_text(config.read_text("utf-8").replace(
            'recipients = ["editor@example.com"]',
            f'mode = "smtp"\nrecipients = {json.dumps(READERS)}'), "utf-8")
        (tmp_path / "feed.xml").write_bytes(rss(5, "Alpha"))
        run(config, "build", expect=0)
        run(config, "send", expect=0)
        assert sorted(smtp.handler.counts) == READERS
        again = run(config, "send", expect=0)  # nothing is sent twice
        assert sorted(smtp.handler.counts) == READERS, again.output
        status = run(config, "status", "1", expect=0).output
        assert "delivered" in status and "2" in status, status
        (tmp_path / "feed.xml").write_bytes(rss(5, "Beta"))
        run(config, "build", expect=0)
    file = tmp_path / ".digest" / "state.db"
    assert file.exists() == (not isinstance(state_db, str))
    with open_readonly(state_db) as store:
        assert [i.number for i in store.issues()] == [1, 2]
        assert len(store.unused_articles()) == 0


def test_subscribers_import_and_list(tmp_path: Path, state_db: Path | str) -> None:
    config = config_with(tmp_path)
    (tmp_path / "people.csv").write_text(
        "email,name,status\nann@example.net,Ann,active\nbo@example.net,Bo,unsubscribed\n",
        "utf-8")
    run(config, "subscribers", "import", str(tmp_path / "people.csv"), expect=0)
    listed = run(config, "subscribers", "list", expect=0)
    assert "ann@example.net" in listed.output
    assert (tmp_path / ".digest" / "state.db").exists() == (not isinstance(state_db, str))

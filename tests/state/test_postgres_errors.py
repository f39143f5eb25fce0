"""PostgreSQL failures read like SQLite's: one line naming the database (its URL, never
its password) and what to do, no traceback. A real server, stopped under the command
(pg_ctl stop) and under an open connection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from digest.errors import StateError
from digest.state.deliveries import DeliveryLog
from digest.state.store import open_store
from tests.helpers import config_with, error_line, rss, run


def _with_password(url: str) -> str:
    return url.replace("postgresql://postgres@", "postgresql://postgres:sekret@")


def test_a_stopped_server_is_one_line(tmp_path: Path, postgres_server: Any,
                                      postgres_url: str) -> None:
    url = _with_password(postgres_url)
    config = config_with(tmp_path, [{"url": "feed.xml", "name": "Wire"}],
                         f'[state]\nurl = "{url}"\n')
    (tmp_path / "feed.xml").write_bytes(rss(3))
    run(config, "build", expect=0)
    postgres_server.stop()
    result = run(config, "collect", expect=1)
    line = error_line(result)
    assert "sekret" not in result.output
    assert postgres_url.split("//")[1].split("/")[0] in line  # user@host:port
    assert "cannot reach PostgreSQL state database" in line
    assert "check that the server is running" in line


def test_a_connection_lost_mid_run_is_a_state_error(postgres_server: Any,
                                                    postgres_url: str) -> None:
    open_store(postgres_url).close()
    log = DeliveryLog.open_shared(postgres_url)
    try:
        assert log.counts(1)["pending"] == 0
        postgres_server.stop()
        with pytest.raises(StateError) as caught:
            log.counts(1)
    finally:
        log.close()
    message = str(caught.value)
    assert "\n" not in message and "PostgreSQL state database" in message
    assert "run the command again" in message


def test_a_url_that_is_not_postgresql_says_what_to_write(tmp_path: Path) -> None:
    config = config_with(tmp_path, extra='[state]\nurl = "mysql://u:pw@host/db"\n')
    line = error_line(run(config, "collect", expect=1))
    assert "[state] url" in line and "postgresql://user@host/dbname" in line
    assert "pw" not in line


def test_doctor_says_it_is_for_sqlite_files(tmp_path: Path, postgres_url: str) -> None:
    config = config_with(tmp_path, extra=f'[state]\nurl = "{postgres_url}"\n')
    line = error_line(run(config, "doctor", expect=1))
    assert "SQLite state file" in line and "pg_amcheck" in line


def test_a_missing_database_says_create_it(tmp_path: Path, postgres_server: Any) -> None:
    config = config_with(tmp_path, extra=f'[state]\nurl = "{postgres_server.url("absent")}"\n')
    line = error_line(run(config, "collect", expect=1))
    assert "/absent does not exist" in line and "createdb" in line


def test_a_newer_schema_says_upgrade_digest(tmp_path: Path, postgres_url: str) -> None:
    from digest.state import postgres
    from digest.state.migrations import SCHEMA_VERSION

    open_store(postgres_url).close()
    conn = postgres.connect(postgres_url)
    try:
        conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    finally:
        conn.close()
    config = config_with(tmp_path, extra=f'[state]\nurl = "{postgres_url}"\n')
    for command in (("collect",), ("status",)):
        line = error_line(run(config, *command, expect=1))
        assert f"is at schema {SCHEMA_VERSION + 1}, newer than this digest" in line
        assert line.endswith("upgrade digest")


def test_a_pooled_connection_outlives_a_server_restart(postgres_server: Any, postgres_url: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection idle in the pool when the server restarted is checked before use
    (after CHECK_IDLE seconds idle; 0 here) and replaced: the next web request works."""
    from digest.state import postgres
    from digest.state.deliveries import Subscribers

    monkeypatch.setattr(postgres, "CHECK_IDLE", 0.0)
    open_store(postgres_url).close()  # its connection waits in the pool
    postgres_server.stop()
    postgres_server.start()
    with Subscribers.opened(postgres_url) as subscribers:
        assert subscribers.get("ann@example.net") is None

"""The state lock on PostgreSQL is an advisory lock: a second command (any machine)
waits `[state] lock_timeout`, then names the holder; `[state] url` wins over
DIGEST_DATABASE_URL. A real server."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from digest.state.lock import state_lock
from tests.helpers import config_with, error_line, rss, run


def test_a_second_command_waits_then_names_the_holder(tmp_path: Path,
                                                      postgres_url: str) -> None:
    config = config_with(tmp_path, [{"url": "feed.xml", "name": "Wire"}],
                         f'[state]\nurl = "{postgres_url}"\nlock_timeout = 0.5\n')
    (tmp_path / "feed.xml").write_bytes(rss(3))
    with state_lock(postgres_url, 0):
        started = time.monotonic()
        line = error_line(run(config, "collect", expect=1))
        assert time.monotonic() - started >= 0.5
    assert "another digest process holds the state lock of postgresql://" in line
    assert "(digest pid " in line and "waited 0.5s" in line
    run(config, "collect", expect=0)  # released with its connection


def test_the_config_url_wins_over_the_environment(tmp_path: Path, postgres_url: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    config = config_with(tmp_path, [{"url": "feed.xml", "name": "Wire"}],
                         f'[state]\nurl = "{postgres_url}"\n')
    (tmp_path / "feed.xml").write_bytes(rss(3))
    run(config, "build", expect=0)
    assert not (tmp_path / ".digest" / "state.db").exists()

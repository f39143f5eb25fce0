"""Two `digest run` daemons on one PostgreSQL state database (as on two machines): the
first leads (an advisory lock), the second waits as a standby; kill -9 the leader and
the standby takes over and builds the next slot, and no issue is built twice. Real
subprocesses, a real PostgreSQL server, a seconds-apart schedule."""

from __future__ import annotations

import re
import signal
from pathlib import Path

from digest.state.store import open_readonly
from tests.helpers import Digest, config_with, rss, set_schedule


def count(lines: list[str], pattern: str) -> int:
    return sum(1 for line in lines if re.search(pattern, line))


def test_the_standby_takes_over_when_the_leader_is_killed(tmp_path: Path,
                                                         postgres_url: str) -> None:
    config = config_with(tmp_path, [{"url": "feed.xml", "name": "Wire"}],
                         f'[state]\nurl = "{postgres_url}"\n')
    set_schedule(config, 'collect_every = "1h"\nissue = "*/3 * * * * *"\n'
                         'misfire_grace = "1h"')
    (tmp_path / "feed.xml").write_bytes(rss(5, "Alpha"))
    leader = Digest(config, "run")
    standby = None
    try:
        leader.wait_for(lambda ls: count(ls, r"INFO digest.run issue: slot .*: built issue #1") == 1)
        standby = Digest(config, "run")
        standby.wait_for(lambda ls: count(ls, rf"standby: digest pid {leader.proc.pid}: .* leads "
                                              r"for postgresql://") == 1)
        leader.proc.kill()  # SIGKILL: no goodbye; its session ends, and its locks
        assert leader.finish() == -signal.SIGKILL
        (tmp_path / "feed.xml").write_bytes(rss(5, "Beta"))
        standby.wait_for(lambda ls: count(ls, r"INFO digest.run issue: slot .*: built issue #2") == 1,
                         timeout=30)
        assert count(standby.lines, r"leading for postgresql://") == 1
    finally:
        if leader.proc.poll() is None:
            leader.proc.kill()
            leader.finish()
        if standby is not None:
            standby.proc.send_signal(signal.SIGTERM)
            assert standby.finish() == 0, standby.log
    assert count(leader.lines + (standby.lines if standby else []), r"built issue #1") == 1
    with open_readonly(postgres_url) as store:
        issues = store.issues()
    assert [i.number for i in issues] == [1, 2]
    assert len({i.slot for i in issues}) == 2
    assert not (tmp_path / ".digest" / "state.db").exists()
    assert len([p for p in (tmp_path / "outbox").iterdir() if p.is_dir()]) == 2


def test_a_standby_stops_on_sigterm_without_leading(tmp_path: Path, postgres_url: str) -> None:
    config = config_with(tmp_path, [{"url": "feed.xml", "name": "Wire"}],
                         f'[state]\nurl = "{postgres_url}"\n')
    set_schedule(config, 'collect_every = "1h"\nissue = "0 8 * * MON"')
    (tmp_path / "feed.xml").write_bytes(rss(5, "Alpha"))
    leader = Digest(config, "run")
    try:
        leader.wait_for(lambda ls: count(ls, r"leading for ") == 1)
        standby = Digest(config, "run")
        standby.wait_for(lambda ls: count(ls, r"standby: ") == 1)
        standby.proc.send_signal(signal.SIGTERM)
        assert standby.finish() == 0, standby.log
        assert count(standby.lines, r"stopped \(a standby, never leading\)") == 1
        assert count(standby.lines, r"digest run \(pid") == 0  # never started its jobs
    finally:
        leader.proc.send_signal(signal.SIGTERM)
    assert leader.finish() == 0, leader.log

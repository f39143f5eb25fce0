"""A server that loses connections mid-transaction: what the sender retries, what it
reports in flight, and how the operator settles those (`--resolve-in-flight`).

The server (tests/deliver/scripted_smtp.py) drops 3% of the messages at each of four
points: at RCPT, right after the 354 (before the end-of-data dot), after the dot before
accepting, after accepting before the reply. The first two cannot have delivered
anything: retried at once, each delivered exactly once. The last two look the same to
the client: in flight, counted in a WARNING, settled only when asked.
"""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from digest.config.load import load_config
from digest.deliver.smtp import send_issue
from digest.state.deliveries import DeliveryLog
from tests.deliver.scripted_smtp import Point, Scripted, ScriptedServer
from tests.helpers import error_line, run
from tests.send_project import project

POINTS: tuple[Point, ...] = ("rcpt", "data", "dot", "reply")


def addresses(n: int) -> list[str]:
    return [f"reader{i:05d}@example.net" for i in range(n)]


def three_percent_at_each_point(everyone: list[str]) -> dict[str, Point]:
    """Every 33rd message drops at each point (61 of 500), spread through the list."""
    return {a: POINTS[(i % 33) // 8] for i, a in enumerate(everyone) if i % 33 in (1, 9, 17, 25)}


def states(path: Path) -> dict[str, str]:
    conn = sqlite3.connect(path.parent / ".digest" / "state.db")
    try:
        return dict(conn.execute("SELECT email, state FROM deliveries").fetchall())
    finally:
        conn.close()


def in_flight_counts(path: Path) -> dict[int, int]:
    log = DeliveryLog.open_shared(path.parent / ".digest" / "state.db")
    try:
        return log.in_flight_by_issue()
    finally:
        log.close()


def test_drops_before_the_dot_are_retried_after_it_reported_then_retried_on_request(
        built: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    everyone = addresses(500)
    drops = three_percent_at_each_point(everyone)
    at = {point: {a for a, p in drops.items() if p == point} for point in POINTS}
    handler = Scripted(keep_content=False, drops=dict(drops))
    with ScriptedServer(handler) as server:
        path = project(built, tmp_path, server.port, emails=everyone,
                       smtp={"connections": 4})
        with caplog.at_level(logging.WARNING, logger="digest"):
            report = send_issue(load_config(path))
        assert dict(handler.dropped) == {point: len(at[point]) for point in POINTS}
        assert sum(handler.dropped.values()) == 61
        counts = dict(handler.counts)
        log = states(path)
        # before the dot: retried automatically, each delivered once
        for address in at["rcpt"] | at["data"]:
            assert (counts.get(address), log[address]) == (1, "delivered"), address
        # after the dot: in flight, whether or not the server kept it
        unconfirmed = at["dot"] | at["reply"]
        assert report.in_flight == tuple(sorted(unconfirmed))
        assert all(log[a] == "sending" for a in unconfirmed)
        assert all(a not in counts for a in at["dot"])
        assert all(counts[a] == 1 for a in at["reply"])
        assert all(counts[a] == 1 and log[a] == "delivered"
                   for a in set(everyone) - unconfirmed)
        assert report.delivered == 500 - 30 and not report.deferred and len(unconfirmed) == 30
        # reported loudly: one WARNING with the count and the command
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1, warnings
        assert "30 message(s) in flight" in warnings[0]
        assert "digest send 1 --resolve-in-flight sent" in warnings[0]
        assert "digest send 1 --resolve-in-flight retry" in warnings[0]
        assert in_flight_counts(path) == {1: 30}

        # a plain send does not touch them
        again = send_issue(load_config(path))
        assert again.delivered == 0 and len(again.in_flight) == 30
        assert dict(handler.counts) == counts

        # the operator asks for them again: only they are sent
        result = run(path, "send", "1", "--resolve-in-flight", "retry", expect=0)
        assert "issue #1: 30 delivered" in result.output
        after = dict(handler.counts)
        assert all(after[a] == 1 for a in at["dot"])
        assert all(after[a] == 2 for a in at["reply"])  # asked for: they may arrive twice
        assert all(after[a] == 1 for a in set(everyone) - unconfirmed)
        assert set(states(path).values()) == {"delivered"}
        assert in_flight_counts(path) == {}


def test_resolve_in_flight_sent_records_them_delivered_and_sends_nothing(
        built: Path, tmp_path: Path) -> None:
    everyone = addresses(40)
    lost = {everyone[3]: "dot", everyone[20]: "reply", everyone[31]: "reply"}
    handler = Scripted(keep_content=False, drops=dict(lost))  # type: ignore[arg-type]
    with ScriptedServer(handler) as server:
        path = project(built, tmp_path, server.port, emails=everyone)
        sent = subprocess.run([sys.executable, "-m", "digest", "--config", str(path), "send"],
                              capture_output=True, text=True, timeout=120)
        assert sent.returncode == 0, sent.stderr
        assert "issue #1: 37 delivered" in sent.stdout and "3 in flight" in sent.stdout
        warning = next(line for line in sent.stderr.splitlines() if "in flight:" in line
                       and "--resolve-in-flight" in line)
        assert "issue #1: 3 message(s) in flight" in warning
        assert "Traceback" not in sent.stderr
        assert in_flight_counts(path) == {1: 3}
        counts = dict(handler.counts)

        assert "name the issue" in error_line(
            run(path, "send", "--resolve-in-flight", "sent", expect=2))
        assert "leave out" in error_line(
            run(path, "send", "1", "--resolve-in-flight", "sent", "--dry-run", expect=2))

        result = run(path, "send", "1", "--resolve-in-flight", "sent", expect=0)
        assert "issue #1: 3 message(s) in flight marked delivered; nothing sent" \
            in result.output
        assert dict(handler.counts) == counts
        assert set(states(path).values()) == {"delivered"}
        assert in_flight_counts(path) == {}
        assert run(path, "send", expect=0).output.startswith("nothing to send")
        assert dict(handler.counts) == counts

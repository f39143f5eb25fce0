"""`[schedule] deliver = "local"` with two issues a day (00:00 and 12:00 UTC): the
Shanghai reader's 07:00 (23:00 UTC) comes after both slots, so both issues fall due
for them at once, and each must go out, the older first. Before, a send pass took
only the latest issue begun (cron), or the order rule refused the older one once the
newer had begun in an earlier zone (the daemon): issue #1 never reached Shanghai."""

from __future__ import annotations

import signal
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.helpers import Digest, config_with, rss, run, set_schedule
from tests.smtp_server import Recorder, SmtpServer

DAY = datetime(2027, 3, 10, tzinfo=UTC)
READERS = {"kathmandu@example.net": "Asia/Kathmandu", "shanghai@example.net": "Asia/Shanghai"}


def project(folder: Path, port: int) -> Path:
    (folder / "feed.xml").write_bytes(rss(8, "Morning"))
    (folder / "readers.csv").write_text(
        "email,tz\n" + "".join(f"{a},{z}\n" for a, z in READERS.items()), "utf-8")
    config = config_with(folder, [{"url": "feed.xml", "name": "Wire"}],
                         f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
                         "connections = 1\ntimeout = 10\n")
    text = config.read_text("utf-8").replace(
        'recipients = ["editor@example.com"]', 'mode = "smtp"\nrecipients_file = "readers.csv"')
    config.write_text(text, "utf-8")
    return set_schedule(config, 'collect_every = "7d"\nissue = "0 0,12 * * *"\n'
                                'timezone = "UTC"\nmisfire_grace = "2h"\ndeliver = "local"\n'
                                'local_time = "07:00"\nmax_lateness = "1h"')


def delivered(config: Path) -> list[tuple[int, str, str]]:
    with sqlite3.connect(config.parent / ".digest" / "state.db") as conn:
        return conn.execute("SELECT issue_number, email, updated_at FROM deliveries WHERE "
                            "state = 'delivered' ORDER BY updated_at").fetchall()


def test_two_issues_due_in_one_zone_at_once_both_go_out_oldest_first(tmp_path: Path) -> None:
    with SmtpServer(Recorder(keep_content=False)) as smtp:
        config = project(tmp_path, smtp.port)
        step = DAY
        while step <= DAY + timedelta(hours=23, minutes=30):
            if step == DAY + timedelta(hours=11):  # new stories for the 12:00 issue
                (tmp_path / "feed.xml").write_bytes(rss(8, "Evening"))
            run(config, "run", "--once", now=step.isoformat(), expect=0)
            step += timedelta(minutes=30)
        got = delivered(config)
        assert sorted((n, a) for n, a, _ in got) == [
            (1, "kathmandu@example.net"), (1, "shanghai@example.net"),
            (2, "shanghai@example.net")], got
        assert smtp.handler.counts["shanghai@example.net"] == 2
        shanghai = [n for n, a, _ in got if a == "shanghai@example.net"]
        assert shanghai == [1, 2]  # the older first


def test_the_daemons_pass_sends_both_issues_due_at_once(tmp_path: Path) -> None:
    with SmtpServer(Recorder(keep_content=False)) as smtp:
        config = project(tmp_path, smtp.port)
        for hours in (0, 1.5):  # issue #1; Kathmandu's 07:00
            run(config, "run", "--once", now=(DAY + timedelta(hours=hours)).isoformat(),
                expect=0)
        (tmp_path / "feed.xml").write_bytes(rss(8, "Evening"))
        run(config, "run", "--once", now=(DAY + timedelta(hours=12)).isoformat(), expect=0)
        # The daemon, started just before Shanghai's 07:00 (23:00 UTC), when both are due.
        daemon = Digest(config, "run", now=(DAY + timedelta(hours=22, minutes=59,
                                                            seconds=50)).isoformat())
        try:
            daemon.wait_for(lambda ls: smtp.handler.counts["shanghai@example.net"] >= 2
                            or any("not sent: it is older" in line for line in ls), 60)
        finally:
            daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.finish() == 0, daemon.log
        shanghai = [n for n, a, _ in delivered(config) if a == "shanghai@example.net"]
        assert shanghai == [1, 2], daemon.log

"""Topic editions and local-time delivery together, `digest send` (a real subprocess)
killed with SIGKILL mid-send and run again: every reader whose time has come gets
exactly one message, of their own edition; the one in flight at the kill is settled
by `--resolve-in-flight sent`; the readers whose zone waits get nothing yet; and
`digest report` counts match the server's."""

from __future__ import annotations

import email
import json
import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from email import policy
from pathlib import Path

import pytest

from digest import pipeline
from digest.config.load import load_config
from digest.state.deliveries import Subscriber, Subscribers
from digest.state.store import open_store
from digest.state.topics import set_topics
from digest.state.zones import set_zones
from tests.helpers import SAMPLES
from tests.smtp_server import Recorder, SmtpServer

SECRET = "crash-test-secret-0123456789-0123456789"
FEEDS = {"markets.xml": "Markets", "policy.xml": "Policy", "tech.atom": "Tech",
         "trade.xml": "Trade", "world.atom": "World"}
TOPICS = {"markets": ["Markets"], "tech": ["Tech"], "trade": ["Trade"]}
SETS = ["", "markets", "tech", "markets|trade"]
ZONES = ["Asia/Kathmandu", "Europe/London", "America/New_York"]  # New York waits
BUILT, SEND = "2026-12-01T00:00:00+00:00", "2026-12-01T07:10:00+00:00"
N = 600
HOLD = "reader0301@example.net"  # London (301 % 3 == 1)


def project(folder: Path, port: int) -> Path:
    shutil.copytree(SAMPLES / "feeds", folder / "samples" / "feeds")
    feeds = "".join(f'\n[[feeds]]\nurl = "samples/feeds/{f}"\nname = "{n}"\n'
                    for f, n in FEEDS.items())
    topics = "".join(f'\n[[topics]]\nname = "{t}"\nfeeds = {json.dumps(f)}\n'
                     for t, f in TOPICS.items())
    path = folder / "config.toml"
    path.write_text(f"""
[newsletter]
name = "The China Connection"
timezone = "Asia/Shanghai"

[editor]
max_age_days = 0

[schedule]
min_new_items = 3
deliver = "local"
local_time = "07:00"
max_lateness = "12h"

[enrich]
pages = "never"

[delivery]
mode = "smtp"
from = "The China Connection <digest@example.com>"
unsubscribe_url = "https://example.com/unsubscribe?token={{token}}"

[smtp]
host = "127.0.0.1"
port = {port}
security = "none"
connections = 4
timeout = 30
{feeds}
{topics}""", "utf-8")
    return path


def digest(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DIGEST_SECRET": SECRET, "DIGEST_NOW": SEND}
    return subprocess.run([sys.executable, "-m", "digest", "--config", str(path), *args],
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_sigkill_mid_topic_local_send_then_resume_each_due_reader_once_own_edition(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    handler = Recorder(hold=HOLD)
    with SmtpServer(handler) as server:
        path = project(tmp_path, server.port)
        config = load_config(path)
        people = {f"reader{i:04d}@example.net": (SETS[i % len(SETS)], ZONES[i % len(ZONES)])
                  for i in range(N)}
        store = open_store(config.state_path)
        try:
            Subscribers(store.conn).upsert(Subscriber(a, "active") for a in people)
            set_topics(store.conn, ((a, t) for a, (t, _) in people.items()))
            set_zones(store.conn, {a: z for a, (_, z) in people.items()})
        finally:
            store.close()
        monkeypatch.setenv("DIGEST_NOW", BUILT)
        result = pipeline.build(config)
        assert result.status == "built" and result.path is not None, result.message
        manifest = json.loads((result.path / "issue.json").read_text("utf-8"))
        subjects = {v["key"]: v["subject"] or manifest["subject"] for v in manifest["variants"]}
        subjects[""] = manifest["subject"]

        env = {**os.environ, "DIGEST_SECRET": SECRET, "DIGEST_NOW": SEND}
        proc = subprocess.Popen([sys.executable, "-m", "digest", "--config", str(path), "send"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert handler.held.wait(90), "the held message never arrived"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            assert proc.stdout and proc.stderr
            proc.stdout.close()
            proc.stderr.close()
        handler.release.set()
        assert proc.returncode == -signal.SIGKILL

        again = digest(path, "send", "1")
        assert again.returncode == 0, again.stderr
        settled = digest(path, "send", "1", "--resolve-in-flight", "sent")
        assert settled.returncode == 0, settled.stderr

        due = {a for a, (_, z) in people.items() if z != "America/New_York"}
        assert set(handler.counts) == due
        assert Counter(handler.counts.values()) == Counter({1: len(due)})
        for message in handler.messages:
            to = message.rcpt_tos[0]
            msg = email.message_from_bytes(message.content, policy=policy.default)
            key = people[to][0].replace("|", "+")
            assert " ".join(str(msg["Subject"]).split()) == " ".join(subjects[key].split())

        report = json.loads(digest(path, "report", "1", "--format", "json").stdout)
        by_state = {k: v for k, v in report["counts"]["by_state"].items() if v}
        assert by_state == {"delivered": len(due), "pending": N - len(due)}
        assert report["issue"]["state"] == "sending"
        for row in report["recipients"]:
            if row["state"] == "delivered":
                assert row["variant"] == (people[row["email"]][0].replace("|", "+")
                                          or "full"), row

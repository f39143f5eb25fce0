"""`digest report` after a topic send names the edition each reader was sent (the
delivery log's `variant`, written as the message starts): before, no one wrote the
column, so every reader showed as "full" whatever they got."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from digest import pipeline
from digest.config.load import load_config
from digest.deliver.smtp import send_issue
from digest.state.deliveries import Subscriber, Subscribers
from digest.state.store import open_store
from digest.state.topics import set_topics
from tests.helpers import SAMPLES, run, secret  # noqa: F401 - the autouse secret fixture
from tests.smtp_server import Recorder, SmtpServer

FEEDS = {"markets.xml": "Markets", "policy.xml": "Policy", "tech.atom": "Tech",
         "trade.xml": "Trade", "world.atom": "World"}
TOPICS = {"markets": ["Markets"], "tech": ["Tech"], "trade": ["Trade"]}
SETS = ["", "markets", "tech", "markets|trade"]


def topic_project(folder: Path, port: int) -> Path:
    shutil.copytree(SAMPLES / "feeds", folder / "samples" / "feeds")
    feeds = "".join(f'\n[[feeds]]\nurl = "samples/feeds/{f}"\nname = "{n}"\n'
                    for f, n in FEEDS.items())
    topics = "".join(f'\n[[topics]]\nname = "{t}"\ndescription = "All about {t}"\n'
                     f"feeds = {json.dumps(f)}\n" for t, f in TOPICS.items())
    path = folder / "config.toml"
    path.write_text(f"""
[newsletter]
name = "The China Connection"
timezone = "Asia/Shanghai"

[editor]
max_age_days = 0

[schedule]
min_new_items = 3

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
connections = 2
timeout = 10
{feeds}
{topics}""", "utf-8")
    return path


def test_the_report_names_the_edition_each_reader_was_sent(tmp_path: Path) -> None:
    with SmtpServer(Recorder()) as smtp:
        path = topic_project(tmp_path, smtp.port)
        config = load_config(path)
        people = {f"reader{i:03d}@example.net": SETS[i % len(SETS)] for i in range(40)}
        store = open_store(config.state_path)
        try:
            Subscribers(store.conn).upsert(Subscriber(a, "active") for a in people)
            set_topics(store.conn, people.items())
        finally:
            store.close()
        assert pipeline.build(config).status == "built"
        report = send_issue(load_config(path), 1)
        assert report.delivered == 40 and smtp.handler.total == 40

    found = json.loads(run(path, "report", "1", "--format", "json").output)
    assert found["counts"]["by_variant"] == {"full": 10, "markets": 10,
                                             "markets+trade": 10, "tech": 10}
    for row in found["recipients"]:
        assert row["variant"] == (people[row["email"]].replace("|", "+") or "full"), row

"""Issue 21's readers' features through the CLI, once on each backend (the `state_db`
fixture: a SQLite file, or PostgreSQL through DIGEST_DATABASE_URL): an import with
topics and time zones, a send of the topic editions at a real aiosmtpd server (each
reader once, with their own edition), the export carrying both columns, and
`digest report` counting what the delivery log holds."""

from __future__ import annotations

import csv
import email
import io
import json
from email import policy
from pathlib import Path

from tests.deliver.test_topic_send import topic_project
from tests.helpers import run
from tests.smtp_server import Recorder, SmtpServer

# address -> (topics, zone)
READERS = {
    "ann@example.net": ("", "Asia/Kathmandu"),
    "bo@example.net": ("markets", "America/New_York"),
    "cy@example.net": ("markets", ""),
    "di@example.org": ("tech", "Europe/London"),
    "ed@example.org": ("policy|tech", ""),
}


def test_topics_zones_send_and_report(tmp_path: Path, state_db: Path | str) -> None:
    with SmtpServer(Recorder()) as smtp:
        config = topic_project(tmp_path, smtp.port)
        people = tmp_path / "people.csv"
        people.write_text("email,status,topics,time_zone\n" + "".join(
            f"{a},active,{t},{z}\n" for a, (t, z) in READERS.items()), "utf-8")
        run(config, "subscribers", "import", str(people), expect=0)
        run(config, "build", expect=0)
        run(config, "send", expect=0)
        assert sorted(smtp.handler.counts) == sorted(READERS)
        assert set(smtp.handler.counts.values()) == {1}
        again = run(config, "send", expect=0)  # nothing twice
        assert set(smtp.handler.counts.values()) == {1}, again.output
        subjects = {}
        for message in smtp.handler.messages:
            parsed = email.message_from_bytes(message.content, policy=policy.default)
            subjects[message.rcpt_tos[0]] = str(parsed["Subject"])
        # the same topics, the same edition; the full edition differs from "markets"
        assert subjects["bo@example.net"] == subjects["cy@example.net"]
        report = json.loads(run(config, "report", "1", "--format", "json",
                                expect=0).stdout)
        assert report["counts"]["recipients"] == len(READERS)
        assert report["counts"]["by_state"].get("delivered") == len(READERS)
        exported = run(config, "subscribers", "export", expect=0).stdout
    rows = {r["email"]: r for r in csv.DictReader(io.StringIO(exported))}
    for address, (topics, zone) in READERS.items():
        assert rows[address]["topics"] == topics
        assert rows[address]["time_zone"] == zone
    assert (tmp_path / ".digest" / "state.db").exists() == (not isinstance(state_db, str))

"""`digest subscribers export` after a topic left [[topics]] writes each reader's topics
as the send reads them (names still configured), so the file imports again: before,
it carried the old name, and `import` skipped every such reader's row."""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

from tests.helpers import config_with, run, secret  # noqa: F401 - the autouse secret fixture

MARKETS = '\n[[topics]]\nname = "markets"\nfeeds = ["Wire"]\n'
TECH = '\n[[topics]]\nname = "tech"\ncategories = ["Tech"]\n'


def test_an_export_after_a_topic_was_removed_imports_every_reader(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    old = config_with(tmp_path / "old", [{"url": "feed.xml", "name": "Wire"}], MARKETS + TECH)
    people = tmp_path / "people.csv"
    people.write_text("email,topics\nann@example.com,markets|tech\nbob@example.com,tech\n"
                      "cy@example.com,\n", "utf-8")
    run(old, "subscribers", "import", str(people), expect=0)
    old.write_text(old.read_text("utf-8").replace(TECH, ""), "utf-8")  # tech is gone

    exported = run(old, "subscribers", "export", expect=0).output
    assert {r["email"]: r["topics"] for r in csv.DictReader(io.StringIO(exported))} == {
        "ann@example.com": "markets", "bob@example.com": "", "cy@example.com": ""}
    new = config_with(tmp_path / "new", [{"url": "feed.xml", "name": "Wire"}], MARKETS)
    moved = tmp_path / "moved.csv"
    moved.write_text(exported, "utf-8")
    said = run(new, "subscribers", "import", str(moved), expect=0).output
    assert "3 added" in said and "skipped" not in said, said
    with sqlite3.connect(tmp_path / "new" / ".digest" / "state.db") as conn:
        assert dict(conn.execute("SELECT email, topics FROM subscribers")) == {
            "ann@example.com": "markets", "bob@example.com": "", "cy@example.com": ""}

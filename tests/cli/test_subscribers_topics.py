"""`digest subscribers import/export` carry each reader's topics: a `topics` column,
[[topics]] names separated by `|`; an unknown name is reported with its line."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from tests.helpers import config_with, run, secret  # noqa: F401 - the autouse secret fixture

TOPICS = """
[[topics]]
name = "markets"
feeds = ["Wire"]

[[topics]]
name = "tech"
categories = ["Tech"]
"""


def test_topics_are_imported_checked_and_exported(tmp_path: Path) -> None:
    config = config_with(tmp_path, [{"url": "feed.xml", "name": "Wire"}], TOPICS)
    people = tmp_path / "people.csv"
    people.write_text("email,name,topics\n"
                      "ann@example.com,Ann,Tech|markets\n"
                      "bob@example.com,Bob,\n"
                      "eve@example.com,Eve,markets|sports\n"
                      "cy@example.com,Cy, tech \n", "utf-8")
    imported = run(config, "subscribers", "import", str(people), expect=0)
    output = " ".join(imported.output.split())
    assert "3 added, 0 updated" in output
    assert "people.csv line 4: topic 'sports' is not one of [[topics]] (markets, tech); " \
        "row skipped" in output
    exported = list(csv.DictReader(io.StringIO(run(config, "subscribers", "export",
                                                   expect=0).output)))
    assert {r["email"]: r["topics"] for r in exported} == {
        "ann@example.com": "markets|tech", "bob@example.com": "", "cy@example.com": "tech"}

    # An export imports back as it was; a file without the column keeps the topics.
    backup = tmp_path / "backup.csv"
    backup.write_text(run(config, "subscribers", "export", expect=0).output, "utf-8")
    names = tmp_path / "names.csv"
    names.write_text("email,name\nann@example.com,Ann Lee\n", "utf-8")
    run(config, "subscribers", "import", str(names), expect=0)
    run(config, "subscribers", "import", str(backup), expect=0)
    again = list(csv.DictReader(io.StringIO(run(config, "subscribers", "export",
                                                expect=0).output)))
    assert {r["email"]: r["topics"] for r in again}["ann@example.com"] == "markets|tech"

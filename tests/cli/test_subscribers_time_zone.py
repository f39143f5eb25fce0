"""`digest subscribers import` reads a `tz` or `time_zone` column for local-time delivery:
a known IANA name is kept, an unknown one is named and ignored (the row still comes in),
an empty cell keeps the zone a subscriber has; `export` writes it back."""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

from tests.helpers import config_with, run


def imported(config: Path, text: str) -> str:
    path = config.parent / "people.csv"
    path.write_text(text, "utf-8")
    return run(config, "subscribers", "import", str(path), expect=0).output


def zones(config: Path) -> dict[str, str]:
    with sqlite3.connect(config.parent / ".digest" / "state.db") as conn:
        return dict(conn.execute("SELECT email, time_zone FROM subscribers"))


def test_import_keeps_known_zones_names_unknown_ones_and_export_round_trips(
        tmp_path: Path) -> None:
    config = config_with(tmp_path, None)
    said = imported(config, "email,name,tz\nann@example.net,Ann,Asia/Kathmandu\n"
                            "bob@example.net,Bob,Mars/Olympus\ncy@example.net,Cy,\n"
                            "di@example.net,Di,=cmd|' /C calc'!A0\n")
    assert "4 added, 0 updated" in said, said
    assert "people.csv line 3: tz 'Mars/Olympus' is not a time zone" in said, said
    assert "people.csv line 5: tz" in said, said
    assert zones(config) == {"ann@example.net": "Asia/Kathmandu", "bob@example.net": "",
                             "cy@example.net": "", "di@example.net": ""}

    # A time_zone column; an empty cell keeps what the subscriber has.
    imported(config, "email,time_zone\nann@example.net,\nbob@example.net,America/New_York\n")
    assert zones(config)["ann@example.net"] == "Asia/Kathmandu"
    assert zones(config)["bob@example.net"] == "America/New_York"

    text = run(config, "subscribers", "export", expect=0).output
    rows = {r["email"]: r["time_zone"] for r in csv.DictReader(io.StringIO(text))}
    assert rows == {"ann@example.net": "Asia/Kathmandu", "bob@example.net": "America/New_York",
                    "cy@example.net": "", "di@example.net": ""}
    (tmp_path / "back").mkdir()
    other = config_with(tmp_path / "back", None)
    imported(other, text)
    assert zones(other) == zones(config)

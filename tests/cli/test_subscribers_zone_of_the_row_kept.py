"""`digest subscribers import` takes a subscriber's time zone from the row it keeps:
an address listed twice keeps its first row (the second is named and skipped), zone
and all, and a row skipped for a bad cell gives no zone. Before, the zones came from a
second read of the file that took every row, so the skipped row's zone won."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.helpers import config_with, run


def zones(config: Path) -> dict[str, str]:
    with sqlite3.connect(config.parent / ".digest" / "state.db") as conn:
        return dict(conn.execute("SELECT email, time_zone FROM subscribers"))


def test_the_zone_comes_from_the_row_the_import_keeps(tmp_path: Path) -> None:
    config = config_with(tmp_path, None)
    path = tmp_path / "people.csv"
    path.write_text("email,status,tz\n"
                    "ann@example.net,active,Asia/Tokyo\n"
                    "ANN@example.net,active,America/New_York\n"
                    "bob@example.net,sleeping,Europe/Paris\n"
                    "bob@example.net,active,\n", "utf-8")
    said = run(config, "subscribers", "import", str(path), expect=0).output
    assert "line 3: ANN@example.net is listed before; skipped" in said, said
    assert "line 4: status 'sleeping' is not one of" in said, said
    assert "2 added, 0 updated" in said, said
    assert zones(config) == {"ann@example.net": "Asia/Tokyo", "bob@example.net": ""}

"""The subscribers of the state database (issue 12, item 3): imported, listed, exported,
and mailed with the configured list; unsubscribed ones are suppressed everywhere."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from tests.helpers import (
    run,
    secret,  # noqa: F401 - the autouse secret fixture
)
from tests.send_project import project
from tests.smtp_server import Recorder, SmtpServer

PEOPLE = """email,name,status,source,confirmed_at,confirm_ip
new@example.com,New Reader,active,signup form,2026-11-20T10:00:00+00:00,192.0.2.7
gone@example.com,Gone Reader,unsubscribed,signup form,,
wait@example.com,=HYPERLINK("x"),pending,,,
not an address,Nobody,active,,,
twice@example.com,First,active,,,
TWICE@example.com,Second,active,,,
odd@example.com,Odd,sleeping,,,
"""


def test_import_list_export_and_the_next_send(built: Path, tmp_path: Path) -> None:
    recorder = Recorder()
    with SmtpServer(recorder) as smtp:
        config = project(built, tmp_path, smtp.port, emails=["editor@example.com"])
        (tmp_path / "people.csv").write_text(PEOPLE, "utf-8")
        imported = run(config, "subscribers", "import", str(tmp_path / "people.csv"))
        assert imported.exit_code == 0, imported.output
        output = " ".join(imported.output.split())
        assert "4 added, 0 updated" in output
        assert "line 5: " in output and "line 7: TWICE@example.com is listed before" in output
        assert "line 8: status 'sleeping'" in output

        listed = run(config, "subscribers", "list", "--status", "active", "--format", "csv")
        rows = list(csv.DictReader(io.StringIO(listed.output)))
        assert [r["email"] for r in rows] == ["new@example.com", "twice@example.com"]
        exported = list(csv.DictReader(io.StringIO(run(config, "subscribers",
                                                        "export").output)))
        by_email = {r["email"]: r for r in exported}
        assert by_email["new@example.com"]["confirm_ip"] == "192.0.2.7"
        assert by_email["wait@example.com"]["name"].startswith("'=")  # not a formula
        assert by_email["gone@example.com"]["status"] == "unsubscribed"

        sent = run(config, "send")
        assert sent.exit_code == 0, sent.output
    to = sorted(m.rcpt_tos[0] for m in recorder.messages)
    assert to == ["editor@example.com", "new@example.com", "twice@example.com"]
    status = run(config, "status")
    assert "on the suppression list" in status.output  # gone@ is suppressed


def test_a_file_without_an_email_column_is_refused(built: Path, tmp_path: Path) -> None:
    config = project(built, tmp_path, 1, emails=[])
    (tmp_path / "bad.csv").write_text("address,name\nx@example.com,X\n", "utf-8")
    result = run(config, "subscribers", "import", str(tmp_path / "bad.csv"))
    assert result.exit_code == 2
    assert "no `email` column" in result.output


def test_an_import_never_undoes_an_unsubscribe_and_exports_round_trip(built: Path,
                                                                       tmp_path: Path) -> None:
    config = project(built, tmp_path, 1, emails=[])
    (tmp_path / "a.csv").write_text("email,name,status\n-bob@example.com,Bob,active\n"
                                    "gone@example.com,Gone,unsubscribed\n", "utf-8")
    assert run(config, "subscribers", "import", str(tmp_path / "a.csv")).exit_code == 0
    (tmp_path / "b.csv").write_text("email\ngone@example.com\n", "utf-8")
    again = run(config, "subscribers", "import", str(tmp_path / "b.csv"))
    assert "gone@example.com is unsubscribed here; an import never undoes that" in " ".join(
        again.output.split())
    exported = run(config, "subscribers", "export").output
    # Escaped like every formula-looking cell (issue 22, item 9); the import takes it off.
    assert "\n'-bob@example.com,active,Bob," in exported
    (tmp_path / "back.csv").write_text(exported, "utf-8")
    back = run(config, "subscribers", "import", str(tmp_path / "back.csv"))
    assert "0 added" in back.output
    listed = run(config, "subscribers", "list", "--format", "csv").output
    assert "gone@example.com,unsubscribed,Gone" in listed

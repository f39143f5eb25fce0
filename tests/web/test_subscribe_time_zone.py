"""The subscribe form's hidden `tz` field: a real headless Chromium, its zone set by
TZ, runs the page's one script under the app's Content-Security-Policy and fills the
field in; the POST stores a known IANA name for a pending subscriber, and anything else
(unknown, too long, a path) is ignored without an error page."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import httpx
import pytest

from digest.deliver.zones import clean_zone
from digest.web.zone_field import SCRIPT_HASH
from tests.helpers import Serving, WebClock, form_csrf, readers_config, run, wait_for
from tests.smtp_server import Recorder, SmtpServer, free_port


def zones(config: Path) -> dict[str, tuple[str, str]]:
    with sqlite3.connect(config.parent / ".digest" / "state.db") as conn:
        return {r[0]: (r[1], r[2]) for r in conn.execute(
            "SELECT email, status, time_zone FROM subscribers")}


@pytest.fixture
def served(tmp_path: Path):  # type: ignore[no-untyped-def]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with SmtpServer(Recorder()) as smtp:
        config = readers_config(tmp_path, base, smtp.port)
        with Serving(config, port, WebClock()):
            yield config, base, smtp.handler


def post(client: httpx.Client, address: str, tz: str) -> httpx.Response:
    csrf = form_csrf(client.get("/subscribe").text)
    return client.post("/subscribe", data={"csrf": csrf, "email": address, "tz": tz})


def test_the_form_carries_the_zone_script_allowed_by_its_hash(served, tmp_path: Path) -> None:
    config, base, _ = served
    with httpx.Client(base_url=base) as client:
        page = client.get("/subscribe")
    assert '<input type="hidden" name="tz" value="">' in page.text
    assert f"script-src '{SCRIPT_HASH}'" in page.headers["content-security-policy"]
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or \
        shutil.which("google-chrome")
    if chromium is None:
        pytest.skip("no Chromium on PATH")
    dom = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
         "--dump-dom", f"{base}/subscribe"],
        env={**os.environ, "TZ": "Asia/Kathmandu"}, capture_output=True, text=True,
        timeout=60, check=True).stdout
    # The script ran (the CSP let its hash through) and read the browser's zone (ICU
    # may give the old spelling, a link in the zone database that counts too).
    found = re.search(r'<input type="hidden" name="tz" value="([^"]*)">', dom)
    assert found and found.group(1) in ("Asia/Kathmandu", "Asia/Katmandu"), dom
    assert clean_zone(found.group(1)) == found.group(1)


def test_a_known_zone_is_stored_and_anything_else_is_ignored(served) -> None:
    config, base, recorder = served
    with httpx.Client(base_url=base) as client:
        answers = [post(client, "kath@example.net", "Asia/Kathmandu"),
                   post(client, "mars@example.net", "Mars/Olympus"),
                   post(client, "path@example.net", "../../../etc/passwd"),
                   post(client, "long@example.net", "Europe/" + "x" * 5000)]
    assert [a.status_code for a in answers] == [200] * 4
    assert all("Check your inbox" in a.text for a in answers)
    found = wait_for(lambda: len(zones(config)) == 4 and zones(config))
    assert found == {"kath@example.net": ("pending", "Asia/Kathmandu"),
                     "mars@example.net": ("pending", ""), "path@example.net": ("pending", ""),
                     "long@example.net": ("pending", "")}


def test_an_unconfirmed_form_never_changes_an_active_readers_zone(served) -> None:
    config, base, _ = served
    with httpx.Client(base_url=base) as client:
        assert post(client, "ann@example.net", "Europe/London").status_code == 200
    with sqlite3.connect(config.parent / ".digest" / "state.db") as conn:
        conn.execute("UPDATE subscribers SET status = 'active'")
    with httpx.Client(base_url=base) as client:
        assert post(client, "ann@example.net", "Asia/Tokyo").status_code == 200
    assert zones(config) == {"ann@example.net": ("active", "Europe/London")}
    listed = run(config, "subscribers", "export", expect=0).output
    assert listed.splitlines()[0].endswith(",time_zone")
    assert listed.splitlines()[1].endswith(",Europe/London")

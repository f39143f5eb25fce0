"""Topics on the readers' pages, at a real uvicorn: the subscribe form and the manage
page tick [[topics]]; only names of the config are taken, an unconfirmed form never
changes a known reader's topics."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import httpx
import pytest

from digest.config.load import load_config
from digest.tokens import load_secret, make_token
from tests.helpers import Serving, WebClock, form_csrf, readers_config, secret  # noqa: F401
from tests.smtp_server import Recorder, SmtpServer, free_port

TOPICS = """
[[feeds]]
url = "markets.xml"
name = "Markets"

[[feeds]]
url = "tech.xml"
name = "Tech"

[[topics]]
name = "markets"
description = "Markets & money <daily>"
feeds = ["Markets"]

[[topics]]
name = "tech"
description = "Technology"
categories = ["Tech"]
"""


def topics(config: Path, address: str) -> str | None:
    conn = sqlite3.connect(config.parent / ".digest" / "state.db")
    try:
        row = conn.execute("SELECT topics FROM subscribers WHERE email = ?",
                           (address,)).fetchone()
    finally:
        conn.close()
    return None if row is None else str(row[0])


@pytest.fixture
def serving(tmp_path: Path):  # type: ignore[no-untyped-def]
    port = free_port()
    with SmtpServer(Recorder()) as smtp:
        config = readers_config(tmp_path, f"http://127.0.0.1:{port}", smtp.port, TOPICS)
        clock = WebClock()
        with Serving(config, port, clock) as served:
            yield config, served.base, clock


def test_subscribe_takes_the_ticked_topics_and_only_the_configs(serving) -> None:  # type: ignore[no-untyped-def]
    config, base, clock = serving
    with httpx.Client(base_url=base) as client:
        page = client.get("/subscribe").text
        boxes = re.findall(r'<input type="checkbox" name="topics" value="([^"]+)"', page)
        assert boxes == ["markets", "tech"]
        assert "Markets &amp; money &lt;daily&gt;" in page  # the description, escaped

        def post(address: str, *ticked: str) -> httpx.Response:
            csrf = form_csrf(client.get("/subscribe").text)
            return client.post("/subscribe", data={"csrf": csrf, "email": address,
                                                   "topics": list(ticked)})

        assert post("ann@example.com", "tech", "markets").status_code == 200
        assert topics(config, "ann@example.com") == "markets|tech"
        assert post("bob@example.com").status_code == 200
        assert topics(config, "bob@example.com") == ""  # none ticked: everything
        refused = post("eve@example.com", "markets", "<script>x</script>")
        assert refused.status_code == 400 and "<script>x" not in refused.text
        assert topics(config, "eve@example.com") is None  # nothing recorded
        clock.now += 1
        again = post("ann@example.com", "markets")  # known: an unconfirmed form changes nothing
        assert again.status_code == 200
        assert topics(config, "ann@example.com") == "markets|tech"


def test_the_manage_page_shows_and_saves_a_readers_topics(serving) -> None:  # type: ignore[no-untyped-def]
    config, base, _ = serving
    secret_key = load_secret(load_config(config))
    assert secret_key is not None
    token = make_token(secret_key, "ann@example.com")
    with httpx.Client(base_url=base) as client:
        csrf = form_csrf(client.get("/subscribe").text)
        client.post("/subscribe", data={"csrf": csrf, "email": "ann@example.com",
                                        "topics": ["tech"]})
        page = client.get(f"/manage?token={token}").text
        assert 'value="tech" checked' in page and 'value="markets">' in page

        def save(*ticked: str) -> httpx.Response:
            csrf = form_csrf(client.get(f"/manage?token={token}").text)
            return client.post(f"/manage?token={token}",
                               data={"csrf": csrf, "action": "topics", "topics": list(ticked)})

        assert save("markets", "tech").status_code == 200
        assert topics(config, "ann@example.com") == "markets|tech"
        bad = save("markets", "sports")
        assert bad.status_code == 400 and "nothing was changed" in bad.text
        assert topics(config, "ann@example.com") == "markets|tech"
        assert save().status_code == 200  # none ticked: everything
        assert topics(config, "ann@example.com") == ""
        stranger = make_token(secret_key, "nobody@example.com")
        csrf = form_csrf(client.get(f"/manage?token={stranger}").text)
        nobody = client.post(f"/manage?token={stranger}",
                             data={"csrf": csrf, "action": "topics", "topics": ["tech"]})
        assert nobody.status_code == 400 and topics(config, "nobody@example.com") is None

"""`digest serve` (issue 12, item 2): a real uvicorn on 127.0.0.1, httpx as the client,
aiosmtpd as the mail server. Subscribe -> confirmation mail -> confirm -> the next issue
reaches the new reader; a GET on the unsubscribe link changes nothing; the one-click POST
of the List-Unsubscribe URL from the received mail unsubscribes, and the next issue does
not reach them; forged and expired tokens are refused."""

from __future__ import annotations

import email
import re
import threading
import time
from collections.abc import Iterator
from email import policy
from pathlib import Path

import httpx
import pytest
import uvicorn

from digest.config.load import load_config
from digest.tokens import load_secret, make_token
from digest.web.app import CONFIRM_SECONDS, make_app
from tests.helpers import item, on_day, readers_config, run
from tests.smtp_server import Recorder, SmtpServer, free_port


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def write_feed(path: Path, start: int) -> None:
    items = [item(i, f"Story {i} about ports and markets this week", "A summary. " * 5,
                  "<p>Body of the story, long enough to be a paragraph.</p>", "Trade")
             for i in range(start, start + 12)]
    path.write_text('<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
                    'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
                    f"<title>T</title><link>https://news.example.com/</link>{''.join(items)}"
                    "</channel></rss>", "utf-8")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, str, Recorder, Clock]]:
    recorder = Recorder()
    clock = Clock()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with SmtpServer(recorder) as smtp:
        config = readers_config(tmp_path, base, smtp.port,
                                '\n[[feeds]]\nurl = "feed.xml"\nname = "Wire"\n')
        app = make_app(load_config(config), clock=clock)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                               log_level="warning", lifespan="on"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.started
        try:
            yield config, base, recorder, clock
        finally:
            server.should_exit = True
            thread.join(10)


def subscribe(client: httpx.Client, address: str, **extra: str) -> httpx.Response:
    form = client.get("/subscribe")
    assert form.status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf
    return client.post("/subscribe", data={"csrf": csrf.group(1), "email": address,
                                           "name": "New Reader", **extra})


def received(recorder: Recorder, to: str, at_least: int = 0
             ) -> list[email.message.EmailMessage]:
    """Messages to `to`; waits (up to 10 s) for `at_least` of them: a confirmation is
    sent after the answer."""
    deadline = time.monotonic() + 10
    while True:
        found = [email.message_from_bytes(m.content, policy=policy.default)  # type: ignore[misc]
                 for m in recorder.messages if to in m.rcpt_tos]
        if len(found) >= at_least or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def test_subscribe_confirm_receive_unsubscribe(site, tmp_path: Path) -> None:
    config, base, recorder, _ = site
    with httpx.Client(base_url=base) as client:
        assert client.get("/healthz").text == "ok"
        answer = subscribe(client, "new@example.com")
        assert answer.status_code == 200 and "Check your inbox" in answer.text
        (confirmation,) = received(recorder, "new@example.com", 1)
        link = re.search(r"(http://\S+/confirm\?token=\S+)", confirmation.get_content())
        assert link
        assert "new@example.com" not in link.group(1)  # the token is opaque
        looked = client.get(link.group(1))  # a link scanner: a page, nothing confirmed
        assert looked.status_code == 200 and 'method="post"' in looked.text
        assert "new@example.com,pending" in run(config, "subscribers", "list", "--format",
                                                 "csv", now=on_day(30), expect=0).output
        assert client.post(link.group(1)).status_code == 200
        spent = client.post(link.group(1))  # a second click: already subscribed
        assert spent.status_code == 200

    write_feed(tmp_path / "feed.xml", 0)
    run(config, "build", "--send", now=on_day(29), expect=0)
    (issue,) = received(recorder, "new@example.com")[1:]
    assert issue["Subject"].startswith("The China Connection: ")
    one_click = re.search(r"<(http://[^>]+)>", str(issue["List-Unsubscribe"]))
    # (List-Unsubscribe-Post goes only with an https link, as RFC 8058 asks; the test
    # server is plain http on 127.0.0.1, so the one-click POST is made by hand below.)
    assert one_click

    with httpx.Client() as client:
        looked = client.get(one_click.group(1))  # a mail scanner fetching the link
        assert looked.status_code == 200 and "Unsubscribe" in looked.text
        write_feed(tmp_path / "feed.xml", 20)
        run(config, "build", "--send", now=on_day(30), expect=0)
        assert len(received(recorder, "new@example.com")) == 3  # still subscribed
        done = client.post(one_click.group(1), content=b"List-Unsubscribe=One-Click",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert done.status_code == 200
    write_feed(tmp_path / "feed.xml", 40)
    run(config, "build", "--send", now=on_day(30), expect=0)
    assert len(received(recorder, "new@example.com")) == 3  # no more issues
    assert len(received(recorder, "editor@example.com")) == 3
    listed = run(config, "subscribers", "list", "--format", "csv", now=on_day(30), expect=0).output
    assert "new@example.com,unsubscribed" in listed


def test_forged_and_expired_tokens_change_nothing(site) -> None:
    config, base, recorder, clock = site
    secret = load_secret(load_config(config))
    assert secret is not None
    with httpx.Client(base_url=base) as client:
        for bad in ("", "x", "AAAA", make_token(b"another-secret-0123456789-0123456789ab",
                                                "editor@example.com")):
            assert client.post(f"/unsubscribe?token={bad}").status_code == 400
            assert client.get(f"/confirm?token={bad}").status_code == 400
            assert client.get(f"/manage?token={bad}").status_code == 400
        # A confirmation token is no unsubscribe token, and the reverse.
        expires = int(clock.now) + CONFIRM_SECONDS
        confirm = make_token(secret, f"confirm {expires} editor@example.com")
        assert client.post(f"/unsubscribe?token={confirm}").status_code == 400
        assert client.get(f"/confirm?token={make_token(secret, 'x@example.com')}"
                          ).status_code == 400
        subscribe(client, "late@example.com")
        (mail,) = received(recorder, "late@example.com", 1)
        link = re.search(r"(http://\S+/confirm\?token=\S+)", mail.get_content())
        assert link
        clock.now += CONFIRM_SECONDS + 1
        expired = client.post(link.group(1))
        assert expired.status_code == 400 and "expired" in expired.text
    listed = run(config, "subscribers", "list", "--format", "csv", now=on_day(30), expect=0).output
    # never activated (the pending row itself expires: tests/web/test_confirmation_queue.py)
    assert "late@example.com,active" not in listed


def test_subscribe_does_not_tell_who_is_known_and_is_limited(site) -> None:
    config, base, recorder, _ = site
    with httpx.Client(base_url=base) as client:
        first = subscribe(client, "ann@example.com")
        (mail,) = received(recorder, "ann@example.com", 1)
        link = re.search(r"(http://\S+/confirm\?token=\S+)", mail.get_content())
        assert link and client.post(link.group(1)).status_code == 200
        again = subscribe(client, "ann@example.com")  # known and active now
        assert again.text == first.text and len(received(recorder, "ann@example.com")) == 1
        bot = subscribe(client, "bot@example.com", website="http://spam.example")
        assert bot.text == first.text and received(recorder, "bot@example.com") == []
        stale = client.post("/subscribe", data={"csrf": "1.abc", "email": "x@example.com"})
        assert stale.status_code == 400
        codes = [subscribe(client, f"r{i}@example.com").status_code for i in range(5)]
    assert 429 in codes  # five a client per ten minutes, the first three used above


def test_links_come_from_web_url_and_consent_comes_only_from_a_confirmation(site) -> None:
    config, base, recorder, clock = site
    with httpx.Client(base_url=base) as client:
        form = client.get("/subscribe")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf
        client.post("/subscribe", data={"csrf": csrf.group(1), "email": "host@example.com"},
                    headers={"Host": "evil.example.net"})
        (mail,) = received(recorder, "host@example.com", 1)
        assert f"{base}/confirm?token=" in mail.get_content()
        assert "evil.example.net" not in mail.get_content()
        # The list token (in every issue) can ask for a confirmation, not activate.
        secret = load_secret(load_config(config))
        assert secret is not None
        token = make_token(secret, "host@example.com")
        clock.now += 1  # a moment after the link was made
        client.post(f"/unsubscribe?token={token}")
        page = re.search(r'name="csrf" value="([^"]+)"', client.get(f"/manage?token={token}").text)
        assert page
        again = {"action": "resubscribe", "csrf": page.group(1)}
        soon = client.post(f"/manage?token={token}", data=again)
        assert soon.status_code == 429  # one confirmation an hour to an address
        clock.now += 3601
        asked = client.post(f"/manage?token={token}", data=again)
        assert asked.status_code == 200 and "Check your inbox" in asked.text
        listed = run(config, "subscribers", "list", "--format", "csv", now=on_day(30), expect=0).output
        assert "host@example.com,unsubscribed" in listed
        # The first link was made before the unsubscribe: it is spent.
        first = re.search(r"(http://\S+/confirm\?token=\S+)", mail.get_content())
        assert first and client.post(first.group(1)).status_code == 400
        # The state database is not served, whatever [web] site_dir says.
        assert client.get("/.digest/state.db").status_code == 404
        assert client.get("/config.toml").status_code == 404

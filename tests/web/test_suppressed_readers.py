"""Issue 18, item 8: bounced and complained addresses are never mailed and never made
active by a third party; a one-click unsubscribe of a bounced address keeps the bounce;
"subscribe again" on /manage needs the page's CSRF token and mails no one already
active. A real uvicorn, aiosmtpd and the state database."""

from __future__ import annotations

import email
import email.message
import re
import sqlite3
from collections.abc import Iterator
from email import policy
from pathlib import Path

import httpx
import pytest

from digest.config.load import load_config
from digest.state.deliveries import Subscriber, Subscribers
from digest.tokens import load_secret, make_token
from tests.helpers import Serving, WebClock, confirm_link, form_csrf, readers_config, wait_for
from tests.smtp_server import Recorder, SmtpServer, free_port

Site = tuple[Path, httpx.Client, Recorder, WebClock]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    recorder = Recorder()
    clock = WebClock()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with SmtpServer(recorder) as smtp:
        config = readers_config(tmp_path, base, smtp.port)
        with Serving(config, port, clock), httpx.Client(base_url=base) as client:
            yield config, client, recorder, clock


def mails(recorder: Recorder, to: str) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(m.content, policy=policy.default)  # type: ignore[misc]
            for m in recorder.messages if to in m.rcpt_tos]


def sentinel(client: httpx.Client, recorder: Recorder, address: str) -> None:
    """Subscribe a fresh address and wait for its mail: the worker sends in order, so
    whatever was asked before it has had its turn."""
    subscribe(client, address)
    assert wait_for(lambda: mails(recorder, address))


def subscribe(client: httpx.Client, address: str) -> str:
    csrf = form_csrf(client.get("/subscribe").text)
    answer = client.post("/subscribe", data={"csrf": csrf, "email": address})
    assert answer.status_code == 200
    return answer.text.replace(csrf, "")


def db(config: Path) -> Path:
    return config.parent / ".digest" / "state.db"


def record(config: Path, address: str) -> tuple[str | None, str | None]:
    """(status, suppression reason) of an address."""
    with sqlite3.connect(db(config)) as conn:
        row = conn.execute("SELECT status FROM subscribers WHERE email = ?", (address,)).fetchone()
        why = conn.execute("SELECT reason FROM suppressions WHERE email = ?",
                           (address,)).fetchone()
    return (row[0] if row else None, why[0] if why else None)


def token(config: Path, address: str) -> str:
    secret = load_secret(load_config(config))
    assert secret is not None
    return make_token(secret, address)


def resubscribe(client: httpx.Client, config: Path, address: str) -> httpx.Response:
    manage = f"/manage?token={token(config, address)}"
    csrf = form_csrf(client.get(manage).text)
    return client.post(manage, data={"action": "resubscribe", "csrf": csrf})


def test_bounced_and_complained_addresses_get_no_mail_and_the_same_page(site) -> None:
    config, client, recorder, _ = site
    with Subscribers.opened(db(config)) as subscribers:
        subscribers.upsert([Subscriber("dead@example.com", "bounced")])
        subscribers.upsert([Subscriber("angry@example.com", "unsubscribed")], reason="complaint")
    fresh = subscribe(client, "fresh@example.com")
    assert subscribe(client, "dead@example.com") == fresh
    assert subscribe(client, "angry@example.com") == fresh
    sentinel(client, recorder, "last@example.com")
    assert mails(recorder, "dead@example.com") == []
    assert mails(recorder, "angry@example.com") == []
    assert record(config, "dead@example.com") == ("bounced", "bounced")
    assert record(config, "angry@example.com") == ("unsubscribed", "complaint")


def test_a_link_from_before_a_complaint_activates_nothing(site) -> None:
    config, client, recorder, clock = site
    subscribe(client, "ann@example.com")
    assert wait_for(lambda: mails(recorder, "ann@example.com"))
    (mail,) = mails(recorder, "ann@example.com")
    with Subscribers.opened(db(config)) as subscribers:  # what `digest bounces` does with ARF
        subscribers.upsert([Subscriber("ann@example.com", "unsubscribed")], reason="complaint")
    clock.now += 60
    assert client.post(confirm_link(mail)).status_code == 400
    assert record(config, "ann@example.com") == ("unsubscribed", "complaint")


def test_one_click_on_a_bounced_address_keeps_the_bounce(site) -> None:
    """The address stays `bounced` (red team: the one-click made it `unsubscribed`), its
    suppression stays; "subscribe again" mails nothing and it never becomes active."""
    config, client, recorder, clock = site
    with Subscribers.opened(db(config)) as subscribers:
        subscribers.upsert([Subscriber("dead@example.com", "bounced")])
    clock.now += 1
    one_click = client.post(f"/unsubscribe?token={token(config, 'dead@example.com')}",
                            content=b"List-Unsubscribe=One-Click",
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert one_click.status_code == 200
    assert record(config, "dead@example.com") == ("bounced", "bounced")
    clock.now += 3601
    again = resubscribe(client, config, "dead@example.com")
    assert again.status_code == 200 and "Check your inbox" in again.text
    sentinel(client, recorder, "last@example.com")
    assert mails(recorder, "dead@example.com") == []
    assert record(config, "dead@example.com") == ("bounced", "bounced")


def test_subscribe_again_needs_the_form_token_and_never_mails_an_active_reader(site) -> None:
    config, client, recorder, clock = site
    with Subscribers.opened(db(config)) as subscribers:
        subscribers.upsert([Subscriber("ann@example.com", "active"),
                            Subscriber("gone@example.com", "unsubscribed")])
    clock.now += 1  # the server's clock past the import's real-time stamp
    manage = f"/manage?token={token(config, 'gone@example.com')}"
    # A forwarded issue's link posted from anywhere, without the page's token: refused.
    assert client.post(manage, data={"action": "resubscribe"}).status_code == 400
    assert client.post(manage, data={"action": "resubscribe", "csrf": "1.abc"}).status_code == 400
    assert re.search(r'name="csrf"', client.get(manage).text)
    # An active reader's link: the same kind of answer, and no mail.
    active = resubscribe(client, config, "ann@example.com")
    assert active.status_code == 200 and "Check your inbox" in active.text
    asked = resubscribe(client, config, "gone@example.com")
    assert asked.status_code == 200
    assert wait_for(lambda: mails(recorder, "gone@example.com"))
    assert mails(recorder, "ann@example.com") == []
    # The owner clicks the link: active again.
    (mail,) = mails(recorder, "gone@example.com")
    clock.now += 5
    assert client.post(confirm_link(mail)).status_code == 200
    assert record(config, "gone@example.com")[0] == "active"

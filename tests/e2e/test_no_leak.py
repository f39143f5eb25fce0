"""Feed text is never personalised: a feed whose every field carries placeholder
look-alikes is built and sent to a real aiosmtpd server; no recipient's address or
token shows up anywhere but where the template puts it."""

from __future__ import annotations

import email
from collections.abc import Iterator
from email import policy
from pathlib import Path

import pytest

from digest.tokens import make_token
from tests.helpers import TEST_SECRET, FeedServer, Route, run
from tests.smtp_server import Recorder, SmtpServer

# Every spelling a placeholder has had or could have, and template syntax.
BAIT = ("%%digest-email%% %%digest-unsubscribe-url%% %%digest-name%% %%digest-company%% "
        "%%digest:0123456789abcdef01234567:email%% {{ recipient.email }} {token} {email}")
URL_BAIT = ("%%digest-email%%/%%digest-unsubscribe-url%%/%%digest:0123456789abcdef01234567:"
            "email%%/{token}/{email}")


def hostile_feed(n: int) -> bytes:
    items = "".join(f"""<item>
      <title>Story {i} {BAIT}</title>
      <link>https://evil.example/t/{i}/{URL_BAIT}</link>
      <guid>bait-{i}</guid>
      <pubDate>Mon, {16 + i} Nov 2026 08:00:00 +0800</pubDate>
      <author>x@evil.example ({BAIT})</author>
      <category>{BAIT}</category>
      <description><![CDATA[<p>Summary {i}. {BAIT}</p>
        <img src="https://evil.example/pixel/{URL_BAIT}.png" alt="{BAIT}"></p>]]></description>
      <enclosure url="https://evil.example/img/{i}/{URL_BAIT}.jpg" type="image/jpeg" length="1"/>
    </item>""" for i in range(n))
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Bait</title>'
            f"<link>https://evil.example/</link>{items}</channel></rss>").encode()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer(Recorder()) as server:
        yield server


def test_feed_text_is_never_personalised(feed_server: FeedServer, tmp_path: Path,
                                         smtp: SmtpServer) -> None:
    feed_server.routes["/bait.xml"] = Route(hostile_feed(10))
    (tmp_path / "subscribers.csv").write_text(
        "email,name,company\nann@example.com,Ann Lee,Acme\nzoe@example.org,Zoë,Zeta\n", "utf-8")
    (tmp_path / "config.toml").write_text(f"""
[newsletter]
name = "Bait Test"
timezone = "UTC"
[[feeds]]
url = "{feed_server.url('/bait.xml')}"
name = "Bait {BAIT.replace('"', "'")}"
[editor]
max_age_days = 0
[delivery]
mode = "smtp"
from = "Bait Test <news@example.com>"
recipients_file = "subscribers.csv"
unsubscribe_url = "https://example.com/unsubscribe?token={{token}}"
[smtp]
host = "127.0.0.1"
port = {smtp.port}
security = "none"
""", "utf-8")
    env = {"DIGEST_NOW": "2026-11-30T08:00:00+00:00"}
    built = run(tmp_path / "config.toml", "build", "--send", env=env)
    assert built.exit_code == 0, built.output
    assert "2 delivered" in built.output

    received = {m.rcpt_tos[0]: m.content for m in smtp.handler.messages}
    assert set(received) == {"ann@example.com", "zoe@example.org"}
    for address, raw in received.items():
        msg = email.message_from_bytes(raw, policy=policy.default)
        token = make_token(TEST_SECRET.encode(), address)
        html = msg.get_body(("html",)).get_content()
        text = msg.get_body(("plain",)).get_content()
        # The feed's text arrived as it was written ...
        assert "evil.example/t/0/%%digest-email%%/%%digest-unsubscribe-url%%" in html
        assert "%%digest-email%%" in text
        # ... and the recipient's data only where the template puts it: the footer's
        # unsubscribe link, once in each part, and the List-Unsubscribe header.
        for part in (html, text):
            assert address not in part and address.split("@")[0] not in part
            assert part.count(token) == 1
        assert token in msg["List-Unsubscribe"]
        other = ({"ann@example.com", "zoe@example.org"} - {address}).pop()
        assert other not in raw.decode("ascii")
        assert "Acme" not in html + text and "Zeta" not in html + text

    outbox = next(p for p in (tmp_path / "outbox").iterdir() if p.name.endswith("-1"))
    eml = (outbox / "message.eml").read_bytes()
    assert eml == received["ann@example.com"], "message.eml is what was sent to the first"
    assert all(len(line) <= 76 for line in eml.split(b"\r\n\r\n", 1)[1].split(b"\r\n"))

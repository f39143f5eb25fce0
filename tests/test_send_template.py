"""The pre-encoded message: per-recipient substitution survives quoted-printable."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy

import pytest

from digest.deliver.template import MessageTemplate
from digest.recipients import Recipient
from digest.render import personalize


def make(html: str, text: str, **kwargs: str) -> MessageTemplate:
    return MessageTemplate(
        issue_key="news-7", sender="Ünïcode News <news@example.com>",
        subject="Wöchentlich: " + ("long subject " * 12).strip(), html=html, text=text,
        date=datetime(2026, 12, 1, 8, 0, tzinfo=UTC),
        unsubscribe_url="https://example.com/u?t={token}&e={email}", secret="s", **kwargs)


@pytest.mark.parametrize("pad", [0, 1, 30, 60, 70, 72, 73, 74, 75, 76, 77, 150])
def test_sentinels_anywhere_on_a_line_survive_quoted_printable(pad: int) -> None:
    line = "é" * (pad // 2) + "x" * (pad % 2)
    html = (f"<p>{line}<a href=\"%%digest-unsubscribe-url%%\">bye %%digest-name%%</a>"
            f"{line}</p>\n.starts with a dot\ntrailing space \n<p>plain</p>\n")
    text = f"{line}Hello %%digest-name%% (%%digest-company%%)\n.dot\n{'z' * 300}\n"
    template = make(html, text)
    who = Recipient("zoe@example.org", "Zoë = \"Z\" <&>", (("company", "Ünal & Co"),))
    raw = template.render(who)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert all(len(line) <= 998 for line in head.split(b"\r\n"))
    assert all(len(line) <= 76 for line in body.split(b"\r\n"))  # QP wraps every line
    msg = email.message_from_bytes(raw, policy=policy.default)
    url = template.unsubscribe_url("zoe@example.org")
    values = {"name": who.name, "email": who.email, "unsubscribe_url": url}
    got_html = msg.get_body(("html",)).get_content().replace("\r\n", "\n")
    got_text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert got_html == personalize(html, values, html=True).rstrip("\n")
    assert got_text == personalize(text, values, html=False).replace(
        "%%digest-company%%", "Ünal & Co").rstrip("\n")
    assert msg["Subject"] == "Wöchentlich: " + ("long subject " * 12).strip()
    assert msg["From"].addresses[0].display_name == "Ünïcode News"


def test_wire_is_dot_stuffed_and_terminated() -> None:
    template = make("<p>a</p>\n.x\n", ".only dots\n")
    wire = template.wire(Recipient("a@example.com"))
    assert wire.endswith(b"\r\n.\r\n")
    assert b"\r\n..only dots\r\n" in wire and b"\r\n..x\r\n" in wire
    assert b"\r\n.only" not in template.render(Recipient("a@example.com")).replace(
        b"\r\n.only", b"")  # render() itself is not stuffed (it is what DKIM signs)
    assert b"\r\n.only dots" in template.render(Recipient("a@example.com"))


def test_list_unsubscribe_is_ascii_and_not_encoded_even_for_odd_addresses() -> None:
    template = make("<p>x</p>\n", "x\n", unsubscribe_mailto="leave@example.com")
    raw = template.render(Recipient("o'hara+news@example.com", "Ó Hara"))
    line = next(h for h in raw.split(b"\r\n") if h.startswith(b"List-Unsubscribe:"))
    assert b"=?" not in line
    assert line.startswith(b"List-Unsubscribe: <https://example.com/u?t=")
    assert line.endswith(b"&e=o%27hara%2Bnews@example.com>, "
                         b"<mailto:leave@example.com?subject=unsubscribe>")
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in raw

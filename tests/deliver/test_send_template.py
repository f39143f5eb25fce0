"""The pre-encoded message: per-recipient substitution survives quoted-printable."""

from __future__ import annotations

import email
import html as htmllib
from datetime import UTC, datetime
from email import policy

import pytest

from digest.deliver.message import MessageTemplate
from digest.deliver.recipients import Recipient
from digest.tokens import make_token

MARKER = "0f1e2d3c4b5a69788796a5b4"
SECRET = b"s" * 32


def ph(name: str) -> str:
    return f"%%digest:{MARKER}:{name}%%"


def personalize(text: str, values: dict[str, str], *, html: bool) -> str:
    """What a recipient should read: each placeholder replaced, escaped in HTML."""
    for name, value in values.items():
        text = text.replace(ph(name), htmllib.escape(value) if html else value)
    return text


def make(html: str, text: str, **kwargs: str) -> MessageTemplate:
    return MessageTemplate(
        issue_key="news-7", sender="Ünïcode News <news@example.com>",
        subject="Wöchentlich: " + ("long subject " * 12).strip(), html=html, text=text,
        date=datetime(2026, 12, 1, 8, 0, tzinfo=UTC), marker=MARKER,
        unsubscribe_url="https://example.com/u?t={token}", secret=SECRET, **kwargs)


@pytest.mark.parametrize("pad", [0, 1, 30, 60, 70, 72, 73, 74, 75, 76, 77, 150])
def test_sentinels_anywhere_on_a_line_survive_quoted_printable(pad: int) -> None:
    line = "é" * (pad // 2) + "x" * (pad % 2)
    html = (f"<p>{line}<a href=\"{ph('unsubscribe-url')}\">bye {ph('name')}</a>"
            f"{line}</p>\n.starts with a dot\ntrailing space \n<p>plain</p>\n")
    text = f"{line}Hello {ph('name')} ({ph('company')})\n.dot\n{'z' * 300}\n"
    template = make(html, text)
    who = Recipient("zoe@example.org", "Zoë = \"Z\" <&>", (("company", "Ünal & Co"),))
    raw = template.render(who)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert all(len(line) <= 998 for line in head.split(b"\r\n"))
    assert all(len(line) <= 76 for line in body.split(b"\r\n"))  # QP wraps every line
    msg = email.message_from_bytes(raw, policy=policy.default)
    url = template.unsubscribe_url("zoe@example.org")
    values = {"name": who.name, "email": who.email, "unsubscribe-url": url,
              "company": "Ünal & Co"}
    got_html = msg.get_body(("html",)).get_content().replace("\r\n", "\n")
    got_text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert got_html == personalize(html, values, html=True).rstrip("\n")
    assert got_text == personalize(text, values, html=False).rstrip("\n")
    assert "Hello Zoë" in got_text and "Ünal &amp; Co" not in got_text
    assert template.parts(who) == (personalize(html, values, html=True),
                                   personalize(text, values, html=False))
    assert msg["Subject"] == "Wöchentlich: " + ("long subject " * 12).strip()
    assert msg["From"].addresses[0].display_name == "Ünïcode News"


def test_wire_is_dot_stuffed_and_terminated() -> None:
    template = make("<p>a</p>\n.x\n", ".only dots\n")
    wire = template.wire(Recipient("a@example.com"))
    assert wire.endswith(b"\r\n.\r\n")
    assert b"\r\n..only dots\r\n" in wire and b"\r\n..x\r\n" in wire
    plain = template.render(Recipient("a@example.com"))  # not stuffed: what DKIM signs
    assert b"\r\n.only dots\r\n" in plain and b"\r\n..only" not in plain
    assert wire == plain.replace(b"\r\n.", b"\r\n..") + b".\r\n"


def test_list_unsubscribe_is_ascii_and_not_encoded_even_for_odd_addresses() -> None:
    template = make("<p>x</p>\n", "x\n", unsubscribe_mailto="leave@example.com")
    raw = template.render(Recipient("o'hara+news@example.com", "Ó Hara"))
    line = next(h for h in raw.split(b"\r\n") if h.startswith(b"List-Unsubscribe:"))
    assert b"=?" not in line
    assert line.startswith(b"List-Unsubscribe: <https://example.com/u?t=")
    token = make_token(SECRET, "o'hara+news@example.com")
    assert line.endswith(f"?t={token}>, <mailto:leave@example.com?subject=unsubscribe>".encode())
    assert b"hara" not in line.split(b"mailto:")[0]  # the address never shows in the URL
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in raw


def test_text_that_only_looks_like_a_placeholder_is_left_alone() -> None:
    """Feed text cannot know this render's marker, so nothing in it is substituted."""
    fake = ("%%digest:0000:email%% %%digest-email%% %%digest:" + MARKER[:-1] + "x:email%%")
    template = make(f"<p>{fake} {ph('email')}</p>\n", f"{fake} {ph('email')}\n")
    msg = email.message_from_bytes(template.render(Recipient("zoe@example.org")),
                                   policy=policy.default)
    assert msg.get_body(("plain",)).get_content().strip() == f"{fake} zoe@example.org"
    assert f"{fake} zoe@example.org" in msg.get_body(("html",)).get_content()


def test_same_bytes_every_time() -> None:
    """Boundary and Date come from the issue: the outbox copy equals what is sent."""
    one = make("<p>x</p>\n", "x\n").render(Recipient("a@example.com"))
    two = make("<p>x</p>\n", "x\n").render(Recipient("a@example.com"))
    assert one == two


@pytest.mark.parametrize("name", ["😀" * 199, "张伟" * 90, "a" * 199, "Ünal, Zoë", "O'Hara \"Z\" <x>"])
def test_long_or_foreign_names_fold_into_short_header_lines(name: str) -> None:
    template = make("<p>x</p>\n", "x\n")
    raw = template.render(Recipient("zoe@example.org", name))
    head = raw.partition(b"\r\n\r\n")[0]
    assert max(len(line) for line in head.split(b"\r\n")) <= 998
    msg = email.message_from_bytes(raw, policy=policy.default)
    # (Python's parser keeps a space between adjacent encoded words; RFC 2047 readers,
    # mail clients among them, drop it.)
    assert msg["To"].addresses[0].display_name.replace(" ", "") == name.replace(" ", "")
    assert msg["To"].addresses[0].addr_spec == "zoe@example.org"


def test_message_ids_are_keyed() -> None:
    """Without the key, hashing a guessed address does not give the Message-ID."""
    ids = {make("<p>x</p>\n", "x\n", id_key=k).message_id(Recipient("zoe@example.org"))
           for k in ("a" * 32, "b" * 32)}
    assert len(ids) == 2


def test_a_long_unsubscribe_pair_folds_between_its_targets() -> None:
    long_url = "https://example.com/u?t={token}&p=" + "x" * 560
    template = make("<p>x</p>\n", "x\n", unsubscribe_mailto="u@example.com")
    template.unsubscribe_template = long_url
    address = "a" * 64 + "@" + ".".join(["b" * 60] * 3) + ".example"
    raw = template.render(Recipient(address))
    head = raw.partition(b"\r\n\r\n")[0]
    assert max(len(line) for line in head.split(b"\r\n")) <= 998
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg["List-Unsubscribe"].count("<") == 2 and "mailto:u@example.com" in \
        msg["List-Unsubscribe"]


def test_a_bad_dkim_key_is_one_line_naming_the_key_file() -> None:
    from digest.deliver.message import Dkim
    from digest.errors import ConfigError

    template = make("<p>x</p>\n", "x\n")
    template.dkim = Dkim(b"news", b"example.com",
                         b"-----BEGIN PRIVATE KEY-----\nnot base64 at all!\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigError, match=r"^\[dkim\] key_file: cannot sign with this key \(") as e:
        template.wire(Recipient("a@example.com"))
    assert "\n" not in str(e.value)

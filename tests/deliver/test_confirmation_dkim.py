"""Issue 18, item 11: with `[dkim]` set, the confirmation mail `digest serve` sends is
signed by the issue mails' signer (under strict DMARC an unsigned one never arrives). A
real uvicorn and aiosmtpd; the signature checked with dkimpy against the public key."""

from __future__ import annotations

import email
import re
from email import policy
from pathlib import Path

import dkim
import httpx

from tests.helpers import Serving, WebClock, dkim_key, form_csrf, readers_config, wait_for
from tests.smtp_server import Recorder, SmtpServer, free_port


def test_the_confirmation_mail_is_dkim_signed(tmp_path: Path) -> None:
    record = dkim_key(tmp_path)
    recorder = Recorder()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with SmtpServer(recorder) as smtp:
        config = readers_config(tmp_path, base, smtp.port,
                                f'\n[dkim]\nkey_file = "{tmp_path / "dkim.pem"}"\n'
                                'selector = "news"\ndomain = "example.com"\n')
        with Serving(config, port, WebClock()), httpx.Client(base_url=base) as client:
            csrf = form_csrf(client.get("/subscribe").text)
            client.post("/subscribe", data={"csrf": csrf, "email": "new@example.com"})
            assert wait_for(lambda: recorder.messages)
    raw = recorder.messages[0].content

    def dns(name: bytes, timeout: int = 5) -> bytes:
        return record if name == b"news._domainkey.example.com." else b""

    assert dkim.verify(raw, dnsfunc=dns)
    signature = email.message_from_bytes(raw, policy=policy.default)["DKIM-Signature"]
    found = re.search(r"h=([^;]+)", str(signature).replace("\r\n", "").replace(" ", ""))
    assert found
    assert {"from", "to", "subject", "date", "message-id"} <= {
        h.strip().lower() for h in found.group(1).split(":")}
    assert not dkim.verify(raw.replace(b"Subject: Confirm", b"Subject: Hello"), dnsfunc=dns)

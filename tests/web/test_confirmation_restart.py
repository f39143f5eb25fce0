"""Issue 18, item 7: `digest serve` killed (-9) while its confirmation mail is being
sent (the relay accepted the connection and never answered) leaves the mail queued in
the state database; the next start sends it, and its link confirms. A real `digest
serve` process, a hung relay, then aiosmtpd."""

from __future__ import annotations

import email
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy
from pathlib import Path

import httpx

from tests.helpers import SECRET, confirm_link, form_csrf, readers_config, wait_for
from tests.smtp_server import HungServer, Recorder, SmtpServer, free_port


@contextmanager
def digest_serve(config: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "digest", "--config", str(config), "serve", "--port", str(port)],
        env={**os.environ, "DIGEST_SECRET": SECRET}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        def up() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).text == "ok"
            except httpx.HTTPError:
                return False
        assert wait_for(up, 30), "digest serve did not start"
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def queued(config: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(config.parent / ".digest" / "state.db") as conn:
        return [(str(r[0]), str(r[1])) for r in conn.execute(
            "SELECT email, state FROM confirmations ORDER BY id")]


def test_a_mail_left_by_kill_9_mid_send_goes_out_after_a_restart(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with HungServer() as relay:
        config = readers_config(tmp_path, base, relay.port, "timeout = 60\n")
        with digest_serve(config, port) as server, httpx.Client(base_url=base) as client:
            csrf = form_csrf(client.get("/subscribe").text)
            answer = client.post("/subscribe", data={"csrf": csrf, "email": "kim@example.com"})
            assert answer.status_code == 200
            assert relay.connected.wait(20)  # the send has begun, and hangs
            server.send_signal(signal.SIGKILL)
            server.wait(10)
    assert queued(config) == [("kim@example.com", "queued")]

    recorder = Recorder()
    with SmtpServer(recorder) as smtp:
        config.write_text(config.read_text("utf-8").replace(f"port = {relay.port}",
                                                            f"port = {smtp.port}"), "utf-8")
        with digest_serve(config, port), httpx.Client(base_url=base) as client:
            assert wait_for(lambda: recorder.messages), "the queued mail was not sent"
            (mail,) = [email.message_from_bytes(m.content, policy=policy.default)
                       for m in recorder.messages]
            assert mail["To"] == "kim@example.com"
            assert client.post(confirm_link(mail)).status_code == 200  # type: ignore[arg-type]
            assert wait_for(lambda: queued(config) == [("kim@example.com", "sent")])

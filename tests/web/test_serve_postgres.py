"""`digest serve` with its state on each backend (the `state_db` fixture: a SQLite
file, or a real PostgreSQL server through DIGEST_DATABASE_URL): sign-up, the
confirmation mail from the queue, confirm and one-click unsubscribe; two servers on one
database share the rate limits (two web nodes); /healthz names a stopped server."""

from __future__ import annotations

import email
import time
from email import policy
from pathlib import Path
from typing import Any

import httpx

from digest.config.load import load_config
from digest.tokens import load_secret, make_token
from tests.helpers import Serving, confirm_link, form_csrf, readers_config, run
from tests.smtp_server import Recorder, SmtpServer, free_port


def received(recorder: Recorder, to: str, at_least: int) -> list[email.message.EmailMessage]:
    deadline = time.monotonic() + 10
    while True:
        found = [email.message_from_bytes(m.content, policy=policy.default)  # type: ignore[misc]
                 for m in recorder.messages if to in m.rcpt_tos]
        if len(found) >= at_least or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def subscribe(client: httpx.Client, address: str) -> httpx.Response:
    csrf = form_csrf(client.get("/subscribe").text)
    return client.post("/subscribe", data={"csrf": csrf, "email": address, "name": "R"})


def test_sign_up_confirm_and_unsubscribe(tmp_path: Path, state_db: Path | str) -> None:
    recorder = Recorder()
    port = free_port()
    with SmtpServer(recorder) as smtp:
        config = readers_config(tmp_path, f"http://127.0.0.1:{port}", smtp.port)
        with Serving(config, port, time.time) as site, \
                httpx.Client(base_url=site.base) as client:
            assert client.get("/healthz").text == "ok"
            assert subscribe(client, "new@example.com").status_code == 200
            (mail,) = received(recorder, "new@example.com", 1)
            assert client.post(confirm_link(mail)).status_code == 200
            listed = run(config, "subscribers", "list", "--format", "csv", expect=0).output
            assert "new@example.com,active" in listed
            secret = load_secret(load_config(config))
            assert secret is not None
            token = make_token(secret, "new@example.com")
            done = client.post(f"/unsubscribe?token={token}",
                               content=b"List-Unsubscribe=One-Click",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
            assert done.status_code == 200
    listed = run(config, "subscribers", "list", "--format", "csv", expect=0).output
    assert "new@example.com,unsubscribed" in listed
    assert (tmp_path / ".digest" / "state.db").exists() == (not isinstance(state_db, str))


def test_two_servers_on_one_database_share_the_rate_limit(tmp_path: Path,
                                                          state_db: Path | str) -> None:
    ports = free_port(), free_port()
    with SmtpServer(Recorder()) as smtp:
        config = readers_config(tmp_path, f"http://127.0.0.1:{ports[0]}", smtp.port)
        with Serving(config, ports[0], time.time) as one, \
                Serving(config, ports[1], time.time) as two, \
                httpx.Client(base_url=one.base) as a, httpx.Client(base_url=two.base) as b:
            codes = [subscribe(a, f"a{i}@example.com").status_code for i in range(3)]
            codes += [subscribe(b, f"b{i}@example.com").status_code for i in range(3)]
    assert codes[:5] == [200] * 5 and codes[5] == 429  # five a client, whichever node


def test_healthz_names_a_stopped_server(tmp_path: Path, postgres_server: Any,
                                        postgres_url: str) -> None:
    port = free_port()
    with SmtpServer(Recorder()) as smtp:
        config = readers_config(tmp_path, f"http://127.0.0.1:{port}", smtp.port,
                                f'\n[state]\nurl = "{postgres_url}"\n')
        with Serving(config, port, time.time) as site, \
                httpx.Client(base_url=site.base) as client:
            assert client.get("/healthz").text == "ok"
            postgres_server.stop()
            answer = client.get("/healthz")
    assert answer.status_code == 503
    (line,) = answer.text.splitlines()
    assert line.startswith("database: cannot reach PostgreSQL state database postgresql://")

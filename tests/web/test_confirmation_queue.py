"""Confirmation mails of `digest serve` (issue 18, items 7, 12 and 14, and expiring
sign-ups): queued in the state database in the sign-up's transaction, sent by the
server's worker with retries, never in a request. A real uvicorn, aiosmtpd (and a relay
that accepts and never answers), the state database on disk."""

from __future__ import annotations

import email
import email.message
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from email import policy
from pathlib import Path

import httpx
import pytest

from digest.config.load import load_config
from digest.tokens import load_secret, make_token
from digest.web.app import CONFIRM_SECONDS
from tests.helpers import (
    Serving,
    WebClock,
    confirm_link,
    form_csrf,
    readers_config,
    wait_for,
)
from tests.smtp_server import HungServer, Recorder, SmtpServer, free_port


def received(recorder: Recorder, to: str, at_least: int = 1) -> list[email.message.EmailMessage]:
    """Messages to `to`, once there are `at_least` of them (waits up to 10 s)."""
    def found() -> list[email.message.EmailMessage]:
        return [email.message_from_bytes(m.content, policy=policy.default)  # type: ignore[misc]
                for m in recorder.messages if to in m.rcpt_tos]
    wait_for(lambda: len(found()) >= at_least)
    return found()


def rows(config: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(config.parent / ".digest" / "state.db") as conn:
        return [tuple(r) for r in conn.execute(sql, args)]


def status(config: Path, address: str) -> str | None:
    found = rows(config, "SELECT status FROM subscribers WHERE email = ?", address)
    return str(found[0][0]) if found else None


def queue(config: Path, address: str) -> list[tuple[object, ...]]:
    return rows(config, "SELECT state, attempts FROM confirmations WHERE email = ? ORDER BY id",
                address)


def subscribe(client: httpx.Client, address: str) -> httpx.Response:
    csrf = form_csrf(client.get("/subscribe").text)
    return client.post("/subscribe", data={"csrf": csrf, "email": address, "name": "R"})


Site = tuple[Path, str, Recorder, WebClock]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Callable[..., Site]]:
    """site(extra TOML) -> (config, base URL, the mail server's recorder, the clock)."""
    with ExitStack() as stack:
        def start(extra: str = "", clock: WebClock | None = None) -> Site:
            recorder = Recorder()
            smtp = stack.enter_context(SmtpServer(recorder))
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            config = readers_config(tmp_path, base, smtp.port, extra)
            clock = clock or WebClock()
            stack.enter_context(Serving(config, port, clock))
            return config, base, recorder, clock
        yield start


def test_one_click_unsubscribe_stays_fast_while_a_hung_relay_holds_45_confirmations(
        tmp_path: Path) -> None:
    """Item 7: 45 sign-ups (each from a client of its own) while the relay accepts and
    never answers; the one-click unsubscribe that follows answers at once (old code: the
    sends held the thread pool, 28.6 s)."""
    clock = WebClock()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with HungServer() as relay:
        config = readers_config(tmp_path, base, relay.port, "timeout = 20\n")
        with Serving(config, port, clock):
            def sign_up(i: int) -> int:
                transport = httpx.HTTPTransport(local_address=f"127.0.0.{i + 2}")
                with httpx.Client(base_url=base, transport=transport, timeout=60) as client:
                    return subscribe(client, f"r{i}@example.com").status_code

            # 45 at once, from 127.0.0.2 on: one client each, under the rate limit.
            pool = ThreadPoolExecutor(45)
            answers = [pool.submit(sign_up, i) for i in range(45)]
            assert relay.connected.wait(10)  # a send is stuck
            # All answered (at once here; the old code's answers waited for the pool too,
            # so give up waiting after a while and measure all the same).
            wait_for(lambda: all(a.done() for a in answers), 5)
            secret = load_secret(load_config(config))
            assert secret is not None
            took = []
            with httpx.Client(base_url=base, timeout=60) as client:
                for i in range(10):
                    start = time.perf_counter()
                    answer = client.post(f"/unsubscribe?token={make_token(secret, f'r{i}@example.com')}",
                                         content=b"List-Unsubscribe=One-Click",
                                         headers={"Content-Type":
                                                  "application/x-www-form-urlencoded"})
                    took.append(time.perf_counter() - start)
                    assert answer.status_code == 200
            print(f"one-click unsubscribe with a hung relay and 45 queued: median "
                  f"{statistics.median(took) * 1000:.1f} ms, max {max(took) * 1000:.1f} ms")
            assert max(took) < 3  # milliseconds in fact; seconds would be the old stall
            assert [a.result() for a in answers] == [200] * 45
            pool.shutdown()
            relay.close()  # the worker's send ends, and so does the server
            assert relay.connections == 1  # one mail at a time, the rest wait in the queue
            assert len(rows(config, "SELECT 1 FROM confirmations WHERE state = 'queued'")) == 45


def test_a_failed_mail_is_retried_with_backoff(site) -> None:
    """Item 7: two 451s, then accepted: sent on the third try, each retry after the
    backoff (30 s, then 60 s, on the server's clock)."""
    config, base, recorder, clock = site('[web]\nconfirm_retry_delay = 30\n')
    recorder.transient["late@example.com"] = 2
    with httpx.Client(base_url=base) as client:
        assert subscribe(client, "late@example.com").status_code == 200
    assert wait_for(lambda: queue(config, "late@example.com") == [("queued", 1)])
    time.sleep(1.5)  # a whole idle pass of the worker: not retried before its time
    assert queue(config, "late@example.com") == [("queued", 1)]
    clock.now += 30
    assert wait_for(lambda: queue(config, "late@example.com") == [("queued", 2)])
    clock.now += 60
    (mail,) = received(recorder, "late@example.com")
    assert wait_for(lambda: queue(config, "late@example.com") == [("sent", 3)])
    assert recorder.replies["451"] == 2


def test_the_hourly_slot_counts_only_mails_that_were_sent(site) -> None:
    """Item 7: a refused mail (550) spends no slot: a new sign-up in the same hour is
    mailed; a sent one does: the next sign-up that hour is not."""
    config, base, recorder, clock = site()
    recorder.permanent.add("ann@example.com")
    with httpx.Client(base_url=base) as client:
        subscribe(client, "ann@example.com")
        assert wait_for(lambda: recorder.replies["550"] == 1)
        recorder.permanent.clear()  # the relay is fixed
        subscribe(client, "ann@example.com")
        assert len(received(recorder, "ann@example.com")) == 1
        assert wait_for(lambda: queue(config, "ann@example.com") == [("failed", 1), ("sent", 1)])
        subscribe(client, "ann@example.com")  # within the hour of a sent one: no mail
        assert queue(config, "ann@example.com")[-1] == ("skipped", 0)
        clock.now += 3601
        subscribe(client, "ann@example.com")
        assert len(received(recorder, "ann@example.com", 2)) == 2


def test_a_sign_up_at_a_millisecond_boundary_confirms(site) -> None:
    """Item 12: a sign-up at ...123.9996 s. The old code stored the time rounded to
    ...124 ms and put the truncated ...123 ms into the token: the link was refused as
    "no longer valid". The time is now one integer of milliseconds for both."""
    config, base, recorder, clock = site(clock=WebClock(1_764_489_600.1239996))
    with httpx.Client(base_url=base) as client:
        subscribe(client, "edge@example.com")
        (mail,) = received(recorder, "edge@example.com")
        clock.now += 5
        answer = client.post(confirm_link(mail))
        assert answer.status_code == 200, answer.text
    assert status(config, "edge@example.com") == "active"


def test_many_sign_ups_confirm_whatever_their_millisecond(site) -> None:
    """Item 12: sign-ups at 400 instants across the sub-millisecond range; every
    link confirms (through the store, the server's own code path for each)."""
    from digest.state.deliveries import Subscribers

    config, base, recorder, clock = site()
    db = config.parent / ".digest" / "state.db"
    with Subscribers.opened(db) as subscribers:
        for i in range(400):
            moment = 1_764_489_600 + i * 0.0010007 + 0.00049 * (i % 3)
            issued = int(moment * 1000)
            address = f"n{i}@example.com"
            subscribers.request(address, "", issued)
            expires = issued + CONFIRM_SECONDS * 1000  # what the token carries
            assert subscribers.confirm(address, expires - CONFIRM_SECONDS * 1000, "127.0.0.1",
                                       issued + 10) == "active", i


def test_known_and_new_addresses_do_the_same_work(site) -> None:
    """Item 14: every kind of address gets the same page and writes one row into the
    queue in the same transaction (a known one used to return early, 4.4 vs 6.3 ms)."""
    from digest.state.deliveries import Subscriber, Subscribers

    config, base, recorder, clock = site()
    db = config.parent / ".digest" / "state.db"
    with Subscribers.opened(db) as subscribers:
        subscribers.upsert([Subscriber("active@example.com", "active"),
                            Subscriber("gone@example.com", "unsubscribed"),
                            Subscriber("dead@example.com", "bounced")])
    answers = {}
    with httpx.Client(base_url=base) as client:
        for who in ("new", "active", "gone", "dead"):
            answers[who] = subscribe(client, f"{who}@example.com")
    assert {a.status_code for a in answers.values()} == {200}
    texts = {a.text.replace(form_csrf(a.text) if 'name="csrf"' in a.text else "", "")
             for a in answers.values()}
    assert len(texts) == 1
    assert [len(queue(config, f"{who}@example.com")) for who in answers] == [1, 1, 1, 1]
    assert queue(config, "active@example.com") == [("skipped", 0)]
    assert queue(config, "dead@example.com") == [("skipped", 0)]


def test_pending_sign_ups_expire_with_their_link(site) -> None:
    """A pending row is removed once its newest link has expired; one asked again
    since (a fresh link) stays."""
    config, base, recorder, clock = site()
    with httpx.Client(base_url=base) as client:
        subscribe(client, "once@example.com")
        subscribe(client, "twice@example.com")
        received(recorder, "twice@example.com")
        clock.now += CONFIRM_SECONDS - 3600
        subscribe(client, "twice@example.com")  # a new link, 47 hours later
        received(recorder, "twice@example.com", 2)
        clock.now += 3601
    assert wait_for(lambda: status(config, "once@example.com") is None)
    assert status(config, "twice@example.com") == "pending"
    assert len(queue(config, "twice@example.com")) == 1  # the expired row is gone too


def test_in_outbox_mode_the_worker_writes_the_mail_as_a_file(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = readers_config(tmp_path, base, free_port())
    config.write_text(config.read_text("utf-8").replace('mode = "smtp"', 'mode = "outbox"'),
                      "utf-8")
    folder = tmp_path / "outbox" / "confirmations"
    with Serving(config, port, WebClock()), httpx.Client(base_url=base) as client:
        subscribe(client, "file@example.com")
        (eml,) = wait_for(lambda: list(folder.glob("*.eml")))
        mail = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
        assert mail["To"] == "file@example.com"
        assert client.post(confirm_link(mail)).status_code == 200  # type: ignore[arg-type]
    assert status(config, "file@example.com") == "active"
    assert queue(config, "file@example.com") == [("sent", 1)]


def test_a_mail_is_given_up_after_its_attempts(site) -> None:
    config, base, recorder, clock = site('[web]\nconfirm_attempts = 2\nconfirm_retry_delay = 0\n')
    recorder.transient["busy@example.com"] = 5
    with httpx.Client(base_url=base) as client:
        subscribe(client, "busy@example.com")
    assert wait_for(lambda: queue(config, "busy@example.com") == [("failed", 2)])
    assert recorder.replies["451"] == 2

"""`digest serve` under attack (issue 18, items 6, 9, 10, 15, 16, 17): each test starts
the real server through its front door (`python -m digest serve`, uvicorn on
127.0.0.1) and talks to it with httpx or a raw socket, as the red team did."""

from __future__ import annotations

import email
import re
import resource
import socket
import time
from collections.abc import Iterator
from email import policy
from pathlib import Path

import httpx
import pytest

from digest.tokens import make_token
from digest.web.site import MARKER
from digest.web.zone_field import SCRIPT_HASH
from tests.helpers import (
    BASE_CONFIG,
    SECRET,
    Digest,
    error_line,
    run,
    secret,  # noqa: F401 - DIGEST_SECRET for the server
)
from tests.smtp_server import Recorder, SmtpServer, free_port

CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
       f"form-action 'self'; frame-ancestors 'none'; script-src '{SCRIPT_HASH}'")


def write_config(folder: Path, port: int, web: str = "", extra: str = "", delivery: str = "",
                 newsletter: str = "") -> Path:
    base = f"http://127.0.0.1:{port}"
    config = folder / "config.toml"
    config.write_text(
        BASE_CONFIG.replace('web_url = "https://example.com/newsletter"', f'web_url = "{base}"\n{newsletter}')
        .replace('unsubscribe_url = "https://example.com/unsubscribe?token={token}"',
                 f'unsubscribe_url = "{base}/unsubscribe?token={{token}}"\n{delivery}')
        + extra + '\n[[feeds]]\nurl = "feed.xml"\nname = "Wire"\n' + f"\n[web]\n{web}\n",
        "utf-8")
    return config


class Served:
    """`digest serve` as a subprocess on 127.0.0.1:`port`, its stderr lines kept."""

    def __init__(self, config: Path, port: int) -> None:
        self.port, self.base = port, f"http://127.0.0.1:{port}"
        self.digest = Digest(config, "serve", "--port", str(port))
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if self.digest.proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("digest serve did not start:\n" + self.digest.log)
                time.sleep(0.05)

    @property
    def pid(self) -> int:
        return self.digest.proc.pid

    @property
    def log(self) -> str:
        return self.digest.log

    def client(self, **kw: object) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=10, **kw)  # type: ignore[arg-type]

    def stop(self) -> None:
        self.digest.proc.terminate()
        self.digest.finish()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator:
    started: list[Served] = []

    def start(web: str = "", extra: str = "", port: int | None = None,
              folder: Path = tmp_path, delivery: str = "", newsletter: str = "") -> Served:
        port = port or free_port()
        served = Served(write_config(folder, port, web, extra, delivery, newsletter), port)
        started.append(served)
        return served

    yield start
    for served in started:
        if served.digest.proc.poll() is None:
            served.stop()


def form_token(client: httpx.Client) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/subscribe").text)
    assert found
    return found.group(1)


def subscribe(client: httpx.Client, address: str, headers: dict[str, str] | None = None
              ) -> int:
    token = form_token(client)
    return client.post("/subscribe", data={"csrf": token, "email": address},
                       headers=headers).status_code


def raw(port: int, request: bytes, timeout: float = 5) -> bytes:
    """What the server answers to `request` on a fresh connection, until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
        return answer


def closed_within(s: socket.socket, seconds: float) -> float:
    """How long until the server closes `s` (fails past `seconds`)."""
    start = time.monotonic()
    s.settimeout(seconds)
    while s.recv(65536):
        pass
    return time.monotonic() - start


# -- 6: bodies are capped, typed and same-site before anything parses them ----------------

def test_a_body_over_the_cap_is_refused_unread_and_nothing_is_spooled(serve) -> None:
    served = serve()
    head = (b"POST /subscribe HTTP/1.1\r\nHost: x\r\nContent-Type: "
            b"application/x-www-form-urlencoded\r\nContent-Length: 300000000\r\n\r\n")
    answer = raw(served.port, head)  # no body sent: the answer comes before it
    assert answer.startswith(b"HTTP/1.1 413 ")
    # Chunked: counted while it streams, cut off a few KB in.
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as s:
        s.sendall(b"POST /subscribe HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                  b"Content-Type: application/x-www-form-urlencoded\r\n\r\n")
        sent, answer = 0, b""
        s.settimeout(0.05)
        while not answer and sent < 4_000_000:
            try:
                s.sendall(b"400\r\n" + b"a" * 1024 + b"\r\n")
                sent += 1024
                answer = s.recv(65536)
            except TimeoutError:
                continue
            except OSError:  # closed under us: the answer is in the buffer
                break
        s.settimeout(5)
        try:
            answer += s.recv(65536)
        except OSError:
            pass
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:100]
    assert sent < 1_000_000
    # Multipart is not parsed (it was spooled to the temp folder); one-click may use it.
    with served.client() as client:
        files = {"upload": ("x.bin", b"x" * 4000, "application/octet-stream")}
        assert client.post("/subscribe", data={"csrf": form_token(client)},
                           files=files).status_code == 415
        assert client.post("/subscribe", content=b'{"email": "a@example.com"}',
                           headers={"Content-Type": "application/json"}).status_code == 415
        token = make_token(SECRET.encode(), "editor@example.com")
        one_click = client.post(f"/unsubscribe?token={token}",
                                files={"List-Unsubscribe": (None, "One-Click")})
        assert one_click.status_code == 200


def test_a_form_from_another_site_is_refused_with_a_good_token(serve) -> None:
    served = serve()
    with served.client() as client:
        token = form_token(client)
        for foreign in ({"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                        {"Origin": "https://evil.example"},
                        {"Referer": "https://evil.example/page"},
                        {"Origin": f"http://127.0.0.1:{served.port + 1}"}):
            answer = client.post("/subscribe", data={"csrf": token, "email": "x@example.com"},
                                 headers=foreign)
            assert answer.status_code == 403, foreign
        # Our own page's POST: the browser says same-origin (and, under no-referrer,
        # Origin: null); a client that is no browser sends none of them.
        for own in ({"Sec-Fetch-Site": "same-origin", "Origin": "null"},
                    {"Origin": served.base}, {"Referer": f"{served.base}/subscribe"}, {}):
            assert subscribe(client, f"own{len(own)}@example.com", own) == 200, own


# -- 9: trusted proxies --------------------------------------------------------------------

def test_the_client_is_the_rightmost_untrusted_hop_and_mapped_addresses_are_ipv4(serve
                                                                                  ) -> None:
    served = serve('trusted_proxies = ["127.0.0.1", "10.0.0.0/8"]')
    with served.client() as client:
        # Two readers behind a second proxy (10.0.0.2): two buckets, five sign-ups each.
        for reader in ("198.51.100.7", "198.51.100.8"):
            hops = {"X-Forwarded-For": f"{reader}, 10.0.0.2"}
            assert [subscribe(client, f"r{i}.{reader}@example.com", hops)
                    for i in range(5)] == [200] * 5
        # What a reader claims to the left of its own address is not believed.
        spoofed = {"X-Forwarded-For": "203.0.113.99, 198.51.100.7, 10.0.0.2"}
        assert subscribe(client, "spoof@example.com", spoofed) == 429
        # IPv4-mapped IPv6 addresses are IPv4 clients, not one shared /64.
        for i in range(1, 7):
            mapped = {"X-Forwarded-For": f"::ffff:192.0.2.{i}"}
            assert subscribe(client, f"m{i}@example.com", mapped) == 200
        assert [subscribe(client, f"v4.{i}@example.com", {"X-Forwarded-For": "192.0.2.1"})
                for i in range(5)] == [200] * 4 + [429]  # the same client as ::ffff:192.0.2.1


def test_the_consent_record_holds_the_reader_behind_the_proxies(serve, tmp_path: Path
                                                                ) -> None:
    served = serve('trusted_proxies = ["127.0.0.1", "10.0.0.0/8"]')
    hops = {"X-Forwarded-For": "198.51.100.30, 10.0.0.2"}
    with served.client() as client:
        assert subscribe(client, "consent@example.com", hops) == 200
        deadline = time.monotonic() + 10
        folder = tmp_path / "outbox" / "confirmations"
        while not list(folder.glob("*.eml")) and time.monotonic() < deadline:
            time.sleep(0.05)
        (mail,) = folder.glob("*.eml")
        text = email.message_from_bytes(mail.read_bytes(), policy=policy.default)
        body = text.get_body(("plain",))
        assert body is not None
        link = re.search(r"/confirm\?token=([A-Za-z0-9_-]+)", body.get_content())
        assert link
        assert client.post(f"/confirm?token={link.group(1)}",
                           headers={"X-Forwarded-For": "::ffff:198.51.100.31, 10.0.0.2"}
                           ).status_code == 200
    listed = run(tmp_path / "config.toml", "subscribers", "export", expect=0).output
    assert "consent@example.com" in listed and ",198.51.100.31" in listed


def test_a_peer_that_is_not_a_trusted_proxy_cannot_name_the_client(serve) -> None:
    served = serve('trusted_proxies = ["192.0.2.0/24"]')  # not loopback: the test is no proxy
    with served.client() as client:
        codes = [subscribe(client, f"n{i}@example.com", {"X-Forwarded-For": f"198.51.100.{i}"})
                 for i in range(6)]
    assert codes == [200] * 5 + [429]  # all from 127.0.0.1


# -- 10: rate limits in the state database ---------------------------------------------------

def test_rate_limits_are_shared_by_processes_and_survive_a_restart(serve, tmp_path: Path
                                                                   ) -> None:
    first = serve()
    second = serve(port=free_port(), folder=tmp_path)  # the same config folder and state
    hop = {"X-Forwarded-For": "198.51.100.20"}
    with first.client() as a, second.client() as b:
        assert [subscribe(a, "a1@example.com", hop), subscribe(b, "b1@example.com", hop),
                subscribe(a, "a2@example.com", hop), subscribe(b, "b2@example.com", hop),
                subscribe(a, "a3@example.com", hop)] == [200] * 5
        assert subscribe(b, "b3@example.com", hop) == 429
    first.stop()
    second.stop()
    again = serve()
    with again.client() as client:
        assert subscribe(client, "c1@example.com", hop) == 429
        assert subscribe(client, "c1@example.com", {"X-Forwarded-For": "198.51.100.21"}) == 200


def test_one_check_costs_the_same_with_30000_clients_as_with_100(tmp_path: Path) -> None:
    """Counted in SQLite virtual-machine steps (a progress handler), not in time."""
    from digest.state import open_store
    from digest.web.limits import Limiter

    def steps(clients: int) -> int:
        db = tmp_path / f"{clients}.db"
        open_store(db).close()
        limiter = Limiter(5, 600, lambda: 1000.0, db=db, name="client")
        for i in range(clients):
            limiter.allow(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
        counted = [0]

        def step() -> int:
            counted[0] += 1
            return 0

        limiter.table.conn.set_progress_handler(step, 1)
        for i in range(50):
            limiter.allow(f"172.16.0.{i}")
        limiter.table.conn.set_progress_handler(None, 1)
        assert limiter.table.size() == clients + 50
        return counted[0]

    few, many = steps(100), steps(30_000)
    assert many <= few * 1.2, (few, many)


def test_spent_rows_expire_a_few_at_a_time(tmp_path: Path) -> None:
    from digest.web.limits import Limiter

    now = [0.0]
    limiter = Limiter(1, 60, lambda: now[0])
    for i in range(2000):
        limiter.allow(f"10.0.{i // 256}.{i % 256}")
    now[0] = 61.0  # every bucket is full again
    assert limiter.allow("10.0.0.0") and limiter.table.size() == 2000
    for _ in range(31 * 8):
        limiter.allow("192.0.2.1")
    assert limiter.table.size() < 2000 - 256 * 6


# -- 15: connections that never finish a request -------------------------------------------

def test_idle_and_slow_connections_are_closed_and_connections_are_capped(serve) -> None:
    served = serve("request_timeout = 1\nkeep_alive = 1\nmax_connections = 8")
    with socket.create_connection(("127.0.0.1", served.port)) as idle:
        assert closed_within(idle, 10) < 5  # never sent a byte
    with socket.create_connection(("127.0.0.1", served.port)) as slow:
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        assert closed_within(slow, 10) < 5
    with socket.create_connection(("127.0.0.1", served.port)) as kept:
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        kept.settimeout(5)
        assert kept.recv(65536).startswith(b"HTTP/1.1 200")
        start = time.monotonic()
        while time.monotonic() - start < 3:  # a byte a while, never a whole request
            try:
                kept.sendall(b"G")
            except OSError:
                break
            time.sleep(0.2)
        assert closed_within(kept, 10) + (time.monotonic() - start) < 6
    with socket.create_connection(("127.0.0.1", served.port)) as body:
        body.sendall(b"POST /subscribe HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n\r\nemail=")
        body.settimeout(10)
        assert body.recv(65536).startswith(b"HTTP/1.1 408")
    held = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(10)]
    try:
        assert raw(served.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                   ).startswith(b"HTTP/1.1 503")
    finally:
        for s in held:
            s.close()


def test_running_out_of_file_descriptors_logs_one_line_not_a_flood(serve) -> None:
    served = serve("request_timeout = 60")
    fds = len(list(Path(f"/proc/{served.pid}/fd").iterdir()))
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.prlimit(served.pid, resource.RLIMIT_NOFILE, (fds + 2, hard))
    held = []
    try:
        for _ in range(12):
            held.append(socket.create_connection(("127.0.0.1", served.port), timeout=5))
        deadline = time.monotonic() + 10
        while "out of system resource" not in served.log and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(3.5)  # asyncio retries the accept every second
        lines = [line for line in served.digest.lines if "out of system resource" in line]
        assert len(lines) == 1, served.log
        assert "Traceback" not in served.log
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d WARNING asyncio ",
                        lines[0]), lines[0]
        assert "Too many open files" in lines[0]
    finally:
        for s in held:
            s.close()


# -- 16: no Host in redirects -----------------------------------------------------------------

def publish_site(folder: Path, text: str) -> None:
    (folder / "issues" / "3").mkdir(parents=True)
    (folder / MARKER).write_text("", "utf-8")
    (folder / "index.html").write_text(f"<h1>{text}</h1>", "utf-8")
    (folder / "issues" / "3" / "index.html").write_text(f"<h1>{text} 3</h1>", "utf-8")


def test_the_archive_redirect_never_names_the_requests_host(serve, tmp_path: Path) -> None:
    publish_site(tmp_path / "site", "Archive")
    served = serve()
    with served.client(follow_redirects=False) as client:
        moved = client.get("/issues/3?x=1", headers={"Host": "evil.example"})
        assert moved.status_code in (301, 302, 307, 308)
        assert moved.headers["location"] == "./3/?x=1"
        assert "evil" not in moved.text
        assert client.get("/issues/3/").text == "<h1>Archive 3</h1>"


# -- 17: logs, health, metrics, the archive and headers --------------------------------------

def test_access_lines_hold_no_token_and_no_clear_address_and_have_time_and_level(
        serve) -> None:
    smtp_port = free_port()  # nothing listens: the confirmation fails, and is logged
    served = serve(delivery='mode = "smtp"', extra=f'\n[smtp]\nhost = "127.0.0.1"\n'
                   f'port = {smtp_port}\nsecurity = "none"\n')
    unsubscribe = make_token(SECRET.encode(), "reader@example.com")
    with served.client() as client:
        assert client.get(f"/unsubscribe?token={unsubscribe}").status_code == 200
        client.get(f"/manage/{unsubscribe}")
        client.get("/confirm?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&x=1")
        client.get("/%0d%0aforged line")
        assert subscribe(client, "leak.check@example.com") == 200
    served.digest.wait_for(lambda lines: any("not sent" in line for line in lines))
    log = served.log
    assert unsubscribe not in log and "AAAAAAAAAAAAAAAAAAAAAAAA" not in log
    assert "leak.check@example.com" not in log and "reader@example.com" not in log
    access = [line for line in served.digest.lines if "digest.web.access" in line]
    assert len(access) == 6 and not any("127.0.0.1" in line for line in access)
    assert "/unsubscribe?token=[redacted]" in access[0]
    assert "/manage/[redacted]" in access[1]
    assert "/confirm?token=[redacted]&x=1" in access[2]
    assert "forged line" not in log and "/%0d%0aforged%20line" in access[3].lower()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d"
    for line in served.digest.lines:
        assert re.match(rf"{stamp} (INFO|WARNING|ERROR) [\w.]+ ", line), line
    (failed,) = [line for line in served.digest.lines if "not sent" in line]
    assert "@" not in failed  # the worker names no address at all


def test_health_checks_the_database_and_smtp(serve, tmp_path: Path) -> None:
    with SmtpServer(Recorder()) as smtp:
        served = serve("health_smtp = true", f'\n[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}'
                       '\nsecurity = "none"\n')
        with served.client() as client:
            assert (client.get("/healthz").status_code, client.get("/healthz").text) == (200, "ok")
    with served.client() as client:  # the SMTP server is gone
        down = client.get("/healthz")
        assert down.status_code == 503 and down.text.startswith("smtp: 127.0.0.1:")
    served.stop()
    healthy = serve()
    db = tmp_path / ".digest" / "state.db"
    with healthy.client() as client:
        assert client.get("/healthz").text == "ok"
        with db.open("r+b") as f:
            f.write(b"this is not a database" * 10)
        broken = client.get("/healthz")
        assert broken.status_code == 503 and broken.text.startswith("database: ")


def test_metrics_count_answers_by_status_behind_the_switch(serve, tmp_path: Path) -> None:
    off = serve()
    with off.client() as client:
        assert client.get("/metrics").status_code == 404
    off.stop()
    on = serve("metrics = true")
    with on.client() as client:
        for _ in range(3):
            client.get("/healthz")
        client.get("/no-such-page")
        assert subscribe(client, "counted@example.com") == 200  # a GET and a POST
        token = make_token(SECRET.encode(), "editor@example.com")
        assert client.post(f"/unsubscribe?token={token}").status_code == 200
        page = client.get("/metrics")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    assert 'digest_web_requests_total{status="200"} 6' in page.text
    assert 'digest_web_requests_total{status="404"} 1' in page.text
    assert "\ndigest_subscribes_total 1\n" in page.text
    assert "\ndigest_unsubscribes_total 1\n" in page.text
    assert "\ndigest_confirmations_total 0\n" in page.text
    for name in ("subscribes", "confirmations", "unsubscribes"):
        assert f"# TYPE digest_{name}_total counter" in page.text


def test_a_trusted_proxy_that_is_no_address_stops_serve_at_start(tmp_path: Path) -> None:
    config = write_config(tmp_path, free_port(), 'trusted_proxies = ["10.0.0.0/8", "proxy"]')
    result = run(config, "serve", expect=2)
    assert "[web] trusted_proxies: 'proxy' is not an IP address or network" in \
        error_line(result)


def test_the_archive_is_served_once_it_appears_and_follows_a_swapped_symlink(
        serve, tmp_path: Path) -> None:
    served = serve()
    with served.client() as client:
        assert client.get("/").status_code == 404  # not published yet
        publish_site(tmp_path / "build-1", "First")
        (tmp_path / "site").symlink_to(tmp_path / "build-1")
        assert client.get("/").text == "<h1>First</h1>"
        publish_site(tmp_path / "build-2", "Second")
        (tmp_path / "next").symlink_to(tmp_path / "build-2")
        (tmp_path / "next").replace(tmp_path / "site")
        assert client.get("/").text == "<h1>Second</h1>"
        assert client.get("/config.toml").status_code == 404


def test_every_answer_has_the_security_headers(serve, tmp_path: Path) -> None:
    publish_site(tmp_path / "site", "Archive")
    # With assets_url the archive's pictures are its own; without, https ones load too.
    hotlinked = serve()
    with hotlinked.client() as client:
        assert client.get("/").headers["content-security-policy"] == CSP.replace(
            "img-src 'self' data:", "img-src 'self' data: https:")
    hotlinked.stop()
    served = serve(newsletter='assets_url = "https://cdn.example.com/news"')
    with served.client() as client:
        answers = [client.get("/"), client.get("/issues/3/"), client.get("/missing.html"),
                   client.get("/healthz"), client.get("/subscribe"),
                   client.get("/unsubscribe?token=bad"),
                   client.post("/subscribe", content=b"x" * 20000,
                               headers={"Content-Type": "application/x-www-form-urlencoded"})]
    assert [a.status_code for a in answers] == [200, 200, 404, 200, 200, 400, 413]
    for answer in answers:
        assert answer.headers.get_list("content-security-policy") == [CSP], answer.url
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["x-frame-options"] == "DENY"

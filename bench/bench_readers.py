"""The readers' side under the red team's two timing attacks (issue 18, items 7 and 14):

    PYTHONPATH=$PWD python3 bench/bench_readers.py [--rounds 80] [--part all|hung|timing]

1. a relay that accepts connections and never answers, 45 sign-ups queued, then
   one-click unsubscribes: their latency (median, max);
2. subscribe answers for known (active) and new addresses, interleaved, each from a
   loopback address of its own (127.0.1.x, under the per-client limit): the medians
   and their gap.

Everything runs in this process: `digest serve`'s app on a real uvicorn (the
confirmation worker on), aiosmtpd for the second part, a state database in a temporary
folder. Small on purpose: a few seconds on a loaded 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from aiosmtpd.controller import Controller

from digest.config.load import load_config
from digest.state.deliveries import Subscriber, Subscribers
from digest.tokens import make_token
from digest.web.app import make_app

SECRET = "bench-secret-0123456789-0123456789-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config_at(folder: Path, base: str, smtp_port: int) -> Path:
    path = folder / "config.toml"
    path.write_text(f"""
[newsletter]
name = "Bench"
web_url = "{base}"
[delivery]
mode = "smtp"
from = "Bench <digest@example.com>"
recipients = ["editor@example.com"]
unsubscribe_url = "{base}/unsubscribe?token={{token}}"
[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
timeout = 30
""", "utf-8")
    return path


class Served:
    def __init__(self, config: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.config = config

    def __enter__(self) -> Served:
        app = make_app(load_config(self.config))
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="error", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(40)


def post_subscribe(base: str, client_ip: str, address: str) -> float:
    with httpx.Client(base_url=base, transport=httpx.HTTPTransport(local_address=client_ip),
                      timeout=60) as client:
        found = re.search(r'name="csrf" value="([^"]+)"', client.get("/subscribe").text)
        assert found
        start = time.perf_counter()
        answer = client.post("/subscribe", data={"csrf": found.group(1), "email": address})
        took = time.perf_counter() - start
        assert answer.status_code == 200
        return took


def hung_relay(folder: Path) -> None:
    relay = socket.socket()
    relay.bind(("127.0.0.1", 0))
    relay.listen(256)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(relay.accept()[0])
            except OSError:  # closed
                return

    threading.Thread(target=accept, daemon=True).start()
    port = relay.getsockname()[1]
    (folder / "hung").mkdir()
    config = config_at(folder / "hung", "http://127.0.0.1:0", port)
    with Served(config) as served:
        threads = [threading.Thread(target=post_subscribe,
                                    args=(served.base, f"127.0.0.{i + 2}", f"r{i}@example.com"))
                   for i in range(45)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = []
        with httpx.Client(base_url=served.base) as client:
            for i in range(20):
                token = make_token(SECRET.encode(), f"r{i}@example.com")
                start = time.perf_counter()
                client.post(f"/unsubscribe?token={token}", content=b"List-Unsubscribe=One-Click",
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
                took.append(time.perf_counter() - start)
        print(f"one-click unsubscribe, hung relay, 45 sign-ups queued: median "
              f"{statistics.median(took) * 1000:.1f} ms, max {max(took) * 1000:.1f} ms "
              f"({len(held)} connection(s) to the relay)")
        relay.close()
        for conn in held:
            conn.close()


class Sink:
    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        return "250 OK"


def known_and_new(folder: Path, rounds: int) -> None:
    smtp = Controller(Sink(), hostname="127.0.0.1", port=free_port())
    smtp.start()
    (folder / "timing").mkdir()
    config = config_at(folder / "timing", "http://127.0.0.1:0", smtp.port)
    with Served(config) as served:
        with Subscribers.opened(load_config(config).state_path) as subscribers:
            subscribers.upsert([Subscriber(f"known{i}@example.com", "active")
                                for i in range(rounds)])
        known, new = [], []
        for i in range(rounds):  # interleaved, each request from a client of its own
            known.append(post_subscribe(served.base, f"127.0.1.{i % 100 + 2}",
                                        f"known{i}@example.com"))
            new.append(post_subscribe(served.base, f"127.0.2.{i % 100 + 2}",
                                      f"new{i}@example.com"))
        k, n = statistics.median(known) * 1000, statistics.median(new) * 1000
        print(f"subscribe answer, {rounds} known (active) vs {rounds} new addresses: median "
              f"{k:.2f} ms vs {n:.2f} ms, gap {n - k:+.2f} ms")
    smtp.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=80)
    parser.add_argument("--part", choices=("all", "hung", "timing"), default="all")
    args = parser.parse_args()
    os.environ["DIGEST_SECRET"] = SECRET
    with tempfile.TemporaryDirectory() as folder:
        if args.part in ("all", "hung"):
            hung_relay(Path(folder))
        if args.part in ("all", "timing"):
            known_and_new(Path(folder), min(args.rounds, 200))
    sys.exit(0)


if __name__ == "__main__":
    main()

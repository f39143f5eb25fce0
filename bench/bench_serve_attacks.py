"""Two of the red team's attacks on `digest serve`, rerun small: a body flood and idle
connections.

    python3 bench/bench_serve_attacks.py [--posts 4] [--mb 50] [--idle 50] [--idle-cap 30]

It starts `python -m digest serve` on 127.0.0.1 in a temporary folder, then
- sends --posts parallel POST /subscribe bodies of --mb MB each without a form token
  (half with a Content-Length, half chunked; form fields of 64 KB each), and prints
  the server's RSS before and its peak RSS (VmHWM) after, with how much of each body
  was written before the server closed the connection;
- opens --idle connections that never send a byte and prints how long the server held
  them (up to --idle-cap seconds; "held" = still open then)."""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = """
[newsletter]
name = "Bench"
web_url = "http://127.0.0.1:{port}"

[delivery]
unsubscribe_url = "http://127.0.0.1:{port}/unsubscribe?token={{token}}"

[[feeds]]
url = "feed.xml"
"""


def status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) // 1024  # MB
    return 0


def flood(port: int, size: int, chunked: bool, sent: list[int]) -> None:
    head = (b"POST /subscribe HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            + (b"Transfer-Encoding: chunked\r\n" if chunked else
               f"Content-Length: {size}\r\n".encode()) + b"\r\n")
    block = b"&f=" + b"a" * (65536 - 3)  # fields under Starlette's 1 MB a field, 1000 a form
    total = 0
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
            s.sendall(head)
            first = b"email=" + block[6:]
            s.sendall(b"10000\r\n" + first + b"\r\n" if chunked else first)
            total = len(first)
            while total < size:
                s.sendall(b"10000\r\n" + block + b"\r\n" if chunked else block)
                total += len(block)
            if chunked:
                s.sendall(b"0\r\n\r\n")
            s.recv(1024)
    except OSError:
        pass  # the server answered and closed
    sent.append(total)


def idle_hold(port: int, count: int, cap: float) -> list[float]:
    conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    start, held = time.monotonic(), []
    for c in conns:
        c.settimeout(max(0.01, cap - (time.monotonic() - start)))
        try:
            while c.recv(1024):
                pass
            held.append(time.monotonic() - start)
        except TimeoutError:
            held.append(float("inf"))
        c.close()
    return held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=4)
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--idle", type=int, default=50)
    parser.add_argument("--idle-cap", type=float, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        config = Path(folder) / "config.toml"
        config.write_text(CONFIG.format(port=port), "utf-8")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "DIGEST_SECRET": secrets.token_urlsafe(32)}
        server = subprocess.Popen([sys.executable, "-m", "digest", "--config", str(config),
                                   "serve", "--port", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        sys.exit("digest serve did not start")
                    time.sleep(0.1)
            before = status(server.pid, "VmRSS")
            sent: list[int] = []
            threads = [threading.Thread(target=flood, args=(port, args.mb << 20, i % 2 == 1, sent))
                       for i in range(args.posts)]
            start = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            took = time.monotonic() - start
            written = ", ".join(f"{n / 1024:.0f} KB" for n in sorted(sent))
            print(f"body flood: {args.posts} x {args.mb} MB in {took:.1f} s: RSS {before} MB "
                  f"before, peak {status(server.pid, 'VmHWM')} MB after; written before the "
                  f"server closed the connection (kernel buffers included): {written}")
            held = idle_hold(port, args.idle, args.idle_cap)
            closed = [h for h in held if h != float("inf")]
            print(f"idle connections: {len(closed)}/{args.idle} closed by the server"
                  + (f" after {min(closed):.1f}-{max(closed):.1f} s" if closed else "")
                  + (f"; {args.idle - len(closed)} still open at {args.idle_cap:.0f} s"
                     if len(closed) < args.idle else ""))
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()

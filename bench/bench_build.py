"""Time `digest build` cold and warm on generated feeds served from 127.0.0.1.

    python3 bench/bench_build.py [--feeds 50] [--items 20] [--runs 3]

Cold: a fresh state database, every feed fetched and parsed, an issue built.
Warm: the same config again with nothing changed: every feed answers 304, no issue.
Also times a preview and the in-process stages, and prints ratios so the figures
compare within one run on whatever machine runs it.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

WORDS = ("exports tariffs yuan chips property consumers factories ports shipping banks "
         "liquidity bonds growth prices demand supply outlook policy markets trade").split()


def feed_xml(feed: int, items: int) -> bytes:
    out = []
    for i in range(items):
        words = " ".join(WORDS[(feed * 7 + i * 3 + k) % len(WORDS)] for k in range(60))
        out.append(
            f"<item><title>Feed {feed} story {i}: {WORDS[(feed + i) % len(WORDS)]} "
            f"move {feed * 100 + i}</title>"
            f"<link>https://news.example.com/f{feed}/s{i}</link><guid>f{feed}-s{i}</guid>"
            f"<pubDate>{formatdate(1_795_000_000 - (feed * items + i) * 600, usegmt=True)}"
            f"</pubDate><category>Cat {feed % 5}</category>"
            f"<description>Summary of story {i}. {words[:160]}.</description>"
            f"<content:encoded><![CDATA[<p>{words}</p><p>{words}</p><p>{words}</p>]]>"
            f"</content:encoded>"
            f'<media:content url="https://img.example.com/{feed}/{i}.jpg" medium="image">'
            f"<media:description>Caption {i}</media:description>"
            f"<media:credit>Photographer | Agency</media:credit></media:content></item>"
        )
    return ('<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/'
            'mrss/" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
            f"<title>Feed {feed}</title><link>https://news.example.com/</link>"
            + "".join(out) + "</channel></rss>").encode()


def serve(bodies: dict[str, bytes]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            body = bodies.get(self.path)
            etag = f'"{hash(body)}"'
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def write_config(folder: Path, base: str, feeds: int) -> Path:
    lines = ['[newsletter]\nname = "Bench Weekly"\ntimezone = "Asia/Shanghai"\n',
             "[editor]\nmax_age_days = 0\n",
             '[delivery]\nrecipients = ["editor@example.com"]\n'
             'unsubscribe_url = "https://example.com/u?t={token}"\n']
    for i in range(feeds):
        lines.append(f'[[feeds]]\nurl = "{base}/feed{i}.xml"\nname = "Feed {i}"\n')
    path = folder / "config.toml"
    path.write_text("\n".join(lines))
    return path


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return elapsed, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=50)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    bodies = {f"/feed{i}.xml": feed_xml(i, args.items) for i in range(args.feeds)}
    server = serve(bodies)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    digest = [sys.executable, "-m", "digest"]
    env = {**os.environ, "DIGEST_NOW": "2026-11-30T08:00:00+08:00"}
    startup, cold, warm, preview = [], [], [], []
    for _ in range(args.runs):
        work = Path(tempfile.mkdtemp(prefix="digest-bench-"))
        config = write_config(work, base, args.feeds)
        startup.append(timed([*digest, "--help"], env)[0])
        t, out = timed([*digest, "--config", str(config), "build"], env)
        assert "issue #1 written" in out, out
        cold.append(t)
        t, out = timed([*digest, "--config", str(config), "build"], env)
        assert "nothing new" in out, out
        warm.append(t)
        preview.append(timed([*digest, "--config", str(config), "build", "--preview"], env)[0])
        shutil.rmtree(work)
    server.shutdown()
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    med = statistics.median
    size_kb = sum(len(b) for b in bodies.values()) / 1024
    print(f"{args.feeds} feeds x {args.items} items ({size_kb:.0f} KB of XML) on 127.0.0.1, "
          f"median of {args.runs} runs")
    print(f"{'interpreter + import (digest --help)':40} {med(startup):7.3f} s")
    print(f"{'cold build (fetch, parse, issue)':40} {med(cold):7.3f} s")
    print(f"{'warm build (all 304, nothing new)':40} {med(warm):7.3f} s")
    print(f"{'preview after warm (304s + render)':40} {med(preview):7.3f} s")
    print(f"warm / cold: {med(warm) / med(cold):.2f}   "
          f"cold / startup: {med(cold) / med(startup):.1f}x   "
          f"peak RSS of a build: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()

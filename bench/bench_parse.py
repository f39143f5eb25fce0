"""Parse CPU per 1,000 items: digest's fast path (feedparser-rs, digest.collect.fastparse)
against feedparser alone, on the real-shape fixtures and on 50 generated feeds x 20 items
(8-word titles, 120-word HTML bodies, a media:content picture each), side by side.

    PYTHONPATH=$PWD python3 bench/bench_parse.py [--rounds 5]
    PYTHONPATH=$PWD python3 bench/bench_parse.py --dir DIR [--json]   # the files in DIR

Rows: `parser` is the parser call alone (fastparse.parse vs feedparser as digest calls
it), with feedparser-rs' own floor (feedparser_rs.parse on the same bytes); `read_feed`
is bytes -> Articles, digest's cleaning included (read_feed fast=True vs fast=False).
CPU time (time.process_time), the median of --rounds alternating rounds. The last line
is the cost of starting the parse worker pool, which in-process parsing would save.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import feedparser_rs  # noqa: E402

from digest.collect import fastparse  # noqa: E402
from digest.collect.feeds import parse_pool  # noqa: E402
from digest.collect.parse import read_feed  # noqa: E402
from digest.collect.textclean import clean_feed_bytes  # noqa: E402
from digest.config.schema import FeedConfig  # noqa: E402

WORDS = ("grid regulators weigh power market reform plan after winter price spike as "
         "utilities brace for demand surge across northern regions while ministers review "
         "offshore wind auctions battery storage targets and carbon levy rules").split()


def generated(feeds: int = 50, items: int = 20, seed: int = 19) -> list[bytes]:
    """RSS feeds shaped like real outlets': 8-word titles, 120-word HTML bodies in
    three paragraphs, a media:content picture each."""
    rnd = random.Random(seed)
    out = []
    for f in range(feeds):
        entries = []
        for i in range(items):
            title = " ".join(rnd.choice(WORDS) for _ in range(8)).capitalize()
            words = [rnd.choice(WORDS) for _ in range(120)]
            body = "".join(f"<p>{' '.join(words[k:k + 40])}.</p>" for k in (0, 40, 80))
            entries.append(
                f"<item><title>{title}</title>"
                f"<link>https://outlet{f}.example/news/{f}-{i}.html</link>"
                f'<guid isPermaLink="true">https://outlet{f}.example/news/{f}-{i}.html</guid>'
                f"<pubDate>Mon, {1 + i % 28:02d} Nov 2026 0{i % 10}:15:00 GMT</pubDate>"
                f"<description><![CDATA[{' '.join(words[:25])}.]]></description>"
                f"<content:encoded><![CDATA[{body}]]></content:encoded>"
                f'<media:content url="https://pictures.example/o{f}/{i}_1200x675.jpg" '
                f'medium="image" width="1200" height="675"/></item>')
        out.append(
            ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
             'xmlns:media="http://search.yahoo.com/mrss/" '
             'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
             f"<title>Outlet {f}</title><link>https://outlet{f}.example/</link>"
             f"<description>news</description>{''.join(entries)}</channel></rss>"
             ).encode())
    return out


def real_shapes() -> list[bytes]:
    folder = ROOT / "tests" / "feeds" / "real-shapes"
    return [p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix in (".xml", ".atom",
                                                                            ".rdf")]


def cpu(run: Callable[[], object]) -> float:
    start = time.process_time()
    run()
    return time.process_time() - start


def measure(name: str, data: list[bytes], rounds: int, as_json: bool = False) -> None:
    headers: dict[str, str] = {}
    cleaned = [clean_feed_bytes(d) for d in data]
    items = sum(len(fastparse.reference(d, headers).entries) for d in cleaned)
    fast_n = sum(fastparse.parse_with_reason(d, headers)[1] is None for d in cleaned)
    feed = FeedConfig(url="https://feeds.example/bench.xml", name="bench")
    runs: dict[str, Callable[[], object]] = {
        "floor": lambda: [feedparser_rs.parse(d, sanitize_html=False,
                                              resolve_relative_uris=False) for d in cleaned],
        "fast": lambda: [fastparse.parse(d, headers) for d in cleaned],
        "feedparser": lambda: [fastparse.reference(d, headers) for d in cleaned],
        "read_fast": lambda: [read_feed(d, feed, feed.url, fast=True) for d in data],
        "read_ref": lambda: [read_feed(d, feed, feed.url, fast=False) for d in data],
    }
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(rounds):  # alternating, so a busy neighbour hits every side alike
        for key, run in runs.items():
            times[key].append(cpu(run))
    per = {k: statistics.median(v) * 1000 / items * 1000 for k, v in times.items()}  # ms/1k
    if as_json:
        print(json.dumps({"feeds": len(data), "items": items, "fast_feeds": fast_n,
                          "floor_ms": per["floor"], "fast_ms": per["fast"],
                          "feedparser_ms": per["feedparser"], "read_ms": per["read_fast"],
                          "read_feedparser_ms": per["read_ref"]}))
        return
    print(f"{name}: {len(data)} feeds, {items} items, fast path taken for {fast_n}")
    print(f"  parser    fast {per['fast']:8.1f} ms  feedparser {per['feedparser']:8.1f} ms  "
          f"ratio {per['feedparser'] / per['fast']:5.1f}x   "
          f"(feedparser-rs floor {per['floor']:.1f} ms: fast = {per['fast'] / per['floor']:.1f}x"
          " floor)")
    print(f"  read_feed fast {per['read_fast']:8.1f} ms  feedparser {per['read_ref']:8.1f} ms  "
          f"ratio {per['read_ref'] / per['read_fast']:5.1f}x   (CPU per 1,000 items)")


def pool_start(rounds: int) -> None:
    walls = []
    for _ in range(rounds):
        start = time.perf_counter()
        with parse_pool(50):
            pass
        walls.append(time.perf_counter() - start)
    print(f"parse pool start and stop (50 feeds): {statistics.median(walls) * 1000:.1f} ms wall")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dir", help="measure the feed files in DIR instead")
    ap.add_argument("--json", action="store_true", help="one JSON line (with --dir)")
    args = ap.parse_args()
    if args.dir:
        files = sorted(p for p in Path(args.dir).iterdir() if p.is_file())
        measure(args.dir, [p.read_bytes() for p in files], args.rounds, args.json)
        return
    measure("real shapes", real_shapes(), args.rounds)
    measure("generated 50x20", generated(), args.rounds)
    pool_start(args.rounds)


if __name__ == "__main__":
    main()

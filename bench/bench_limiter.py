"""The readers' rate limiter (digest.web.limits over the state database) with few and
many clients tracked: one check must cost the same at 30,000 clients as at 100.

    python3 bench/bench_limiter.py [--small 100] [--large 30000] [--checks 3000]

For each size it fills a fresh state database with that many clients (the clock held
still, so none expire), then times --checks calls of `allow`, half for clients already
tracked and half for new ones, and prints the median and 99th percentile in
microseconds and the large/small ratio of the medians (1.0 = flat)."""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from digest.state import open_store
from digest.web.limits import Limiter


def client(i: int) -> str:
    return f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"


def measure(clients: int, checks: int, folder: Path) -> tuple[float, float]:
    db = folder / f"state-{clients}.db"
    open_store(db).close()
    limiter = Limiter(5, 600, lambda: 1_000_000.0, db=db, name="client", salt=b"bench")
    for i in range(clients):
        limiter.allow(client(i))
    rng = random.Random(7)
    times = []
    for n in range(checks):
        who = client(rng.randrange(clients)) if n % 2 else f"2001:db8:{n:x}::1"
        start = time.perf_counter()
        limiter.allow(who)
        times.append(time.perf_counter() - start)
    limiter.close()
    times.sort()
    return statistics.median(times) * 1e6, times[int(len(times) * 0.99)] * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=30_000)
    parser.add_argument("--checks", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        results = {n: measure(n, args.checks, Path(folder)) for n in (args.small, args.large)}
    for n, (median, p99) in results.items():
        print(f"{n:>7,} clients: median {median:7.1f} us, p99 {p99:7.1f} us")
    print(f"ratio {args.large:,}/{args.small:,} (median): "
          f"{results[args.large][0] / results[args.small][0]:.2f}")


if __name__ == "__main__":
    main()

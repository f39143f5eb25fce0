"""The live preview's save-to-new-render time on the sample config.

    python3 bench/bench_live_preview.py [--saves 20] [--digest-now 2026-11-30T08:00:00+00:00]

Makes a newsletter folder with `digest init` (the bundled sample config and feeds, in a
temporary folder), starts `digest preview --serve --port 0` on it (a subprocess of this
checkout: PYTHONPATH is set to it), and waits for the first render. Then, --saves
times: write config.toml with another newsletter name, and follow the page's own long
poll (GET /status?after=N) until a status with a new render arrives; the figure is the
wall time from the write to that answer (the watcher's poll interval, loading the
config, curating and rendering from the candidates collected at start, the linter, the
long poll's wake-up). Also printed: the render's own time as the server measured it
(from seeing the save to the render being ready), and the CPU time the server's
render thread used for it, which other processes on a busy machine do not inflate.
Median and p90 of each, in seconds, and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def status(base: str, after: int) -> dict:
    with urllib.request.urlopen(f"{base}status?after={after}", timeout=60) as answer:
        return json.loads(answer.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--saves", type=int, default=20)
    parser.add_argument("--digest-now", default="2026-11-30T08:00:00+00:00")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in ("DIGEST_CONFIG", "DIGEST_SECRET")}
    env.update(PYTHONPATH=str(ROOT), DIGEST_NOW=args.digest_now, PYTHONUNBUFFERED="1")
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        folder = Path(tmp) / "news"
        subprocess.run([sys.executable, "-m", "digest", "init", str(folder)], env=env,
                       check=True, capture_output=True)
        config = folder / "config.toml"
        text = config.read_text("utf-8")
        server = subprocess.Popen(
            [sys.executable, "-m", "digest", "--config", str(config), "preview", "--serve",
             "--port", "0"], cwd=folder, env=env, stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            ready, _, _ = select.select([server.stdout], [], [], 120)
            line = server.stdout.readline() if ready else ""
            found = re.search(r"(http://\S+/)", line)
            if not found:
                sys.exit(f"the preview did not start: {line!r}")
            base = found.group(1)
            now = status(base, -1)
            while not now["render"]:
                now = status(base, now["version"])
            print(f"first render (feeds fetched at start): {now['render']['seconds']:.3f} s")
            waits, renders, cpus = [], [], []
            for n in range(args.saves):
                shown = now["render"]["id"]
                name = f"Bench Letter {n}"
                saved = time.perf_counter()
                config.write_text(text.replace('name = "My Newsletter"',
                                               f'name = "{name}"', 1), "utf-8")
                while True:
                    now = status(base, now["version"])
                    if now["error"]:
                        sys.exit(f"save {n}: {now['error']}")
                    if now["render"] and now["render"]["id"] != shown:
                        break
                waits.append(time.perf_counter() - saved)
                renders.append(now["render"]["seconds"])
                cpus.append(now["render"]["cpu_seconds"])
                assert name in now["render"]["subject"], now["render"]["subject"]
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    print(f"{args.saves} saves of config.toml on the sample config:")
    print(f"  save -> new render at /status: median {statistics.median(waits):.3f} s, "
          f"p90 {p90(waits):.3f} s, max {max(waits):.3f} s")
    print(f"  render (server's own time):    median {statistics.median(renders):.3f} s, "
          f"p90 {p90(renders):.3f} s, max {max(renders):.3f} s")
    print(f"  render, CPU time of its thread: median {statistics.median(cpus):.3f} s, "
          f"p90 {p90(cpus):.3f} s, max {max(cpus):.3f} s")
    print(f"  load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} CPU(s)")


if __name__ == "__main__":
    main()

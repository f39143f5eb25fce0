"""The pipeline's in-process stages (parse, curate, render) of this checkout against a
baseline commit, side by side in one run.

    python3 bench/bench_stages.py [--baseline d930ee8] [--feeds 50] [--items 1000] [--pairs 3]

The feeds are bench/feeds.py's generated ones (`--feeds` x `--items`, seed 9), parsed
from bytes in memory (no HTTP, no worker processes), then curated into one issue and
rendered once. Each measurement runs in its own fresh Python process that imports the
checkout under test, the two checkouts alternating which goes first; the figure per
stage is the median CPU time (time.process_time) over the pairs, and the ratio is this
checkout's time over the baseline's. The baseline is checked out with `git worktree`
into a temporary folder and removed afterwards. Both checkouts are driven through the
names they had: the flat modules before the move (digest.parse, digest.curate,
digest.render, digest.config) and the subpackages after it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("parse", "curate", "render")

CHILD = r"""
import importlib, json, sys, time
from pathlib import Path

root, bench, feeds, items, seed = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
sys.path[:0] = [root, bench]
import feeds as generator

def first(*names):
    for module, attr in names:
        try:
            return getattr(importlib.import_module(module), attr)
        except ImportError:
            continue
    raise ImportError(names)

parse_feed = first(("digest.collect.parse", "parse_feed"), ("digest.parse", "parse_feed"))
curate_issue = first(("digest.curate.place", "curate_issue"), ("digest.curate", "curate_issue"))
render_issue = first(("digest.render.email", "render_issue"), ("digest.render", "render_issue"))
load_config = first(("digest.config.load", "load_config"), ("digest.config", "load_config"))

base = "http://127.0.0.1:9"
bodies = generator.generate(feeds, items, seed, base)
folder = Path(sys.argv[6])
lines = ['[newsletter]\nname = "Bench Energy Weekly"\ntimezone = "UTC"\n',
         "[editor]\nmax_age_days = 0\n", "[layout]\nmax_html_kb = 400\n",
         '[delivery]\nmode = "outbox"\nrecipients = ["reader@example.com"]\n'
         'unsubscribe_mailto = "unsubscribe@example.com"\n']
for i, path in enumerate(bodies):
    lines.append(f'[[feeds]]\nurl = "{base}{path}"\nname = "Outlet {i}"\n')
(folder / "config.toml").write_text("\n".join(lines))
config = load_config(folder / "config.toml")
by_url = {f.url: f for f in config.feeds}

times = {}
start = time.process_time()
articles = []
for path, data in bodies.items():
    url = base + path
    articles.extend(parse_feed(data, by_url[url], url, {"content-type": "application/xml"}))
times["parse"] = time.process_time() - start

start = time.process_time()
issue = curate_issue(articles, config, 1, generator.BASE_TIME)
times["curate"] = time.process_time() - start

start = time.process_time()
render_issue(issue, config)
times["render"] = time.process_time() - start
times["articles"] = len(articles)
print(json.dumps(times))
"""


def measure(root: Path, args: argparse.Namespace) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="digest-stages-") as folder:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(root), str(ROOT / "bench"), str(args.feeds),
             str(args.items), str(args.seed), folder],
            capture_output=True, text=True, env=env, cwd=folder)
    if out.returncode:
        sys.exit(f"bench_stages: the run in {root} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="d930ee8",
                        help="commit to compare with (default: d930ee8, before issue 16)")
    parser.add_argument("--feeds", type=int, default=50)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="digest-baseline-") as tmp:
        old = Path(tmp) / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(old),
                        args.baseline], check=True)
        try:
            runs: dict[str, list[dict[str, float]]] = {"baseline": [], "this": []}
            for pair in range(args.pairs):
                order = [("baseline", old), ("this", ROOT)]
                for name, root in order if pair % 2 == 0 else reversed(order):
                    runs[name].append(measure(root, args))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)],
                           check=False)

    articles = int(runs["this"][0]["articles"])
    print(f"{args.feeds} feeds x {args.items} items = {articles:,} articles; "
          f"baseline {args.baseline}; median CPU s over {args.pairs} alternating pairs")
    print("| stage | baseline s | this s | this / baseline |\n| --- | ---: | ---: | ---: |")
    for stage in STAGES:
        a = statistics.median(r[stage] for r in runs["baseline"])
        b = statistics.median(r[stage] for r in runs["this"])
        print(f"| {stage} | {a:.3f} | {b:.3f} | {b / a:.2f}x |")


if __name__ == "__main__":
    main()

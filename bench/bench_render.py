"""Render time per issue, this checkout against a baseline commit, side by side in one run.

    python3 bench/bench_render.py [--baseline 20531a7] [--pairs 5]

Three issues: the bundled sample config, the real-shape fixtures (tests/feeds/real-shapes/,
every feed, read from disk) and a generated one (bench/feeds.py, 20 feeds x 50 items,
seed 9). Each is parsed and curated in memory; then, in a fresh Python process (mjml,
premailer and cssutils imported before the clock starts, since both checkouts import
them alike), the process CPU time (time.process_time) of:

- `templates`: load_templates (compiles every template, or loads it from the cache);
- `first`: the process's first render_issue (what `digest build` pays);
- `again`: a second render_issue in the same process (a re-render for the size budget,
  `unrenderable`, a topic variant).

The baseline runs once per pair; this checkout twice: `fresh` with an empty state
folder (no cache yet: a newsletter's first build) and `cached` right after it, reading
what `fresh` left in .digest/templates-cache/. The checkouts alternate which goes first;
each figure is the median over the pairs, and the ratio is this checkout's over the
baseline's. The baseline is checked out with `git worktree` into a temporary folder and
removed afterwards.
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ISSUES = ("sample", "shapes", "generated")
PARTS = ("templates", "first", "again")

CHILD = r"""
import hashlib, json, sys, time
from datetime import UTC, datetime
from pathlib import Path

root, here, kind, folder = sys.argv[1], Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
sys.path[:0] = [root, str(here / "bench")]
import cssutils, mjml, premailer  # noqa: F401 - imported alike by both checkouts
from digest.collect.parse import parse_feed
from digest.config.load import load_config
from digest.curate.place import curate_issue
from digest.render.email import load_templates, render_issue

now = datetime(2026, 11, 30, 8, tzinfo=UTC)
head = ('[newsletter]\nname = "Bench Weekly"\ntimezone = "UTC"\n'
        '[editor]\nmax_age_days = 0\nlanguages = ["*"]\n[layout]\nmax_html_kb = 400\n'
        '[delivery]\nmode = "outbox"\nrecipients = ["reader@example.com"]\n'
        'unsubscribe_mailto = "unsubscribe@example.com"\n')
if kind == "sample":
    text = (here / "config.toml").read_text("utf-8")
    text = text.replace('"digest/samples/', f'"{here}/digest/samples/')
    bodies = None
elif kind == "shapes":
    shapes = here / "tests" / "feeds" / "real-shapes"
    bodies = {p.as_uri(): p.read_bytes() for p in sorted(shapes.iterdir())
              if p.suffix in (".xml", ".rdf", ".atom")}
    text = head
else:
    import feeds as generator
    base = "http://127.0.0.1:9"
    bodies = {base + path: data for path, data in generator.generate(20, 50, 9, base).items()}
    now = generator.BASE_TIME
    text = head
if bodies is not None:
    text += "".join(f'[[feeds]]\nurl = "{url}"\nname = "Outlet {i}"\n'
                    for i, url in enumerate(bodies))
(folder / "config.toml").write_text(text, "utf-8")
config = load_config(folder / "config.toml")
articles = []
for feed in config.feeds:
    data = bodies[feed.url] if bodies is not None else config.path(feed.url).read_bytes()
    articles.extend(parse_feed(data, feed, feed.url, {"content-type": "application/xml"}))
issue = curate_issue(articles, config, 1, now)

times = {}
start = time.process_time()
templates = load_templates(config)
times["templates"] = time.process_time() - start
start = time.process_time()
first = render_issue(issue, config, templates)
times["first"] = time.process_time() - start
start = time.process_time()
again = render_issue(issue, config, templates)
times["again"] = time.process_time() - start
times["stories"] = len(issue.placed)
times["html_bytes"] = len(first.html.encode())
times["html"] = hashlib.sha256(first.html.replace(first.marker, "M").encode()).hexdigest()
print(json.dumps(times))
"""


def measure(root: Path, kind: str, folder: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["DIGEST_NOW"] = "2026-11-30T08:00:00+00:00"
    out = subprocess.run([sys.executable, "-c", CHILD, str(root), str(ROOT), kind, str(folder)],
                         capture_output=True, text=True, env=env, cwd=folder)
    if out.returncode:
        sys.exit(f"bench_render: {kind} in {root} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def one_pair(old: Path, kind: str, this_first: bool) -> dict[str, dict[str, Any]]:
    runs: dict[str, dict[str, Any]] = {}

    def baseline() -> None:
        with tempfile.TemporaryDirectory(prefix="digest-render-") as folder:
            (Path(folder) / ".digest").mkdir()
            runs["baseline"] = measure(old, kind, Path(folder))

    def this() -> None:
        with tempfile.TemporaryDirectory(prefix="digest-render-") as folder:
            (Path(folder) / ".digest").mkdir()  # as after a first build: the cache's home
            runs["fresh"] = measure(ROOT, kind, Path(folder))
            runs["cached"] = measure(ROOT, kind, Path(folder))

    for step in (this, baseline) if this_first else (baseline, this):
        step()
    return runs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="20531a7",
                        help="commit to compare with (default: 20531a7, before issue 19's "
                             "render work)")
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args(argv)

    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    with tempfile.TemporaryDirectory(prefix="digest-baseline-") as tmp:
        old = Path(tmp) / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(old),
                        args.baseline], check=True)
        try:
            for kind in ISSUES:
                results[kind] = {"baseline": [], "fresh": [], "cached": []}
                for pair in range(args.pairs):
                    for name, found in one_pair(old, kind, pair % 2 == 1).items():
                        results[kind][name].append(found)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)],
                           check=False)

    print(f"baseline {args.baseline}; median CPU ms over {args.pairs} alternating pairs; "
          "ratio = this / baseline")
    print("| issue | part | baseline ms | fresh ms | cached ms | fresh / baseline "
          "| cached / baseline |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    same = []
    for kind in ISSUES:
        runs = results[kind]
        first = runs["fresh"][0]
        htmls = {r["html"] for name in runs for r in runs[name]}
        same.append(f"{kind}: {'the same HTML' if len(htmls) == 1 else 'DIFFERENT HTML'}")
        label = f"{kind} ({int(first['stories'])} stories, {int(first['html_bytes']):,} B)"
        for part in PARTS:
            a, f, c = (statistics.median(r[part] for r in runs[name]) * 1000
                       for name in ("baseline", "fresh", "cached"))
            print(f"| {label} | {part} | {a:.1f} | {f:.1f} | {c:.1f} | {f / a:.2f}x "
                  f"| {c / a:.2f}x |")
            label = ""
    print("every run, marker masked: " + "; ".join(same))


if __name__ == "__main__":
    main()

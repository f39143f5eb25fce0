"""Reading an article page of unclosed tags: linear time (issue 22 #2).

    python3 bench/bench_page_markup.py [--scripts 40000,375000] [--runs 3] [--tag script]

Each page is an article followed by N unclosed <TAG>s (40,000 <script>s are 320 KB;
375,000 are 3 MB, under the 5 MB [collect] max_bytes). For each size it prints the
median CPU time of `digest.enrich.pages.extract` and its time per KB relative to the
smallest size (flat = linear). A regex stripping <script>...</script> took 43 s of CPU at
320 KB here (quadratic: about an hour at 3 MB); the parser takes milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import time

from digest.enrich.pages import extract

ARTICLE = "<article><h1>Port volumes</h1>" + "".join(
    f"<p>Paragraph {i} of the story says what the port handled in November.</p>"
    for i in range(6)) + "</article>"


def page(count: int, tag: str) -> str:
    return (f'<html><head><meta property="og:image" content="https://img.example/a.jpg">'
            f"</head><body>{ARTICLE}{f'<{tag}>' * count}</body></html>")


def cpu_seconds(html: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.process_time()
        facts = extract(html, "https://news.example/story")
        times.append(time.process_time() - started)
        assert "Paragraph 5" in facts.body_html, "the article's text was lost"
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scripts", default="40000,375000",
                        help="comma-separated counts of unclosed tags")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tag", default="script")
    args = parser.parse_args()
    extract(page(10, args.tag), "https://news.example/story")  # imports trafilatura
    base = None
    print(f"{'tags':>9} {'KB':>7} {'CPU s':>8} {'per KB vs first':>16}")
    for count in (int(c) for c in args.scripts.split(",")):
        html = page(count, args.tag)
        seconds = cpu_seconds(html, args.runs)
        per_kb = seconds / (len(html) / 1000)
        base = base or per_kb
        print(f"{count:>9} {len(html) / 1000:>7.0f} {seconds:>8.3f} {per_kb / base:>16.2f}")


if __name__ == "__main__":
    main()

"""Near-duplicate titles: curate's index against the all-pairs comparison it replaced.

    python3 bench/bench_dedupe.py [--sizes 1000,10000,50000] [--old-max 2000] [--runs 3]

Titles are drawn from one news beat's small vocabulary and carry no figures, the case
where the old comparison (difflib against every kept title with the same figures) was
quadratic; 5% are reworded copies (one word changed in form, or the case and
punctuation) placed anywhere in the ranking. For each size it prints the index's CPU
time per title relative to the smallest size (flat = linear), the comparisons per title,
the copies found, and up to --old-max titles the old comparison's time as a multiple of
the index's. Ratios, not absolute times, are what compare across machines.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import time
from collections.abc import Callable
from difflib import SequenceMatcher

from digest.curate.dedupe import NearTitles

BEAT = ("markets stocks bonds yuan dollar exports imports tariffs trade talks china us "
        "europe banks lenders property developers chips factories ports shipping growth "
        "slows rises falls rallies slides eases tightens outlook policy demand consumers "
        "prices inflation rates beijing shanghai shenzhen hong kong investors").split()


def beat_titles(n: int, seed: int = 1) -> tuple[list[str], int]:
    rng = random.Random(seed)
    titles = [" ".join(rng.choice(BEAT) for _ in range(rng.randint(5, 10))).capitalize()
              for _ in range(n)]
    copies = n // 20
    for _ in range(copies):
        words = rng.choice(titles).split()
        if rng.random() < 0.5:
            at = rng.randrange(len(words))
            words[at] = words[at] + "s" if not words[at].endswith("s") else words[at][:-1]
            copy = " ".join(words)
        else:
            copy = " — ".join(words[:2]).upper() + " " + " ".join(words[2:]) + "!"
        titles.insert(rng.randrange(len(titles)), copy)
    return titles, copies


def with_index(titles: list[str]) -> tuple[int, int]:
    """Duplicates dropped and comparisons made, as curate_issue does it."""
    index: NearTitles[int] = NearTitles(titles)
    dropped = 0
    for i, title in enumerate(titles):
        if index.twin(title) is None:
            index.add(title, i)
        else:
            dropped += 1
    return dropped, index.stats.comparisons


def all_pairs_before(titles: list[str]) -> tuple[int, int]:
    """curate._near_title until the index came, with its grouping by figures."""
    by_title: dict[str, int] = {}
    groups: dict[tuple[str, ...], list[str]] = {}
    dropped = comparisons = 0
    for i, title in enumerate(titles):
        key = re.sub(r"[^\w]+", " ", title.lower()).strip()
        group = groups.setdefault(tuple(re.findall(r"\d+", key)), [])
        twin = key in by_title
        if not twin:
            matcher = SequenceMatcher(None, b=key, autojunk=False)
            for other in group:
                comparisons += 1
                matcher.set_seq1(other)
                if (matcher.real_quick_ratio() >= 0.92 and matcher.quick_ratio() >= 0.92
                        and matcher.ratio() >= 0.92):
                    twin = True
                    break
        if twin:
            dropped += 1
        else:
            by_title[key] = i
            group.append(key)
    return dropped, comparisons


def cpu_time(run: Callable[[list[str]], tuple[int, int]], titles: list[str],
             runs: int) -> tuple[float, int, int]:
    times = []
    for _ in range(runs):
        start = time.process_time()
        dropped, comparisons = run(titles)
        times.append(time.process_time() - start)
    return statistics.median(times), dropped, comparisons


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--old-max", type=int, default=2000,
                        help="run the old comparison up to this many titles (it is quadratic)")
    parser.add_argument("--runs", type=int, default=3, help="median of this many runs")
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",")} | {n for n in (1000, 2000)
                                                               if n <= args.old_max})
    print(f"{'titles':>8} {'index s':>9} {'us/title':>9} {'vs first':>9} {'cmp/title':>10} "
          f"{'copies found':>13} {'old s':>9} {'old cmp/title':>14} {'old/index':>10}")
    first = None
    for n in sizes:
        titles, copies = beat_titles(n)
        seconds, dropped, comparisons = cpu_time(with_index, titles, args.runs)
        per_title = seconds / len(titles)
        first = first or per_title
        line = (f"{n:>8,} {seconds:>9.2f} {per_title * 1e6:>9.1f} {per_title / first:>8.2f}x "
                f"{comparisons / len(titles):>10.1f} {f'{dropped}/{copies}':>13}")
        if n <= args.old_max:
            old_seconds, old_dropped, old_comparisons = cpu_time(all_pairs_before, titles, 1)
            line += (f" {old_seconds:>9.2f} {old_comparisons / len(titles):>14.1f} "
                     f"{old_seconds / seconds:>9.1f}x  (old found {old_dropped})")
        print(line, flush=True)


if __name__ == "__main__":
    main()

"""Counters for `/metrics` (Prometheus text format, `[web] metrics = true`).

    from digest.metrics import count
    count("subscribes")                  # digest_subscribes_total
    count("requests", status="200")      # digest_web_requests_total{status="200"}

Counters live in the process: each `digest serve` process reports its own, as
Prometheus expects of a target."""

from __future__ import annotations

import re
import threading
from collections import Counter

# name -> (metric, help): the ones listed are shown from 0 on, before any event.
KNOWN = {
    "requests": ("digest_web_requests_total", "HTTP answers, by status"),
    "subscribes": ("digest_subscribes_total", "subscribe forms accepted"),
    "confirmations": ("digest_confirmations_total", "subscriptions confirmed"),
    "confirmations_queued": ("digest_confirmations_queued_total",
                             "confirmation mails queued"),
    "confirmations_sent": ("digest_confirmations_sent_total", "confirmation mails sent"),
    "confirmations_failed": ("digest_confirmations_failed_total",
                             "confirmation mails that failed"),
    "confirmations_retried": ("digest_confirmations_retried_total",
                              "confirmation mails to be tried again"),
    "unsubscribes": ("digest_unsubscribes_total", "unsubscribes"),
}
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_lock = threading.Lock()
_counts: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()


def count(name: str, n: int = 1, **labels: str) -> None:
    """Add `n` to the counter `name` (with these labels)."""
    if not _NAME.fullmatch(name) or not all(_NAME.fullmatch(k) for k in labels):
        raise ValueError(f"metric {name!r}: lower-case letters, digits and _ only")
    with _lock:
        _counts[name, tuple(sorted(labels.items()))] += n


def value(name: str, **labels: str) -> int:
    with _lock:
        return _counts[name, tuple(sorted(labels.items()))]


def render() -> str:
    """Every counter in the Prometheus text exposition format (version 0.0.4)."""
    with _lock:
        counts = dict(_counts)
    names = list(KNOWN) + sorted({n for n, _ in counts} - set(KNOWN))
    lines = []
    for name in names:
        metric, about = KNOWN.get(name, (f"digest_{name}_total", name.replace("_", " ")))
        lines += [f"# HELP {metric} {about}", f"# TYPE {metric} counter"]
        series = sorted((labels, n) for (key, labels), n in counts.items() if key == name)
        if not series and name != "requests":
            series = [((), 0)]
        for labels, n in series:
            shown = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
            lines.append(f"{metric}{{{shown}}} {n}" if shown else f"{metric} {n}")
    return "\n".join(lines) + "\n"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

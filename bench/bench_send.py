"""Messages per second of `send_issue` against a local aiosmtpd sink, with ceilings.

    python3 bench/bench_send.py [--recipients 10000] [--connections 4] [--naive 2000]

One issue is built from the bundled samples. Then, each against a fresh sink process
on 127.0.0.1 and over the same number of connections:

- raw blast: one pre-encoded message sent again and again with smtplib.sendmail,
  one thread per connection: the sink's ceiling;
- digest: `send_issue` to the whole list (delivery log, retries, personalization),
  then a second `send_issue`, which must send nothing;
- naive: smtplib with a new EmailMessage built per recipient (personalize + the
  email package's encoding), over --naive recipients (it is slow; the rate is what
  counts).

Every phase checks at the sink that each recipient got exactly one message. Ratios
are printed and the figures written to the "Send" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SINK = """
import json, signal, sys, threading
from collections import Counter
from aiosmtpd.controller import Controller

counts = Counter()

class Sink:
    async def handle_DATA(self, server, session, envelope):
        for rcpt in envelope.rcpt_tos:
            counts[rcpt.lower()] += 1
        return "250 OK"

controller = Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: done.set())
print("ready", flush=True)
done.wait()
controller.stop()
with open(sys.argv[2], "w") as f:
    json.dump(counts, f)
"""


class Sink:
    """aiosmtpd in its own process, so it doesn't share a GIL with the sender."""

    def __init__(self, folder: Path) -> None:
        from tests.smtp_server import free_port

        self.port = free_port()
        self.out = folder / f"sink-{self.port}.json"
        self.proc = subprocess.Popen([sys.executable, "-c", SINK, str(self.port), str(self.out)],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout and self.proc.stdout.readline().strip() == "ready"

    def counts(self) -> Counter[str]:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        assert self.proc.stdout
        self.proc.stdout.close()
        return Counter(json.loads(self.out.read_text()))


def threaded(connections: int, port: int, addresses: list[str],
             message: Callable[[str], bytes]) -> float:
    """Send message(address) to each address over `connections` smtplib connections."""
    shares = [addresses[i::connections] for i in range(connections)]

    def work(share: list[str]) -> None:
        conn = smtplib.SMTP("127.0.0.1", port, local_hostname="bench")
        for address in share:
            conn.sendmail("digest@example.com", [address], message(address))
        conn.quit()

    threads = [threading.Thread(target=work, args=(s,)) for s in shares]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def check_once(counts: Counter[str], addresses: list[str], what: str) -> None:
    wrong = [a for a in addresses if counts.get(a) != 1]
    extra = set(counts) - set(addresses)
    if wrong or extra:
        raise SystemExit(f"{what}: {len(wrong)} recipient(s) did not get exactly one message, "
                         f"{len(extra)} unexpected")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--naive", type=int, default=2_000,
                        help="recipients for the naive loop (default 2000)")
    parser.add_argument("--no-write", action="store_true", help="don't update RESULTS.md")
    args = parser.parse_args()

    from email import policy
    from email.message import EmailMessage
    from email.utils import format_datetime

    from digest.config.load import load_config
    from digest.deliver.message import MessageTemplate, issue_key, message_id
    from digest.deliver.recipients import Recipient
    from digest.deliver.smtp import send_issue
    from digest.outbox.folder import IssueFolder
    from digest.render.email import placeholder_pattern
    from tests.send_project import build_issue, project

    os.environ.setdefault("DIGEST_SECRET", "bench-secret-0123456789-0123456789-0123")
    tmp = Path(tempfile.mkdtemp(prefix="bench-send-"))
    built = build_issue(tmp / "built")
    addresses = [f"reader{i:06d}@example.net" for i in range(args.recipients)]
    csv = "email,name\n" + "".join(f"{a},Reader {i}\n" for i, a in enumerate(addresses))
    folder = next(p for p in (built / "outbox").iterdir() if p.is_dir() and
                  (p / "email.template.html").exists())
    html = (folder / "email.template.html").read_text("utf-8")
    text = (folder / "email.template.txt").read_text("utf-8")
    config = load_config(project(built, tmp / "probe", 25, emails=["a@example.com"]))
    from datetime import UTC, datetime

    issue = IssueFolder.open(folder)
    template = MessageTemplate.for_issue(config, issue)
    placeholder = placeholder_pattern(issue.manifest.marker)
    one = template.render(Recipient(addresses[0], "Reader 0"))
    size = len(one)
    n, c = args.recipients, args.connections
    print(f"{n} recipients, {c} connections, message {size / 1024:.1f} KB, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}")

    # 1. raw blast: the sink's ceiling
    sink = Sink(tmp)
    raw_s = threaded(c, sink.port, addresses, lambda a: one)
    check_once(sink.counts(), addresses, "raw blast")
    raw = n / raw_s
    print(f"raw blast   {raw:8.0f} msg/s  ({raw_s:.1f}s)")

    # 2. digest send_issue, then a second send that must send nothing
    sink = Sink(tmp)
    path = project(built, tmp / "digest", sink.port, csv=csv,
                   smtp={"connections": c, "rate_per_second": 0})
    started = time.perf_counter()
    report = send_issue(load_config(path), 1)
    ours_s = time.perf_counter() - started
    second = send_issue(load_config(path))
    counts = sink.counts()
    check_once(counts, addresses, "digest send")
    if report.delivered != n or second.delivered or second.issue is not None:
        raise SystemExit(f"digest send: {report.message}; second: {second.message}")
    ours = n / ours_s
    print(f"digest send {ours:8.0f} msg/s  ({ours_s:.1f}s; second send: {second.message})")

    lookup_us = unwanted_cost(path, addresses)
    print(f"re-read     {lookup_us:8.1f} us a message (DeliveryLog.unwanted, the check before "
          f"each message; {lookup_us * ours / 1e6 * 100:.2f}% of the send's time at its rate)")

    # 3. naive: a new EmailMessage per recipient
    naive_n = min(args.naive, n)
    if not naive_n:
        print(f"digest / raw blast = {ours / raw:.2f} (target >= 0.9)")
        return
    subset = addresses[:naive_n]
    sink = Sink(tmp)
    key = issue_key(config, 1)
    date = datetime.now(UTC)

    def naive_message(address: str) -> bytes:
        values = {"email": address, "name": "", "unsubscribe-url":
                  template.unsubscribe_url(address)}

        def fill(part: str) -> str:
            return placeholder.sub(lambda m: values.get(m.group(1), ""), part)

        msg = EmailMessage(policy=policy.SMTP)
        for name, value in (("From", config.sender), ("To", address),
                            ("Subject", "Bench issue"), ("Date", format_datetime(date)),
                            ("Message-ID", message_id(key, address, config.sender,
                                                      issue.manifest.state_id)),
                            ("List-Unsubscribe", f"<{values['unsubscribe-url']}>"),
                            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")):
            msg[name] = value
        msg.set_content(fill(text), subtype="plain", cte="quoted-printable")
        msg.add_alternative(fill(html), subtype="html", cte="quoted-printable")
        return msg.as_bytes()

    naive_s = threaded(c, sink.port, subset, naive_message)
    check_once(sink.counts(), subset, "naive loop")
    naive = naive_n / naive_s
    print(f"naive loop  {naive:8.0f} msg/s  ({naive_s:.1f}s for {naive_n})")

    vs_raw, vs_naive = ours / raw, ours / naive
    print(f"digest / raw blast = {vs_raw:.2f} (target >= 0.9)   "
          f"digest / naive = {vs_naive:.1f}x (target >= 2x)")
    if not args.no_write:
        write_results(f"""## Send

`python3 bench/bench_send.py --recipients {n} --connections {c} --naive {naive_n}`
({os.cpu_count()} CPUs, Python {platform.python_version()}, message {size / 1024:.1f} KB,
sink: aiosmtpd in its own process on 127.0.0.1; each phase checked at the sink: every
recipient exactly one message)

| sender | messages/s | time |
| --- | ---: | ---: |
| raw blast (one pre-encoded message, smtplib) | {raw:.0f} | {raw_s:.1f} s for {n} |
| `send_issue` (personalized, delivery log) | {ours:.0f} | {ours_s:.1f} s for {n} |
| naive (new EmailMessage per recipient) | {naive:.0f} | {naive_s:.1f} s for {naive_n} |

The check before each message (`DeliveryLog.unwanted`: suppressions, and the reader's
status) costs {lookup_us:.1f} us, {lookup_us * ours / 1e6 * 100:.2f}% of the send's time.

`send_issue` / raw blast = **{vs_raw:.2f}** (target >= 0.9);
`send_issue` / naive = **{vs_naive:.1f}x** (target >= 2x).
A second `send_issue` sent nothing ("{second.message}").
""")


def unwanted_cost(config_path: Path, addresses: list[str], sample: int = 20_000) -> float:
    """Microseconds per DeliveryLog.unwanted, the per-message look-up the send makes, on
    the state database the send just used (its suppressions and subscribers tables)."""
    from digest.config.load import load_config
    from digest.state.deliveries import DeliveryLog

    config = load_config(config_path)
    log = DeliveryLog.open_shared(config.state_path)
    try:
        keys = addresses[:sample]
        started = time.perf_counter()
        for key in keys:
            log.unwanted(key, subscriber=True)
        return (time.perf_counter() - started) / len(keys) * 1e6
    finally:
        log.conn.close()


def write_results(section: str) -> None:
    """Replace the "## Send" section of RESULTS.md, keeping every other section."""
    path = ROOT / "bench" / "RESULTS.md"
    current = path.read_text("utf-8") if path.exists() else "# Benchmarks\n"
    parts = current.split("\n## ")
    kept = [parts[0].rstrip("\n")] + ["## " + p.rstrip("\n") for p in parts[1:]
                                      if not p.startswith("Send\n")]
    path.write_text("\n\n".join(kept + [section.rstrip("\n")]) + "\n", "utf-8")
    print(f"wrote the Send section of {path}")


if __name__ == "__main__":
    main()

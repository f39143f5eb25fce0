"""The bench: `digest build` against rss2email 3.x on generated feeds, at several sizes.

    python3 bench/harness.py                      # 50x20, 200x50 and 1000x50, 5 runs each
    python3 bench/harness.py --quick              # 50x20 only, 3 runs
    python3 bench/harness.py --sizes 50x20,200x50 --runs 5 --limit 600 [--profile]
    python3 bench/harness.py --sizes 50x20:3,1000x50:1 --shapes beat,outlet --send 100000
    python3 bench/harness.py ... --write-results  # also replace "## Harness" in RESULTS.md

For each size (feeds x items) it starts, each in its own process so that they use none
of the measured commands' CPU: the feed server (bench/feeds.py: a fixed-seed news beat
without figures in titles, 1-3 KB of HTML per item, pictures, conditional GET) and an
SMTP sink (bench/smtp_sink.py, aiosmtpd) for rss2email. Then, --runs times:

- `digest --version`: the floor (interpreter, imports, click);
- cold: `digest build` in a fresh folder (empty state database, every feed fetched, an
  issue written to the outbox) and `r2e run` in a fresh folder (empty data file,
  `digest = True`, text mail over SMTP: one digest message per feed), alternating
  which goes first;
- warm: `digest build --preview` and `r2e run` again in the same folders (every feed
  answers 304; nothing new), in the same alternating order.

Each command runs under bench/launch.py, a bare-interpreter shim that spawns it and
reports its wall time and its own rusage from wait4: CPU time (user + sys) and peak
RSS (children it waited for included, e.g. a process pool; RSS is the largest
process, not a sum). The shim keeps the harness's own size out of ru_maxrss.

Each size runs in each --shapes (bench/feeds.py --shape: `beat`, the news beat with
wire copies and captions; `outlet`, issue 19's outlet-shaped RSS). rss2email is run only
up to --r2e-max articles (at 1000x50 it takes minutes). After the runs, unless
--no-extras: the parse CPU per 1,000 items of the served bytes (bench_parse.py --dir:
feedparser-rs alone, digest's parser, read_feed, feedparser) and the imports of one
more cold build under `-X importtime`. --send N adds bench/bench_send.py at N recipients.

Every run is checked: what the server answered (200s cold, 304s warm, one per feed),
the issue written (and its issue.json within [layout] max_html_kb), the digests the
sink received (one per feed, one part per entry). A command running past --limit
seconds is killed and reported "over limit" (with the CPU and RSS it had used), and
that command is not run again at that size. --profile adds one cold build per size
under cProfile (untimed; interrupted at the limit, the profile so far is kept in
bench/.work/) and prints the top functions.

`digest` is the console script beside this Python (the editable install of the
checkout), or --digest PATH. rss2email is installed into bench/.venv-r2e (created on
first use with `python3 -m venv` and pip; gitignored), with aiosmtpd for the sink.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV = BENCH / ".venv-r2e"
DIGEST_NOW = "2026-11-30T08:00:00+00:00"  # two hours after the newest generated item
MAX_HTML_KB = 100
# Issue 19: cold >= 4x rss2email (both shapes), parse CPU <= 2x feedparser-rs' own time
# on the same bytes, wall per article at the biggest size <= that at the smallest, peak
# RSS < 300 MB there, send >= 0.9x the raw blast. Warm is issue 9's.
TARGETS = {"cold": 4.0, "warm": 1.5, "linear": 1.0, "rss_mb": 300, "parse": 2.0, "send": 0.9}


# --------------------------------------------------------------------------- running


@dataclass
class Run:
    wall: float
    cpu: float
    rss_mb: float
    ok: bool = True
    over_limit: bool = False
    note: str = ""


def run_measured(cmd: list[str], *, env: dict[str, str], cwd: Path, limit: float,
                 log: Path, interrupt: bool = False) -> tuple[Run, str]:
    """Run cmd through bench/launch.py; return its wall time, rusage and stdout.

    At `limit` seconds the command's process group is killed (SIGINT first when
    `interrupt`, so that a profiler can still write its file)."""
    report = log.with_suffix(".rusage")
    with open(log.with_suffix(".out"), "w") as out, open(log.with_suffix(".err"), "w") as err:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-S", "-E", str(BENCH / "launch.py"),
                                 str(report), *cmd], stdout=out, stderr=err, env=env,
                                cwd=cwd, start_new_session=True)
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            try:
                group = int(Path(f"{report}.pid").read_text())
            except (OSError, ValueError):
                group = proc.pid
            try:
                if interrupt:
                    os.killpg(group, signal.SIGINT)
                    time.sleep(60)
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(limit, kill)
        timer.daemon = True
        timer.start()
        try:
            proc.wait(limit + 120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        wall = time.perf_counter() - started
        timer.cancel()
    stdout = log.with_suffix(".out").read_text(errors="replace")
    try:
        fields = report.read_text().split()
        wall, user, system = (float(x) for x in fields[:3])
        rss_kb, code = int(fields[3]), int(fields[4])
    except (OSError, ValueError, IndexError):
        user = system = rss_kb = 0
        code = proc.returncode
    result = Run(wall=wall, cpu=user + system, rss_mb=rss_kb / 1024)
    if killed.is_set():
        result.ok, result.over_limit = False, True
        result.note = f"over limit ({limit:.0f} s)"
    elif code != 0:
        tail = log.with_suffix(".err").read_text(errors="replace").strip().splitlines()[-3:]
        result.ok = False
        result.note = f"exit {code}: {' / '.join(tail) or stdout[-200:]}"
    return result, stdout


# --------------------------------------------------------------------------- services


class Service:
    """A helper process that prints one line when it is ready."""

    def __init__(self, cmd: list[str], timeout: float = 600) -> None:
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        ready: list[str] = []
        reader = threading.Thread(target=lambda: ready.append(self.proc.stdout.readline()),
                                  daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        if not ready or not ready[0].strip():
            self.stop()
            raise SystemExit(f"{' '.join(cmd)} did not start")
        self.line = ready[0].strip()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class FeedServer(Service):
    def __init__(self, feeds: int, items: int, seed: int, shape: str = "beat") -> None:
        super().__init__([sys.executable, str(BENCH / "feeds.py"), "serve", "--feeds",
                          str(feeds), "--items", str(items), "--seed", str(seed),
                          "--shape", shape])
        info = json.loads(self.line)
        self.base: str = info["base"]
        self.paths: list[str] = info["feeds"]
        self.xml_bytes: int = info["xml_bytes"]
        self.gz_bytes: int = info["gz_bytes"]
        self.stories: int = info["stories"]

    def stats(self) -> dict[str, int]:
        """Responses since the last call (and reset them)."""
        with urllib.request.urlopen(f"{self.base}/_stats?reset=1", timeout=30) as r:
            return json.loads(r.read())


class SmtpSink(Service):
    def __init__(self, python: Path, log: Path) -> None:
        self.log = log
        super().__init__([str(python), str(BENCH / "smtp_sink.py"), str(log)])
        self.port = int(self.line)
        self.read = 0

    def new_messages(self) -> list[dict]:
        """Messages received since the last call."""
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        new, self.read = lines[self.read:], len(lines)
        return [json.loads(line) for line in new]


# --------------------------------------------------------------------------- tools


def find_digest(given: str | None) -> Path:
    """The console script: not a pyenv shim (a shell script that costs ~0.3 s a start)."""
    if given:
        return Path(given)
    beside = Path(sys.executable).parent / "digest"
    if beside.exists():
        return beside
    found = shutil.which("digest")
    if not found:
        raise SystemExit("no `digest` console script: install the checkout "
                         "(python3 -m pip install -e .) or pass --digest PATH")
    return Path(found)


def digest_origin(script: Path) -> str:
    """Where the script's interpreter imports digest from, and its version."""
    first = script.read_text(errors="replace").splitlines()[0]
    python = first[2:].strip() if first.startswith("#!") else sys.executable
    code = "import digest, importlib.metadata as m; print(digest.__file__, m.version('digest'))"
    proc = subprocess.run([*python.split(), "-c", code], capture_output=True, text=True)
    return proc.stdout.strip() or proc.stderr.strip()[-200:]


def ensure_rss2email(spec: str) -> Path:
    """bench/.venv-r2e with rss2email and aiosmtpd; returns its r2e script."""
    r2e = VENV / "bin" / "r2e"
    python = VENV / "bin" / "python"
    if not r2e.exists() or not (VENV / "bin" / "aiosmtpd").exists():
        print(f"creating {VENV.relative_to(ROOT)} with {spec} and aiosmtpd ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", spec, "aiosmtpd"],
                       check=True)
    return r2e


def git_state() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True,
                              text=True).stdout.rstrip()

    dirty = [line[3:] for line in git("status", "--porcelain", "--", "digest").splitlines()]
    head = git("rev-parse", "--short", "HEAD")
    return f"{head}" + (f" + uncommitted changes in {', '.join(dirty)}" if dirty else "")


# --------------------------------------------------------------------------- configs


def digest_config(folder: Path, server: FeedServer) -> Path:
    lines = ['[newsletter]\nname = "Bench Energy Weekly"\ntimezone = "UTC"\n',
             "[editor]\nmax_age_days = 0\n",
             f"[layout]\nmax_html_kb = {MAX_HTML_KB}\n",
             '[delivery]\nmode = "outbox"\nrecipients = ["reader@example.com"]\n'
             'unsubscribe_mailto = "unsubscribe@example.com"\n']
    for i, path in enumerate(server.paths):
        lines.append(f'[[feeds]]\nurl = "{server.base}{path}"\nname = "Outlet {i}"\n')
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config.toml"
    config.write_text("\n".join(lines))
    return config


def r2e_template(r2e: Path, folder: Path, server: FeedServer, smtp_port: int,
                 env: dict[str, str]) -> Path:
    """`r2e new`'s config with digest mode and SMTP to the sink, and one [feed.NAME]
    section per feed (what `r2e add NAME URL` writes; one process, not one per feed)."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg, data = folder / "rss2email.cfg", folder / "new-data.json"
    subprocess.run([str(r2e), "-c", str(cfg), "-d", str(data), "new", "reader@example.com"],
                   check=True, capture_output=True, env=env, cwd=folder)
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(cfg)
    parser["DEFAULT"].update({
        "from": "bench@example.com", "digest": "True", "html-mail": "False",
        "email-protocol": "smtp", "smtp-server": f"127.0.0.1:{smtp_port}",
        "smtp-auth": "False", "smtp-ssl": "False",
    })
    for i, path in enumerate(server.paths):
        parser[f"feed.outlet-{i}"] = {"url": f"{server.base}{path}"}
    with open(cfg, "w") as f:
        parser.write(f)
    return cfg


# --------------------------------------------------------------------------- one size


MEASURES = ("floor", "digest_cold", "digest_warm", "r2e_cold", "r2e_warm")
LABELS = {"floor": "`digest --version` (floor)", "digest_cold": "`digest build` cold",
          "digest_warm": "`digest build --preview` warm", "r2e_cold": "`r2e run` cold",
          "r2e_warm": "`r2e run` warm"}


@dataclass
class SizeResult:
    feeds: int
    items: int
    shape: str = "beat"
    runs: dict[str, list[Run]] = field(default_factory=lambda: {m: [] for m in MEASURES})
    html: list[tuple[int, int]] = field(default_factory=list)  # (html_bytes, dropped_cards)
    sections: dict[str, int] = field(default_factory=dict)
    xml_kb: float = 0
    stories: int = 0  # distinct stories the generator made (items - stories are copies)
    profile: str = ""
    parse: dict = field(default_factory=dict)  # bench_parse.py --dir --json: ms per 1,000
    imports: dict = field(default_factory=dict)  # -X importtime of one cold build
    load: list[float] = field(default_factory=list)  # 1-minute load average, start and end
    checkout: str = ""

    @property
    def articles(self) -> int:
        return self.feeds * self.items

    @property
    def label(self) -> str:
        return f"{self.feeds}x{self.items}" + ("" if self.shape == "beat" else f" {self.shape}")

    def ok(self, measure: str) -> list[Run]:
        return [r for r in self.runs[measure] if r.ok]

    def over(self, measure: str) -> bool:
        return any(r.over_limit for r in self.runs[measure])

    def median(self, measure: str, what: str = "wall") -> float | None:
        runs = self.ok(measure)
        return statistics.median(getattr(r, what) for r in runs) if runs else None


def check_digest_cold(run: Run, out: str, folder: Path, stats: dict, feeds: int,
                      result: SizeResult) -> None:
    if not run.ok:
        return
    problems = []
    if "issue #1 written" not in out:
        problems.append(f"no issue written: {out.strip()[-200:]!r}")
    if stats.get("200") != feeds:
        problems.append(f"server: {stats} (expected {feeds} x 200)")
    manifests = list((folder / "outbox").glob("*/issue.json"))
    if manifests:
        manifest = json.loads(manifests[0].read_text())
        result.html.append((manifest["html_bytes"], manifest.get("dropped_cards", 0)))
        sections: dict[str, int] = {}
        for d in manifest["decisions"]:
            sections[d["section"]] = sections.get(d["section"], 0) + 1
        result.sections = sections
    elif not problems:
        problems.append("no issue.json in the outbox")
    if problems:
        run.ok, run.note = False, "; ".join(problems)


def check_warm(run: Run, stats: dict, feeds: int) -> None:
    if run.ok and (stats.get("304") != feeds or stats.get("200")):
        run.ok, run.note = False, f"server: {stats} (expected {feeds} x 304)"


def check_r2e(run: Run, mails: list[dict], stats: dict, feeds: int, items: int,
              cold: bool) -> None:
    if not run.ok:
        return
    if cold:
        entries = sum(m["parts"] for m in mails)
        if stats.get("200") != feeds or len(mails) != feeds or entries != feeds * items:
            run.ok, run.note = False, (f"server: {stats}; sink: {len(mails)} digests with "
                                       f"{entries} entries (expected {feeds} with "
                                       f"{feeds * items})")
    elif mails or stats.get("304") != feeds:
        run.ok, run.note = False, f"server: {stats}; sink: {len(mails)} messages"


def bench_size(feeds: int, items: int, runs: int, args: argparse.Namespace, digest: Path,
               r2e: Path, work: Path, shape: str = "beat") -> SizeResult:
    result = SizeResult(feeds, items, shape)
    with_r2e = feeds * items <= args.r2e_max
    size_dir = Path(tempfile.mkdtemp(prefix=f"{feeds}x{items}-", dir=work))
    print(f"\n== {feeds} feeds x {items} items: generating and serving ...", flush=True)
    started = time.perf_counter()
    server = FeedServer(feeds, items, args.seed, shape)
    sink = SmtpSink(VENV / "bin" / "python", size_dir / "sink.jsonl")
    result.xml_kb = server.xml_bytes / 1024
    result.stories = server.stories
    result.load.append(os.getloadavg()[0])
    result.checkout = git_state()  # others may be editing the package while this runs
    print(f"   {server.xml_bytes / 1e6:.1f} MB of XML ({server.gz_bytes / 1e6:.1f} MB gzipped) "
          f"at {server.base}, ready in {time.perf_counter() - started:.1f} s", flush=True)
    # PYTHONDONTWRITEBYTECODE is dropped: an installed digest has its bytecode cached.
    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith("DIGEST_") and k != "PYTHONDONTWRITEBYTECODE"}
    digest_env = {**base_env, "DIGEST_NOW": DIGEST_NOW}
    r2e_env = {**base_env, "HOME": str(size_dir), "XDG_CONFIG_HOME": str(size_dir),
               "XDG_DATA_HOME": str(size_dir)}
    r2e_cfg = r2e_template(r2e, size_dir / "r2e-template", server, sink.port, r2e_env)
    def measure(name: str, cmd: list[str], env: dict[str, str], cwd: Path,
                run_dir: Path) -> tuple[Run, str, dict] | None:
        if result.over(name) or (name.endswith("_warm")
                                 and result.over(name.replace("warm", "cold"))):
            return None
        server.stats()
        sink.new_messages()
        run, out = run_measured(cmd, env=env, cwd=cwd, limit=args.limit, log=run_dir / name)
        stats = server.stats()
        result.runs[name].append(run)
        return run, out, stats

    def step(name: str, n: int, run_dir: Path) -> None:
        d_dir, r_dir = run_dir / "digest", run_dir / "r2e"
        if name == "floor":
            done = measure(name, [str(digest), "--version"], digest_env, run_dir, run_dir)
        elif name.startswith("digest"):
            extra = ["--preview"] if name.endswith("warm") else []
            done = measure(name, [str(digest), "--config", str(d_dir / "config.toml"), "build",
                                  *extra], digest_env, d_dir, run_dir)
            if done and name.endswith("cold"):
                check_digest_cold(done[0], done[1], d_dir, done[2], feeds, result)
            elif done:
                check_warm(done[0], done[2], feeds)
        else:
            r2e_cmd = [str(r2e), "-c", str(r_dir / "rss2email.cfg"), "-d",
                       str(r_dir / "data.json"), "run"]
            done = measure(name, r2e_cmd, r2e_env, r_dir, run_dir)
            if done:
                check_r2e(done[0], sink.new_messages(), done[2], feeds, items,
                          cold=name.endswith("cold"))
        if done:
            run = done[0]
            flag = "" if run.ok else f"  !! {run.note}"
            print(f"   run {n + 1}/{runs} {name:12} wall {run.wall:8.2f} s  "
                  f"cpu {run.cpu:8.2f} s  rss {run.rss_mb:6.0f} MB{flag}", flush=True)

    try:
        for n in range(runs):
            run_dir = size_dir / f"run{n}"
            digest_config(run_dir / "digest", server)
            (run_dir / "r2e").mkdir(parents=True)
            shutil.copy(r2e_cfg, run_dir / "r2e" / "rss2email.cfg")
            order = ("digest", "r2e") if n % 2 == 0 else ("r2e", "digest")
            step("floor", n, run_dir)
            for phase in ("cold", "warm"):
                for tool in order:
                    if tool == "digest" or with_r2e:
                        step(f"{tool}_{phase}", n, run_dir)
            if not args.keep:
                shutil.rmtree(run_dir, ignore_errors=True)
        result.load.append(os.getloadavg()[0])
        if args.profile:
            result.profile = profile_cold(digest, server, size_dir, digest_env, args)
        if not args.no_extras:
            result.parse = parse_cpu(server, size_dir, digest_env, args)
            result.imports = import_times(digest, server, size_dir, digest_env, args)
    finally:
        server.stop()
        sink.stop()
    return result


PARSE_FEEDS = 50  # feeds of a size whose bytes the parse measurement reads


def parse_cpu(server: FeedServer, size_dir: Path, env: dict[str, str],
              args: argparse.Namespace) -> dict:
    """Parse CPU per 1,000 items on the served bytes (the first PARSE_FEEDS feeds), in a
    process of its own with digest's environment: bench_parse.py --dir --json."""
    folder = size_dir / "parse-bytes"
    folder.mkdir(exist_ok=True)
    for path in server.paths[:PARSE_FEEDS]:
        with urllib.request.urlopen(f"{server.base}{path}", timeout=60) as r:  # no gzip
            (folder / path.rsplit("/", 1)[1]).write_bytes(r.read())
    proc = subprocess.run([sys.executable, str(BENCH / "bench_parse.py"), "--dir", str(folder),
                           "--rounds", str(args.parse_rounds), "--json"], env=env,
                          capture_output=True, text=True, cwd=ROOT)
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1][:200]}


def import_times(digest: Path, server: FeedServer, size_dir: Path, env: dict[str, str],
                 args: argparse.Namespace) -> dict:
    """One more cold build (untimed) under `python -X importtime`: the imports' total
    (top-level cumulative microseconds) and the biggest top-level packages."""
    folder = size_dir / "importtime"
    config = digest_config(folder, server)
    first = digest.read_text(errors="replace").splitlines()[0]
    python = first[2:].strip() if first.startswith("#!") else sys.executable
    proc = subprocess.run([*python.split(), "-X", "importtime", str(digest), "--config",
                           str(config), "build"], env=env, cwd=folder, capture_output=True,
                          text=True, timeout=args.limit)
    per: dict[str, int] = {}
    total = 0
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line[len("import time:"):].split("|", 2)
        if name.startswith(" ") and not name.startswith("  ") and cumulative.strip().isdigit():
            top = name.strip().split(".")[0]  # a top-level import (one space of indent)
            per[top] = per.get(top, 0) + int(cumulative)
            total += int(cumulative)
    top = sorted(per.items(), key=lambda kv: kv[1], reverse=True)[:8]
    return {"total_ms": total / 1000, "top": [(k, v / 1000) for k, v in top],
            "ok": proc.returncode == 0}


def profile_cold(digest: Path, server: FeedServer, size_dir: Path, env: dict[str, str],
                 args: argparse.Namespace) -> str:
    """One more cold build under cProfile (untimed); the top functions by own time.
    At --limit the build is interrupted, and the profile so far is still written."""
    import pstats

    folder = size_dir / "profile"
    config = digest_config(folder, server)
    keep = BENCH / ".work"  # gitignored; the work folder itself is removed
    keep.mkdir(exist_ok=True)
    prof = keep / f"cold-build-{folder.parent.name.split('-')[0]}.prof"
    prof.unlink(missing_ok=True)
    first = digest.read_text(errors="replace").splitlines()[0]
    python = first[2:].strip() if first.startswith("#!") else sys.executable
    run, _ = run_measured([*python.split(), "-m", "cProfile", "-o", str(prof), str(digest),
                           "--config", str(config), "build"], env=env, cwd=folder,
                          limit=args.limit, log=folder / "profile", interrupt=True)
    if not prof.exists():
        return f"(no profile written: {run.note})"
    stats = pstats.Stats(str(prof))
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = stats.stats.items()  # type: ignore[attr-defined]

    def table(title: str, chosen: list) -> str:
        lines = [f"{title}\n\n| function | calls | own s | cumulative s |",
                 "| --- | ---: | ---: | ---: |"]
        for (file, line, func), (_, calls, tottime, cumtime, _) in chosen:
            where = f"{Path(file).parent.name}/{Path(file).name}:{line} {func}" if line else func
            lines.append(f"| `{where}` | {calls} | {tottime:.2f} | {cumtime:.2f} |")
        return "\n".join(lines)

    own = sorted(rows, key=lambda kv: kv[1][2], reverse=True)[:args.profile_top]
    ours = sorted(((k, v) for k, v in rows if f"{os.sep}digest{os.sep}" in k[0]
                   and "site-packages" not in k[0]), key=lambda kv: kv[1][3], reverse=True)
    return (f"cProfile of one more cold `digest build` ({run.wall:.1f} s wall under the "
            f"profiler{', interrupted at the limit' if run.over_limit else ''}; "
            f"{total:.1f} s profiled; {prof.relative_to(ROOT)}).\n\n"
            + table("Top functions by own time:", own) + "\n\n"
            + table("digest's own functions by cumulative time:", ours[:args.profile_top]))


# --------------------------------------------------------------------------- report


def run_send(args: argparse.Namespace) -> str:
    """bench/bench_send.py at --send recipients: its summary lines, with the target."""
    started = os.getloadavg()[0]
    proc = subprocess.run([sys.executable, str(BENCH / "bench_send.py"), "--recipients",
                           str(args.send), "--naive", "0", "--no-write"], cwd=ROOT,
                          capture_output=True, text=True)
    out = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0:
        return f"Send at {args.send:,}: failed: {(proc.stderr.strip().splitlines() or [''])[-1]}"
    return (f"Send at {args.send:,} recipients (`bench/bench_send.py --recipients {args.send} "
            f"--naive 0`, load {started:.1f} -> {os.getloadavg()[0]:.1f}):\n\n"
            + "\n".join(f"    {line}" for line in out))


def fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def cell(result: SizeResult, measure: str, what: str, spec: str = ".2f") -> str:
    if result.over(measure) and not result.ok(measure):
        run = next(r for r in result.runs[measure] if r.over_limit)
        if what == "wall":
            return f"> {run.wall:.0f} (over limit)"
        return f"≥ {format(getattr(run, what), spec)}"
    return fmt(result.median(measure, what), spec)


def report(results: list[SizeResult], args: argparse.Namespace) -> str:
    out = ["| size | articles | command | wall s | CPU s | peak RSS MB | runs ok |",
           "| --- | ---: | --- | ---: | ---: | ---: | --- |"]
    for r in results:
        for m in MEASURES:
            runs = r.runs[m]
            if not runs:
                status = ("skipped (cold over limit)" if m.endswith("warm")
                          and r.over(m.replace("warm", "cold")) else "not run")
            else:
                status = f"{len(r.ok(m))}/{len(runs)}"
                notes = sorted({x.note for x in runs if x.note})
                if notes:
                    status += ": " + "; ".join(notes)
            out.append(f"| {r.label} | {r.articles:,} | {LABELS[m]} | {cell(r, m, 'wall')} | "
                       f"{cell(r, m, 'cpu')} | {cell(r, m, 'rss_mb', '.0f')} | {status} |")
    out.append("")
    out.append("Medians over the runs that passed their checks. Targets (issues 9 and 19):")
    out.append("")
    for r in results:
        out.extend(ratios(r))
    out.extend(scaling(results))
    return "\n".join(out)


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**MISSED**")


def ratios(r: SizeResult) -> list[str]:
    lines = []
    d_cold, r_cold = r.median("digest_cold"), r.median("r2e_cold")
    d_cpu, r_cpu = r.median("digest_cold", "cpu"), r.median("r2e_cold", "cpu")
    if d_cold and r_cold:
        speed = r_cold / d_cold
        cpu = f", CPU {r_cpu / d_cpu:.2f}x" if d_cpu and r_cpu else ""
        lines.append(f"- {r.label} cold: digest is **{speed:.2f}x** rss2email's speed (wall"
                     f"{cpu}); target ≥ {TARGETS['cold']:g}x: {verdict(speed >= TARGETS['cold'])}")
    elif r.over("digest_cold") and r_cold:
        limit = next(x.wall for x in r.runs["digest_cold"] if x.over_limit)
        lines.append(f"- {r.label} cold: digest over the limit, rss2email {r_cold:.1f} s: "
                     f"digest at most {r_cold / limit:.3f}x rss2email's speed: **MISSED**")
    warm, floor = r.median("digest_warm"), r.median("floor")
    if warm and floor:
        ratio = warm / floor
        lines.append(f"- {r.label} warm `build --preview` / `--version` floor = **{ratio:.2f}x** "
                     f"({warm:.2f} s / {floor:.2f} s); target ≤ {TARGETS['warm']:g}x: "
                     f"{verdict(ratio <= TARGETS['warm'])}")
    if r.html:
        worst = max(b for b, _ in r.html)
        dropped = max(d for _, d in r.html)
        lines.append(f"- {r.label} issue HTML {worst / 1024:.1f} KB of max_html_kb = "
                     f"{MAX_HTML_KB} ({dropped} Read More card(s) dropped): "
                     f"{verdict(worst <= MAX_HTML_KB * 1024)}")
    if r.sections:
        parts = ", ".join(f"{k} {v}" for k, v in sorted(r.sections.items()))
        lines.append(f"- {r.label} issue.json decisions: {parts}; the generator made "
                     f"{r.articles - r.stories:,} copies of a story (wire copies, reworded or "
                     f"not, and titles repeated up to case and punctuation)")
    if r.parse and "error" not in r.parse:
        p = r.parse
        fast, read, floor = p["fast_ms"], p["read_ms"], p["floor_ms"]
        lines.append(
            f"- {r.label} parse CPU per 1,000 items ({p['feeds']} feeds, {p['items']} items, "
            f"{p['fast_feeds']} read by the fast path): feedparser-rs alone {floor:.1f} ms; "
            f"digest's parser (fastparse.parse) {fast:.1f} ms = **{fast / floor:.1f}x** the "
            f"floor; bytes -> Articles (read_feed, cleaning included) {read:.1f} ms = "
            f"**{read / floor:.1f}x**; feedparser alone {p['feedparser_ms']:.1f} ms; target "
            f"≤ {TARGETS['parse']:g}x: {verdict(fast / floor <= TARGETS['parse'])} (parser), "
            f"{verdict(read / floor <= TARGETS['parse'])} (read_feed)")
    elif r.parse:
        lines.append(f"- {r.label} parse CPU: not measured ({r.parse['error']})")
    if r.imports:
        top = ", ".join(f"{k} {v:.0f}" for k, v in r.imports["top"])
        lines.append(f"- {r.label} imports of one cold build (`-X importtime`, inflated by "
                     f"the tracing): {r.imports['total_ms']:.0f} ms; biggest top-level: {top}"
                     + ("" if r.imports["ok"] else " (that build failed)"))
    if r.profile:
        lines.append("")
        lines.append(r.profile)
        lines.append("")
    return lines


def scaling(all_results: list[SizeResult]) -> list[str]:
    lines = []
    for shape in dict.fromkeys(r.shape for r in all_results):
        lines.extend(_scaling([r for r in all_results if r.shape == shape]))
    return lines


def _scaling(results: list[SizeResult]) -> list[str]:
    if len(results) < 2:
        return []
    small = min(results, key=lambda r: r.articles)
    big = max(results, key=lambda r: r.articles)
    lines = []
    base = small.median("digest_cold")
    if base:
        per_small = base / small.articles
        for r in results:
            if r is small:
                continue
            wall = r.median("digest_cold")
            target = f"; target ≤ {TARGETS['linear']:g}x" if r is big else ""
            if wall:
                ratio = (wall / r.articles) / per_small
                ok = verdict(ratio <= TARGETS["linear"]) if r is big else ""
                lines.append(f"- wall per article, {r.label} vs {small.label}: "
                             f"{wall / r.articles * 1000:.2f} ms vs {per_small * 1000:.2f} ms "
                             f"= **{ratio:.2f}x**{target} {ok}".rstrip())
            elif r.over("digest_cold"):
                limit = next(x.wall for x in r.runs["digest_cold"] if x.over_limit)
                ratio = (limit / r.articles) / per_small
                lines.append(f"- wall per article, {r.label} vs {small.label}: over the limit, "
                             f"so ≥ **{ratio:.1f}x**{target} **MISSED**")
    rss = [x.rss_mb for x in big.runs["digest_cold"] + big.runs["digest_warm"]]
    if rss:
        peak = max(rss)
        partial = " (killed at the limit: at least this)" if big.over("digest_cold") else ""
        lines.append(f"- peak RSS of digest at {big.label}: {peak:.0f} MB{partial}; target "
                     f"< {TARGETS['rss_mb']} MB: {verdict(peak < TARGETS['rss_mb'])}")
    return lines


def machine() -> str:
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return (f"{os.cpu_count()} CPUs (nproc), {mem} RAM, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}")


def write_results(section: str) -> None:
    """Replace the "## Harness" section of RESULTS.md, keeping every other section."""
    path = BENCH / "RESULTS.md"
    current = path.read_text("utf-8") if path.exists() else "# Benchmarks\n"
    parts = current.split("\n## ")
    kept = [parts[0].rstrip("\n")]
    harness = [section.rstrip("\n")]
    for p in parts[1:]:
        if p.startswith("Harness"):
            continue
        kept.append("## " + p.rstrip("\n"))
    # The harness section goes right after the title, before the older sections.
    path.write_text("\n\n".join(kept[:1] + harness + kept[1:]) + "\n", "utf-8")
    print(f"wrote the Harness section of {path}")


# --------------------------------------------------------------------------- main


def parse_sizes(text: str, runs: int) -> list[tuple[int, int, int]]:
    """"50x20,1000x50:2" -> [(50, 20, runs), (1000, 50, 2)]."""
    sizes = []
    for part in text.split(","):
        size, _, count = part.strip().lower().partition(":")
        feeds, _, items = size.partition("x")
        sizes.append((int(feeds), int(items), int(count) if count else runs))
    return sizes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--sizes", default="50x20,200x50,1000x50",
                        help="FEEDSxITEMS[:RUNS],... [default: %(default)s]")
    parser.add_argument("--runs", type=int, default=5, help="runs per size [default: 5]")
    parser.add_argument("--quick", action="store_true", help="50x20 only, 3 runs")
    parser.add_argument("--limit", type=float, default=600,
                        help="seconds one command may take [default: 600]")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--digest", help="the digest console script [default: beside python]")
    parser.add_argument("--rss2email", default="rss2email==3.14", help="pip spec for the venv")
    parser.add_argument("--profile", action="store_true",
                        help="also one cold build per size under cProfile (untimed)")
    parser.add_argument("--profile-top", type=int, default=15)
    parser.add_argument("--keep", action="store_true", help="keep the work folders")
    parser.add_argument("--shapes", default="beat,outlet",
                        help="feed shapes (bench/feeds.py --shape) [default: %(default)s]")
    parser.add_argument("--r2e-max", type=int, default=10_000,
                        help="run rss2email only at sizes of at most this many articles "
                             "[default: %(default)s]")
    parser.add_argument("--parse-rounds", type=int, default=3)
    parser.add_argument("--no-extras", action="store_true",
                        help="no parse CPU or import-time measurement")
    parser.add_argument("--send", type=int, default=0,
                        help="also bench/bench_send.py at this many recipients [default: 0]")
    parser.add_argument("--write-results", action="store_true",
                        help='replace the "## Harness" section of bench/RESULTS.md')
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.runs = "50x20", 3

    digest = find_digest(args.digest)
    r2e = ensure_rss2email(args.rss2email)
    r2e_version = subprocess.run([str(r2e), "--version"], capture_output=True,
                                 text=True).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix="digest-harness-"))
    sizes = parse_sizes(args.sizes, args.runs)
    runs_text = ", ".join(f"{f}x{i}: {r}" for f, i, r in sizes)
    command = "python3 bench/harness.py " + " ".join(argv if argv is not None else sys.argv[1:])
    header = [
        f"`{command.strip()}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"- machine: {machine()}",
        f"- digest: {digest} -> {digest_origin(digest)}; checkout {git_state()}",
        f"- {r2e_version} in bench/.venv-r2e (`digest = True`, text mail, "
        "SMTP to an aiosmtpd sink in its own process)",
        f"- feeds: bench/feeds.py seed {args.seed}, served from 127.0.0.1 by its own "
        "process (gzip, ETag + Last-Modified); digest config: outbox delivery, "
        f"`[editor] max_age_days = 0`, `DIGEST_NOW={DIGEST_NOW}`, defaults otherwise",
        f"- runs per size: {runs_text}; cold and warm pairs alternate which tool goes first; "
        f"limit {args.limit:.0f} s per command",
    ]
    print("\n".join(header), flush=True)
    results = []
    try:
        for shape in args.shapes.split(","):
            for feeds, items, runs in sizes:
                results.append(bench_size(feeds, items, runs, args, digest, r2e, work,
                                          shape.strip()))
        send = run_send(args) if args.send else ""
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work folders kept in {work}")
    table = report(results, args)
    xml = ", ".join(f"{r.label}: {r.xml_kb / 1024:.1f} MB" for r in results)
    load = ", ".join(f"{r.label}: {' -> '.join(f'{x:.1f}' for x in r.load)}" for r in results)
    if len({r.checkout for r in results}) > 1:  # the package changed during the bench
        load += "\n- checkout when each size started: " + "; ".join(
            f"{r.label}: {r.checkout}" for r in results)
    text = "\n".join(header) + (f"\n- XML served per cold run: {xml}\n- 1-minute load "
                                f"average before -> after each size: {load}\n\n") + table
    if send:
        text += "\n\n" + send
    print("\n" + text)
    if args.write_results:
        write_results("## Harness\n\n" + text)


if __name__ == "__main__":
    main()

"""kill -9 of `digest build` (or `run --once`) while its feed-parsing workers are alive leaves none of them
behind, and the next command gets the state lock (issue 22 #1: a forked worker outlived
its parent, waiting on a pipe forever with the lock's descriptor, and every later command
failed with "another digest process holds ...")."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helpers import NOW_UTC_ISO, ROOT, TEST_SECRET, FeedServer, Route, config_with, rss

KILLS = 20
# Where, after the first worker appears, the build is killed: at once (a worker may be
# between fork and its first line), while the feeds are still being fetched, and while a
# worker is busy reading a feed that takes seconds to parse.
DELAYS = (0.0, 0.005, 0.02, 0.05, 0.1, 0.15)


def _parents() -> dict[int, int]:
    """pid -> parent pid of every live process (zombies count as gone)."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z":
            out[int(entry)] = int(fields[1])
    return out


def _children(pid: int) -> set[int]:
    return {child for child, parent in _parents().items() if parent == pid}


def _alive(pids: set[int]) -> set[int]:
    return pids & set(_parents())


def _lock_is_free(lock: Path) -> bool:
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


@pytest.fixture
def leftovers() -> Iterator[set[int]]:
    """Processes this test started that outlived it (only on a failure): stopped."""
    started: set[int] = set()
    yield started
    for pid in _alive(started):
        os.kill(pid, signal.SIGKILL)


def _kill_builds(lane: int, kills: range, folder: Path, feed_server: FeedServer,
                 leftovers: set[int]) -> list[str]:
    """Start `digest build` in `folder` and kill -9 it once per number in `kills`; what
    was left behind, as messages."""
    config = config_with(folder, [
        {"url": feed_server.url("/slow.xml"), "name": "Slow"},
        {"url": feed_server.url("/heavy.xml"), "name": "Heavy"},
        {"url": feed_server.url("/fine.xml"), "name": "Fine"}])
    lock = folder / ".digest" / "state.db.lock"
    problems = []
    for kill in kills:
        build = subprocess.Popen(_command(config, kill), cwd=folder, env=_ENV,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        workers: set[int] = set()
        while not workers and build.poll() is None and time.monotonic() < deadline:
            workers = _children(build.pid)
            time.sleep(0.002)
        if not workers:
            build.kill()
            build.wait()
            return [*problems, f"build {kill} (lane {lane}) started no worker"]
        time.sleep(DELAYS[kill % len(DELAYS)])
        workers |= _children(build.pid)
        leftovers.update(workers)
        build.send_signal(signal.SIGKILL)
        build.wait()

        gone = time.monotonic() + 3
        while _alive(workers) and time.monotonic() < gone:
            time.sleep(0.01)
        if _alive(workers):
            problems.append(f"kill {kill}: worker(s) {sorted(_alive(workers))} of the killed "
                            f"build {build.pid} still run")
        if not (lock.exists() and _lock_is_free(lock)):
            problems.append(f"kill {kill}: the state lock is still held")
    return problems


_ENV = {**os.environ, "PYTHONPATH": str(ROOT), "DIGEST_NOW": NOW_UTC_ISO,
        "DIGEST_SECRET": TEST_SECRET}


def _command(config: Path, kill: int = 0) -> list[str]:
    """`build`, and every third time `run --once` (the daemon's collect, from cron)."""
    what = ["run", "--once"] if kill % 3 == 2 else ["build"]
    return [sys.executable, "-m", "digest", "--config", str(config), *what]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_killing_a_build_leaves_no_worker_and_frees_the_lock(
        tmp_path: Path, feed_server: FeedServer, leftovers: set[int]) -> None:
    # One feed that never answers in time, one that answers at once but takes seconds
    # to parse (feedparser is quadratic in an element's attributes): workers idle and
    # busy.
    attributes = " ".join(f'a{i}="x"' for i in range(20_000))
    feed_server.routes["/slow.xml"] = Route(rss(3, "Slow"), delay=30)
    feed_server.routes["/heavy.xml"] = Route(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title {attributes}>T</title>'
        "<item><title>x</title></item></channel></rss>".encode())
    feed_server.routes["/fine.xml"] = Route(rss(5, "Fine"))
    # Two projects killed side by side (one per core): 20 kills in about half the time.
    folders = [tmp_path / "a", tmp_path / "b"]
    for folder in folders:
        folder.mkdir()
    with ThreadPoolExecutor(2) as lanes:
        problems = [p for found in lanes.map(
            lambda lane: _kill_builds(lane, range(lane, KILLS, 2), folders[lane],
                                      feed_server, leftovers), (0, 1)) for p in found]
    assert not problems, "\n".join(problems)

    feed_server.routes["/slow.xml"] = Route(rss(3, "Slow"))
    feed_server.routes["/heavy.xml"] = Route(rss(3, "Heavy"))
    config = folders[0] / "config.toml"
    after = subprocess.run(_command(config), cwd=folders[0], env=_ENV, capture_output=True,
                           text=True, timeout=60)
    assert "another digest process" not in after.stderr + after.stdout
    assert after.returncode == 0, after.stderr

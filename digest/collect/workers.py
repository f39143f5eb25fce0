"""The feed-parsing workers' start: they die with the process that started them.

A worker forked from `digest build` inherits everything the parent had open, and would
outlive a parent killed with SIGKILL: waiting forever on a pipe the parent can no longer
write, holding a copy of whatever the parent held (the state lock among them, so every
later command found the lock taken). So each worker, first thing:

- asks Linux to send it SIGKILL when its parent dies (`PR_SET_PDEATHSIG`), and where
  that is not available watches its parent's pid from a thread;
- goes back to the default SIGTERM (the daemon's graceful-stop handler, inherited over
  fork, would make it ignore one) and ignores SIGINT (Ctrl-C is the parent's to handle;
  the parent stops its workers);
- holds no state lock: `digest.state.lock` closes its descriptors in every forked child.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_POLL = 0.25  # seconds between looks at the parent, where prctl is not available


def start_worker(parent: int) -> None:
    """A ProcessPoolExecutor initializer: `parent` is the pid of the process that made
    the pool."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent)


def die_with_parent(parent: int) -> None:
    """End this process as soon as `parent` (its parent's pid) is gone."""
    if not _death_signal(signal.SIGKILL):
        threading.Thread(target=_watch, args=(parent,), name="parent-watch",
                         daemon=True).start()
    # The parent may have died before the signal was asked for: then nothing sends it.
    if os.getppid() != parent:
        os._exit(1)


def _death_signal(signum: int) -> bool:
    """prctl(PR_SET_PDEATHSIG, signum); False where there is no such call."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL)
    os._exit(1)

"""Run one command and write its wall time and rusage: the harness's measuring shim.

    python3 -S bench/launch.py REPORT CMD [ARGS...]

Why not measure from the harness directly: on Linux a child's ru_maxrss starts at the
resident size of the process that spawned it (exec records the old address space's
high-water mark), so a 40 MB harness would make `digest --version` look 40 MB big.
This shim is a bare interpreter (-S, only os/sys/time: about 8 MB), so what it
reports is the command's own peak unless that is smaller than 8 MB. The command gets
a process group of its own, whose id goes to REPORT.pid at once (the harness kills
that group at its time limit, so the shim still reports the killed command's
rusage), and "wall user sys maxrss_kb exit_code" goes to REPORT when it ends. The command's
stdin, stdout, stderr, cwd and environment are the shim's; user and sys include the
command's own children that it waited for (a process pool, say), and maxrss is the
largest of them, not a sum.
"""

import os
import sys
import time


def main() -> None:
    report, cmd = sys.argv[1], sys.argv[2:]
    started = time.perf_counter()
    pid = os.posix_spawnp(cmd[0], cmd, os.environ, setpgroup=0)
    with open(report + ".pid", "w") as f:
        f.write(f"{pid}\n")
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    with open(report, "w") as f:
        f.write(f"{wall} {usage.ru_utime} {usage.ru_stime} {usage.ru_maxrss} "
                f"{os.waitstatus_to_exitcode(status)}\n")
    sys.exit(min(255, abs(os.waitstatus_to_exitcode(status))))


if __name__ == "__main__":
    main()

"""`scripts/test` runs every step (ruff, mypy, pytest, check-wheel) even when an
earlier one fails, and names the failed ones at the end with exit status 1. Run here
on a copy of the script with stand-ins for python3, the browsers and check-wheel that
record what was asked of them (the real steps take minutes)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

from tests.helpers import ROOT

STAND_IN = """#!/bin/sh
echo "$(basename "$0") $*" >> "{calls}"
case "$*" in
  {failing}) exit 1 ;;
esac
exit 0
"""


def executable(path: Path, text: str) -> None:
    path.write_text(text, "utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def run_script(tmp_path: Path, failing: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    repo, bin_dir, calls = tmp_path / "repo", tmp_path / "bin", tmp_path / "calls"
    (repo / "scripts").mkdir(parents=True)
    bin_dir.mkdir()
    shutil.copy(ROOT / "scripts" / "test", repo / "scripts" / "test")
    for name in ("python3", "chromium", "spamassassin", "initdb"):
        executable(bin_dir / name, STAND_IN.format(calls=calls, failing=failing))
    executable(repo / "scripts" / "check-wheel", STAND_IN.format(calls=calls, failing='"nothing"'))
    env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin"}
    done = subprocess.run(["bash", str(repo / "scripts" / "test"), "-q", "tests/cli"],
                          env=env, capture_output=True, text=True, timeout=60)
    return done, calls.read_text("utf-8").splitlines()


def test_a_failing_lint_does_not_stop_the_tests_or_the_wheel_check(tmp_path: Path):
    done, calls = run_script(tmp_path, '"-m ruff"*|"-m pytest"*')
    assert done.returncode == 1, done.stderr
    steps = [c for c in calls if not c.startswith(("python3 -m pip", "chromium", "spamassassin"))]
    assert steps == ["python3 -m ruff check digest tests bench", "python3 -m mypy digest",
                     "python3 -m pytest -q tests/cli", "check-wheel "], calls
    assert done.stderr.splitlines()[-1] == "scripts/test: failed: ruff pytest", done.stderr


def test_all_steps_passing_exits_0(tmp_path: Path):
    done, calls = run_script(tmp_path, '"nothing"')
    assert done.returncode == 0, done.stderr
    assert "check-wheel " in calls
    assert done.stderr.splitlines()[-1] == (
        "scripts/test: ruff, mypy, pytest and check-wheel all passed")

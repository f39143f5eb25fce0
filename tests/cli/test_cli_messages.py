"""One clear line where a new user used to get silence or a wrong word: `--open` with no
browser, a `.json` feed, `check --issue` on a folder that holds issue folders."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import NOW_UTC_ENV, ROOT, config_with, error_line, run


def test_open_without_a_browser_says_so(sample_project: Path):
    env = {**os.environ, **NOW_UTC_ENV, "PYTHONPATH": str(ROOT), "COLUMNS": "500",
           "BROWSER": "false"}  # the only browser there is fails to start
    done = subprocess.run([sys.executable, "-m", "digest", "--config", str(sample_project),
                           "build", "--preview", "--open"], env=env, capture_output=True,
                          text=True, timeout=120, cwd=sample_project.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].endswith("preview/email.html")
    assert ("warning: --open: no web browser found here; open the file above yourself"
            in done.stderr.splitlines()), done.stderr


def test_a_json_feed_is_named_as_json(tmp_path: Path):
    (tmp_path / "feed.json").write_text('{"version": "https://jsonfeed.org/version/1.1", '
                                        '"items": []}', "utf-8")
    config = config_with(tmp_path, [{"url": "feed.json", "name": "Json"}])
    result = run(config, "collect", expect=0)
    assert "is not an RSS or Atom feed: got application/json (" in result.output, result.output
    assert "application/xml" not in result.output


def test_check_issue_on_the_outbox_names_the_issue_folders_in_it(sample_project: Path):
    run(sample_project, "build", env=NOW_UTC_ENV, expect=0)
    outbox = sample_project.parent / "outbox"
    [folder] = [p.name for p in outbox.iterdir() if p.is_dir()]
    result = run(sample_project, "check", "--issue", str(outbox), expect=2)
    assert error_line(result) == (
        f"error: --issue: {outbox} is not an issue folder (it has none of issue.json, "
        f"message.eml, email.html, email.txt); the issue folders in it: {folder}")
    assert "missing" not in result.output
    run(sample_project, "check", "--issue", str(outbox / folder), expect=0)

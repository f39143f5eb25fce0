"""What `digest run` logs: each line has its time, level, logger and message (or, with
`[log] format = "json"`, is one JSON object); a feed that fails is a WARNING naming
the feed and the reason; addresses never appear in clear."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

from tests.helpers import config_with, rss, run, set_schedule

AT = "2026-11-30T08:00:00+08:00"  # no slot due: `run --once` collects


def project(folder: Path, extra: str = "") -> Path:
    (folder / "good.xml").write_bytes(rss(5, "Good"))
    config = config_with(folder, [{"url": "good.xml", "name": "Good"},
                                  {"url": "gone.xml", "name": "Gone wire"},
                                  {"url": "ops.team@example.org", "name": "Desk of ann.lee@example.com"}],
                         extra)
    return set_schedule(config, 'issue = "0 9 * * MON"')


def test_each_failed_feed_is_a_warning_with_its_name_and_reason(tmp_path: Path):
    result = run(project(tmp_path), "run", "--once", now=AT, expect=0)
    lines = result.output.splitlines()
    warnings = [line for line in lines if " WARNING " in line]
    assert len(warnings) == 2, result.output
    gone = next(line for line in warnings if "'Gone wire'" in line)
    assert re.fullmatch(r"\S+ WARNING digest\.run collect failed: feed 'Gone wire': file "
                        r"\S+gone\.xml not found; check its url in \[\[feeds\]\]", gone), gone
    summary = next(line for line in lines if "INFO digest.run collect:" in line)
    assert "5 new article(s) from 3 feed(s), 2 feed(s) failed" in summary
    datetime.fromisoformat(summary.split(" ", 1)[0])  # the time comes first, with its offset
    # The feed's name and its url hold addresses: neither is logged in clear.
    assert "ann.lee@example.com" not in result.output
    assert "ops.team@example.org" not in result.output
    assert "a***@example.com" in result.output


def test_the_json_format_is_one_object_a_line(tmp_path: Path):
    config = project(tmp_path, '[log]\nformat = "json"\n')
    result = run(config, "run", "--once", now=AT, expect=0)
    records = [json.loads(line) for line in result.output.splitlines()]
    assert {tuple(r) for r in records} == {("time", "level", "logger", "message")}
    levels = [(r["level"], r["logger"]) for r in records]
    assert levels.count(("WARNING", "digest.run")) == 2
    assert ("INFO", "digest.run") in levels
    assert not any("ann.lee@example.com" in r["message"] for r in records)


def test_a_bad_log_format_is_a_config_error(tmp_path: Path):
    config = project(tmp_path, '[log]\nformat = "xml"\n')
    result = run(config, "run", "--once", now=AT, expect=2)
    assert "[log] format" in result.output

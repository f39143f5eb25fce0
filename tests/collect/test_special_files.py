"""Local paths that are not plain files (a device, a FIFO) never hang or exhaust
memory: the size cap holds for every local read."""

from __future__ import annotations

import os
from pathlib import Path

from tests.helpers import run


def test_a_device_or_fifo_as_a_feed_is_a_failed_feed_not_a_hang(write_config, tmp_path: Path):
    os.mkfifo(tmp_path / "pipe.xml")  # nobody writes: reading it would block forever
    (tmp_path / "ok.xml").write_text(
        "<rss version='2.0'><channel><title>t</title><item><title>One</title>"
        "<link>https://news.example.com/1</link></item></channel></rss>", "utf-8")
    path = write_config([{"url": "/dev/zero", "name": "Zero"},
                         {"url": "pipe.xml", "name": "Pipe"},
                         {"url": "ok.xml", "name": "Fine"}])
    result = run(path, "collect")
    assert result.exit_code == 0, result.output
    assert "feed 'Zero': /dev/zero is not a regular file" in result.output
    assert "feed 'Pipe': " in result.output and "pipe.xml is not a regular file" in result.output
    assert "1 new article(s) from 3 feed(s), 2 failed" in result.output


def test_a_local_feed_over_the_cap_is_refused(write_config, tmp_path: Path):
    (tmp_path / "big.xml").write_bytes(b"<rss>" + b" " * 5000 + b"</rss>")
    path = write_config([{"url": "big.xml", "name": "Big"}], extra="[collect]\nmax_bytes = 1000\n")
    result = run(path, "collect")
    assert result.exit_code == 0, result.output
    assert "feed 'Big'" in result.output and "over the 1000-byte cap" in result.output


def test_a_device_as_the_recipient_list_is_a_config_error(write_config, tmp_path: Path):
    items = "".join(f"<item><title>Story {i}</title><link>https://news.example.com/{i}</link>"
                    "</item>" for i in range(4))
    (tmp_path / "ok.xml").write_text(
        f"<rss version='2.0'><channel><title>t</title>{items}</channel></rss>", "utf-8")
    path = write_config([{"url": "ok.xml", "name": "Fine"}])
    path.write_text(path.read_text("utf-8").replace(
        'recipients = ["editor@example.com"]', 'recipients_file = "/dev/zero"'), "utf-8")
    result = run(path, "build", "--preview")
    assert result.exit_code == 2, result.output
    assert "[delivery] recipients_file: /dev/zero is not a regular file" in result.output


def test_an_empty_feed_file_is_named_as_empty(write_config, tmp_path: Path):
    (tmp_path / "empty.xml").write_bytes(b"")
    path = write_config([{"url": "empty.xml", "name": "Empty"}],
                        extra="[schedule]\nmin_new_items = 0\n")
    path.write_text(path.read_text("utf-8").replace("[schedule]\nmin_new_items = 3\n", ""),
                    "utf-8")
    result = run(path, "build", "--preview")
    assert result.exit_code == 0, result.output
    assert "feed 'Empty' (empty.xml) is empty" in result.output
    assert "AttributeError" not in result.output
    assert "nothing to preview: no new articles; no issue built" in result.output


def test_collect_prints_a_summary_and_the_failures_and_a_table_only_when_asked(
        write_config, tmp_path: Path):
    (tmp_path / "ok.xml").write_text(
        "<rss version='2.0'><channel><title>t</title><item><title>One</title>"
        "<link>https://news.example.com/1</link></item></channel></rss>", "utf-8")
    path = write_config([{"url": "ok.xml", "name": "Fine feed"},
                         {"url": "missing.xml", "name": "Gone feed"}])
    quiet = run(path, "collect")
    assert quiet.exit_code == 0, quiet.output
    assert "Fine feed" not in quiet.output  # no row per feed
    assert "feed 'Gone feed': file" in quiet.output and "not found" in quiet.output
    assert quiet.output.rstrip().endswith("1 new article(s) from 2 feed(s), 1 failed")
    again = run(path, "collect", "--verbose")
    assert "Fine feed" in again.output and "status" in again.output
    assert "(failed 2x in a row)" in again.output

"""An article page that takes longer than `[enrich] timeout` is noted with that setting's
name (issue 22 #14: the note said to raise `[collect] timeout`, which did not apply)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import BASE_CONFIG, NOW_UTC_ENV, FeedServer, Route, config_with, run


def test_a_slow_page_names_the_enrich_timeout(feed_server: FeedServer, tmp_path: Path) -> None:
    base = feed_server.base
    items = "".join(
        f"<item><title>Story {i} about the port's November volumes</title>"
        f"<link>{base}/articles/{i}.html</link><guid>s{i}</guid>"
        f"<pubDate>{28 - i} Nov 2026 08:00:00 +0000</pubDate>"
        f"<description>Story {i} about the port's November volumes</description></item>"
        for i in range(6))
    feed_server.routes["/feed.xml"] = Route(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>'
        f"<link>{base}/</link>{items}</channel></rss>".encode())
    for i in range(6):  # every page answers after the 1 s [enrich] timeout
        feed_server.routes[f"/articles/{i}.html"] = Route(
            b"<html><body><p>late</p></body></html>", content_type="text/html", delay=2.5)
    config = config_with(
        tmp_path, [{"url": feed_server.url("/feed.xml"), "name": "Wire"}],
        base=BASE_CONFIG.replace('pages = "never"', 'pages = "always"\ntimeout = 1'))
    result = run(config, "build", "--preview", env=NOW_UTC_ENV)
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "outbox" / "preview" / "issue.json").read_text("utf-8"))
    notes = [n for n in manifest["notes"] if "/articles/" in n]
    assert notes, manifest["notes"]
    for note in notes:
        assert "no complete response within 1 s" in note, note
        assert "raise [enrich] timeout" in note and "[collect] timeout" not in note, note

"""The issue folder owner: it removes only its own temp folders, and a damaged
manifest never stops a build."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from digest.outbox.folder import IssueFolder, OutboxError
from tests.helpers import NOW_ENV, FeedServer, Route, rss, run


def age(path: Path, seconds: float = 7200) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_only_our_own_abandoned_temp_folders_are_removed(feed_server: FeedServer,
                                                         write_config, tmp_path: Path):
    """An outbox may be the config's own folder or a web root: `.git`, `.well-known`
    and the like are never touched, however old."""
    feed_server.routes["/w.xml"] = Route(rss(6, "Wire"))
    path = write_config([{"url": feed_server.url("/w.xml"), "name": "Wire"}])
    path.write_text(path.read_text("utf-8").replace('[delivery]\n',
                                                    '[delivery]\noutbox_dir = "."\n', 1))
    keep = [tmp_path / ".git", tmp_path / ".well-known", tmp_path / ".2026-11-30-notes"]
    ours = [tmp_path / ".2026-11-29-the-china-connection-3.k2j4_x9a",
            tmp_path / ".preview.old"]
    for folder in keep + ours:
        folder.mkdir()
        (folder / "file").write_text("x")
        age(folder)
    result = run(path, "build", env=NOW_ENV)
    assert result.exit_code == 0, result.output
    assert all((f / "file").read_text() == "x" for f in keep)
    assert not any(f.exists() for f in ours)


@pytest.mark.parametrize("edit", [
    {"date": "yesterday"}, {"number": "19"}, {"number": 2**63}, {"number": -5},
    {"number": True}, {"marker": 123}, {"decisions": [{"article_id": 1}]},
    {"decisions": "all"}, {"sections": []}, {"state_id": None},
])
def test_a_damaged_manifest_is_skipped_and_its_number_not_reused(
        edit: dict, feed_server: FeedServer, write_config, tmp_path: Path):
    feed_server.routes["/w.xml"] = Route(rss(6, "Wire"))
    path = write_config([{"url": feed_server.url("/w.xml"), "name": "Wire"}])
    folder = tmp_path / "outbox" / "2026-11-20-the-china-connection-19"
    folder.mkdir(parents=True)
    manifest = {"manifest_version": 2, "newsletter": "The China Connection",
                "slug": "the-china-connection", "number": 19,
                "date": "2026-11-20T08:00:00+08:00", "folder": folder.name, "subject": "s",
                "preheader": "p", "marker": "ab" * 12, "state_id": "0" * 32, **edit}
    (folder / "issue.json").write_text(json.dumps(manifest), "utf-8")
    with pytest.raises(OutboxError, match=r"issue\.json: (damaged manifest|not a digest)"):
        IssueFolder.open(folder)
    result = run(path, "build", env=NOW_ENV)
    assert result.exit_code == 0, result.output
    assert "issue #20 written" in result.output
    assert "Traceback" not in result.output

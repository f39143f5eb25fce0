"""Only blocks that are shown take articles: `[layout] blocks` through the front door."""

from __future__ import annotations

import email
import json
from email import policy
from pathlib import Path
from typing import Any

import pytest

from digest.config.schema import BLOCKS
from tests.helpers import FeedServer, Route, rss, run


def titles() -> dict[str, str]:
    """url -> title of the 14 articles rss(14, "Alpha") serves."""
    return {f"https://news.example.com/alpha/{i}":
            f"Alpha {i}: exports grew {i}.{i}% in the month" for i in range(14)}


def issue_folder(outbox: Path, number: int) -> Path:
    (folder,) = outbox.glob(f"*-the-china-connection-{number}")
    return folder


def read_issue(folder: Path) -> tuple[dict[str, Any], str, str, str]:
    manifest = json.loads((folder / "issue.json").read_text("utf-8"))
    message = email.message_from_bytes((folder / "message.eml").read_bytes(),
                                       policy=policy.default)
    return (manifest, str(message["Subject"]), (folder / "email.html").read_text("utf-8"),
            (folder / "email.txt").read_text("utf-8"))


@pytest.fixture
def alpha(feed_server: FeedServer, write_config):
    feed_server.routes["/a.xml"] = Route(rss(14, "Alpha"))

    def config(blocks: list[str]) -> Path:
        listed = ", ".join(f'"{b}"' for b in blocks)
        return write_config([{"url": feed_server.url("/a.xml"), "name": "Alpha"}],
                            extra=f"[layout]\nblocks = [{listed}]\n")

    return config


def test_hidden_blocks_take_no_articles_and_the_rest_stay_new(alpha, tmp_path: Path):
    config = alpha(["masthead", "need_to_know", "footer"])
    first = run(config, "build")
    assert first.exit_code == 0, first.output
    manifest, subject, html, text = read_issue(issue_folder(tmp_path / "outbox", 1))

    sections = manifest["sections"]
    assert sections["big_story"] == [] and sections["read_more"] == []
    shown = [s["url"] for s in sections["need_to_know"]]
    assert len(shown) == 3
    by_url = titles()
    # The subject and the preheader come from what is shown: the first Need to know item.
    assert subject == f"The China Connection: {by_url[shown[0]]}"
    assert manifest["subject"] == subject
    assert manifest["preheader"].startswith(by_url[shown[0]])
    for url, title in by_url.items():
        assert (title in html) == (url in shown), title
        assert (title in text) == (url in shown), title

    # With every block shown, 10 stories (1 + 3 + 6) would have gone out: the 7 that
    # only the hidden blocks would have taken are not decided, so not used up; the 4
    # below that cut were passed over, as with the full layout.
    decided = {d["section"] for d in manifest["decisions"]}
    assert decided == {"need_to_know", "passed_over"}
    assert len([d for d in manifest["decisions"] if d["section"] == "passed_over"]) == 4
    assert len(manifest["decisions"]) == 7

    second = run(config, "build")
    assert second.exit_code == 0, second.output
    manifest2, subject2, _, _ = read_issue(issue_folder(tmp_path / "outbox", 2))
    shown2 = [s["url"] for s in manifest2["sections"]["need_to_know"]]
    first_ids = {d["article_id"] for d in manifest["decisions"]}
    assert len(shown2) == 3 and not set(shown2) & set(shown)
    assert not {d["article_id"] for d in manifest2["decisions"]} & first_ids
    assert subject2 == f"The China Connection: {by_url[shown2[0]]}"
    # 7 held back for issue #2: 3 shown there, 4 held again; none passed over yet.
    assert len(manifest2["decisions"]) == 3


def test_big_story_hidden_its_story_leads_need_to_know(alpha, tmp_path: Path):
    full = alpha(list(BLOCKS))
    preview = run(full, "build", "--preview")
    assert preview.exit_code == 0, preview.output
    lead = json.loads((tmp_path / "outbox" / "preview" / "issue.json").read_text())
    big = lead["sections"]["big_story"][0]["url"]

    config = alpha(["masthead", "need_to_know", "read_more", "footer"])
    result = run(config, "build")
    assert result.exit_code == 0, result.output
    manifest, subject, _, _ = read_issue(issue_folder(tmp_path / "outbox", 1))
    assert manifest["sections"]["big_story"] == []
    assert manifest["sections"]["need_to_know"][0]["url"] == big
    assert subject == f"The China Connection: {titles()[big]}"
    assert len(manifest["sections"]["read_more"]) == 6
    assert all(d["section"] != "big_story" for d in manifest["decisions"])


@pytest.mark.parametrize("layout", [
    'blocks = []',
    'blocks = ["masthead", "coming_up", "footer"]',
    'blocks = ["masthead", "big_story", "footer"]\nbig_story = 0',
    'blocks = ["need_to_know", "read_more"]\nneed_to_know = 0\nread_more = 0',
])
def test_a_layout_without_a_story_block_is_a_config_error(
        feed_server: FeedServer, write_config, tmp_path: Path, layout: str):
    feed_server.routes["/a.xml"] = Route(rss(14, "Alpha"))
    config = write_config([{"url": feed_server.url("/a.xml"), "name": "Alpha"}],
                          extra=f"[layout]\n{layout}\n")
    for command in ("check", "build"):
        result = run(config, command)
        assert result.exit_code == 2, result.output
        assert result.output == (
            "error: [layout] blocks: no story block is shown with a size above 0; list "
            "big_story, need_to_know or read_more and give it a size\n"), result.output
    assert not (tmp_path / "outbox").exists() or not any((tmp_path / "outbox").iterdir())


def test_one_story_block_is_enough(alpha):
    result = run(alpha(["read_more"]), "check")
    assert result.exit_code == 0, result.output

"""`digest publish` (issue 12, item 1): a static web archive with relative links, each
issue's own page without personal data, the issues' pictures, and an Atom feed that
feedparser reads cleanly; checked in Chromium at 375 px."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import feedparser
import lxml.html
import pytest

from digest.render.screenshot import ScreenshotError, chromium_command, find_chromium
from tests.helpers import BASE_CONFIG, config_with, item, on_day, run


def write_feed(path: Path, start: int, count: int) -> None:
    items = [item(i, f"Story {i} about ports and markets this week",
                  "A summary that says a little more about the story. " * 3,
                  "<p>Body of the story, long enough to be a paragraph of news.</p>", "Trade")
             for i in range(start, start + count)]
    path.write_text('<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
                    'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
                    f"<title>T</title><link>https://news.example.com/</link>{''.join(items)}"
                    "</channel></rss>", "utf-8")


def project(tmp_path: Path, extra: str = "") -> Path:
    base = BASE_CONFIG.replace('web_url = "https://example.com/newsletter"',
                               'web_url = "https://example.com/news"')
    return config_with(tmp_path, [{"url": "feed.xml", "name": "Wire"}], extra, base=base)


def three_issues(tmp_path: Path, extra: str = "") -> Path:
    config = project(tmp_path, extra)
    for n, day in enumerate((20, 25, 30)):
        write_feed(tmp_path / "feed.xml", n * 20, 12)
        run(config, "build", now=on_day(day), expect=0)
    return config


def test_the_archive_lists_every_issue_and_each_has_its_page(tmp_path: Path) -> None:
    config = three_issues(tmp_path, "\n[web]\nper_page = 2\n")
    result = run(config, "publish", now=on_day(30), expect=0)
    assert "3 issue(s) published to" in result.output
    site = tmp_path / "site"
    index = lxml.html.fromstring((site / "index.html").read_text("utf-8"))
    links = [a.get("href") for a in index.iter("a")]
    assert "issues/3/index.html" in links and "issues/2/index.html" in links
    assert "page/2/index.html" in links and "issues/1/index.html" not in links
    page2 = lxml.html.fromstring((site / "page" / "2" / "index.html").read_text("utf-8"))
    assert "../../issues/1/index.html" in [a.get("href") for a in page2.iter("a")]
    assert all(not href.startswith(("/", "file:")) for href in links if href)
    for number in (1, 2, 3):
        page = (site / "issues" / str(number) / "index.html").read_text("utf-8")
        manifest = json.loads(next((tmp_path / "outbox").glob(f"*-{number}"))
                              .joinpath("issue.json").read_text("utf-8"))
        for section in ("big_story", "need_to_know", "read_more"):
            for story in manifest["sections"][section]:
                assert story["url"] in page
        # Nothing personal: no unsubscribe link, token or placeholder.
        assert "unsubscribe" not in page.lower() and "token=" not in page
        assert "%%digest" not in page and "editor@example.com" not in page


def test_view_in_browser_points_at_the_issue_page(tmp_path: Path) -> None:
    config = three_issues(tmp_path)
    folder = next((tmp_path / "outbox").glob("*-2"))
    html = (folder / "email.html").read_text("utf-8")
    text = (folder / "email.txt").read_text("utf-8")
    assert 'href="https://example.com/news/issues/2/"' in html
    assert "https://example.com/news/issues/2/" in text
    assert config.exists()


def test_the_feed_is_atom_that_feedparser_reads_cleanly(tmp_path: Path) -> None:
    config = three_issues(tmp_path)
    run(config, "publish", now=on_day(30), expect=0)
    parsed = feedparser.parse((tmp_path / "site" / "feed.xml").read_bytes())
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert [e.link for e in parsed.entries] == [
        f"https://example.com/news/issues/{n}/" for n in (3, 2, 1)]
    first = parsed.entries[0]
    assert first.title.startswith("The China Connection: Story 4")
    assert "Story 4" in first.content[0].value  # the full content
    assert "unsubscribe" not in first.content[0].value.lower()


def test_publish_after_every_build_with_web_publish(tmp_path: Path) -> None:
    config = project(tmp_path, "\n[web]\npublish = true\nsite_dir = \"public\"\n")
    write_feed(tmp_path / "feed.xml", 0, 12)
    result = run(config, "build", now=on_day(30), expect=0)
    assert "web archive published to" in " ".join(result.output.split())
    assert (tmp_path / "public" / "issues" / "1" / "index.html").is_file()


def test_a_folder_that_is_not_a_site_is_never_replaced(tmp_path: Path) -> None:
    config = three_issues(tmp_path)
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "mine.txt").write_text("keep me", "utf-8")
    result = run(config, "publish")
    assert result.exit_code == 1
    assert "is not a site digest wrote" in " ".join(result.output.split())
    assert (tmp_path / "site" / "mine.txt").read_text("utf-8") == "keep me"


def test_pictures_made_for_an_issue_are_published_with_it(tmp_path: Path,
                                                          feed_server) -> None:
    from tests.helpers import SAMPLES, Route

    feed_server.routes["/p.jpg"] = Route((SAMPLES / "images" / "factory.jpg").read_bytes(),
                                         content_type="image/jpeg")
    config = project(tmp_path, '\n[web]\nsite_dir = "site"\n').read_text("utf-8").replace(
        'web_url = "https://example.com/news"',
        'web_url = "https://example.com/news"\nassets_url = "https://cdn.example.com/a"')
    (tmp_path / "config.toml").write_text(config, "utf-8")
    write_feed(tmp_path / "feed.xml", 0, 8)
    feed = (tmp_path / "feed.xml").read_text("utf-8").replace(
        "</item>", f'<enclosure url="{feed_server.url("/p.jpg")}" type="image/jpeg"/></item>', 1)
    (tmp_path / "feed.xml").write_text(feed, "utf-8")
    run(tmp_path / "config.toml", "build", now=on_day(30), expect=0)
    run(tmp_path / "config.toml", "publish", now=on_day(30), expect=0)
    pictures = list((tmp_path / "site" / "issues" / "1" / "images").iterdir())
    assert pictures
    page = (tmp_path / "site" / "issues" / "1" / "index.html").read_text("utf-8")
    assert f'src="images/{pictures[0].name}"' in page


try:
    CHROMIUM: str | None = find_chromium()
except ScreenshotError:
    CHROMIUM = None

FRAME = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="f" src="PAGE" width="375" height="3000" style="border:0"></iframe>
<pre id="out"></pre><script>
document.getElementById("f").addEventListener("load", () => {
  const d = document.getElementById("f").contentDocument;
  document.getElementById("out").textContent = JSON.stringify({
    scroll: d.documentElement.scrollWidth, width: d.documentElement.clientWidth,
    h1: d.querySelector("h1") ? d.querySelector("h1").getBoundingClientRect().width : 0});
});
</script></body></html>"""


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_index_and_issue_page_fit_375_px(tmp_path: Path) -> None:
    config = three_issues(tmp_path)
    run(config, "publish", now=on_day(30), expect=0)
    assert CHROMIUM is not None
    for page in ("index.html", "issues/3/index.html"):
        frame = tmp_path / f"frame-{page.replace('/', '-')}"
        frame.write_text(FRAME.replace("PAGE", (tmp_path / "site" / page).as_uri()), "utf-8")
        command = chromium_command(CHROMIUM, tmp_path / "profile", window=(600, 1200))
        done = subprocess.run([*command, "--dump-dom", frame.as_uri()], capture_output=True,
                              text=True, timeout=90, check=False)
        found = re.search(r'<pre id="out">(.*?)</pre>', done.stdout, re.S)
        assert found and found.group(1), done.stderr[-500:]
        measured = json.loads(found.group(1).replace("&quot;", '"'))
        assert measured["width"] == 375, measured
        assert measured["scroll"] <= 375, (page, measured)  # no horizontal scroll
        assert 0 < measured["h1"] <= 375


def test_a_symlinked_site_is_refused_and_hostile_subjects_stay_valid_xml(tmp_path: Path
                                                                         ) -> None:
    config = three_issues(tmp_path)
    folder = next((tmp_path / "outbox").glob("*-2"))
    manifest = json.loads((folder / "issue.json").read_text("utf-8"))
    manifest["subject"] = "Bad \x01 subject ]]> <b>"
    (folder / "issue.json").write_text(json.dumps(manifest), "utf-8")
    run(config, "publish", now=on_day(30), expect=0)
    parsed = feedparser.parse((tmp_path / "site" / "feed.xml").read_bytes())
    assert parsed.bozo == 0 and parsed.entries[1].title == "Bad  subject ]]> <b>"
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    refused = run(config, "publish", "--out", str(tmp_path / "link"))
    assert refused.exit_code == 1 and "is a symbolic link" in refused.output
    assert (tmp_path / "link").is_symlink()


def test_a_site_dir_that_would_hold_the_state_is_refused(tmp_path: Path) -> None:
    for site_dir in (".", ".digest", ".."):
        config = project(tmp_path, f'\n[web]\nsite_dir = "{site_dir}"\n')
        result = run(config, "check")
        assert result.exit_code == 2, site_dir
        assert "[web] site_dir" in result.output and "would hold" in result.output

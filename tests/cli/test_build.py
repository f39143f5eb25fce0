"""Whole builds through the front door: preview, build, nothing new, failures."""

from __future__ import annotations

import email
import json
from dataclasses import replace
from email import policy
from pathlib import Path

import pytest

from digest import clock, pipeline
from digest.cli.main import main
from digest.config.load import load_config
from digest.errors import OutboxError
from digest.outbox.folder import IssueFiles, IssueFolder
from digest.render.bundled import package_templates
from digest.state.store import open_store
from tests.helpers import FeedServer, Route, rss, run


@pytest.fixture
def two_feeds(feed_server: FeedServer, write_config) -> Path:
    feed_server.routes["/a.xml"] = Route(rss(8, "Alpha"), etag='"a1"')
    feed_server.routes["/b.xml"] = Route(rss(6, "Beta"))
    return write_config([{"url": feed_server.url("/a.xml"), "name": "Alpha"},
                         {"url": feed_server.url("/b.xml"), "name": "Beta", "weight": 0.5}])


def test_build_then_nothing_new(two_feeds: Path, tmp_path: Path):
    first = run(two_feeds, "build")
    assert first.exit_code == 0, first.output
    folders = [p for p in (tmp_path / "outbox").iterdir()]
    assert len(folders) == 1 and folders[0].name.endswith("-the-china-connection-1")
    assert "issue #1 written to" in first.output
    assert {p.name for p in folders[0].iterdir()} >= {
        "email.html", "email.txt", "issue.json", "message.eml"}

    html = (folders[0] / "email.html").read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert max(len(line) for line in html.splitlines()) < 998
    eml = (folders[0] / "message.eml").read_bytes()
    head, _, body = eml.partition(b"\r\n\r\n")
    assert max(len(line) for line in head.split(b"\r\n")) <= 998
    assert max(len(line) for line in body.split(b"\r\n")) <= 76  # RFC 2045
    assert b"\n" not in eml.replace(b"\r\n", b"")  # CRLF throughout
    assert b"\r\nList-Unsubscribe: <https://example.com/unsubscribe?token=" in head
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in head
    assert b"\r\nList-Id: The China Connection <the-china-connection.example.com>\r\n" in head
    message = email.message_from_bytes(eml, policy=policy.default)
    assert message.get_content_type() == "multipart/alternative"
    html_part = message.get_body(("html",)).get_content()
    assert "@media only screen" in html_part  # the responsive rules survive inlining
    assert message["Message-ID"] and message["Date"] and message["To"] == "editor@example.com"

    second = run(two_feeds, "build")
    assert second.exit_code == 0, second.output
    assert "nothing new: no new articles; no issue built" in \
        second.output
    assert len(list((tmp_path / "outbox").iterdir())) == 1


def test_preview_changes_no_state(two_feeds: Path, tmp_path: Path):
    assert run(two_feeds, "collect").exit_code == 0
    db = tmp_path / ".digest" / "state.db"
    before = {p.name: p.read_bytes() for p in db.parent.glob("state.db*")}

    result = run(two_feeds, "build", "--preview")
    assert result.exit_code == 0, result.output
    preview = tmp_path / "outbox" / "preview"
    assert str(preview / "email.html") in result.output
    assert json.loads((preview / "issue.json").read_text())["number"] == 1

    after = {p.name: p.read_bytes() for p in db.parent.glob("state.db*")}
    assert after["state.db"] == before["state.db"]
    assert after.get("state.db-wal", b"") == before.get("state.db-wal", b"")
    # The preview took no number: the real build is still #1.
    assert run(two_feeds, "build", "--no-collect").exit_code == 0
    assert len(list((tmp_path / "outbox").glob("*-the-china-connection-1"))) == 1


def test_preview_on_a_fresh_machine_creates_no_database(two_feeds: Path, tmp_path: Path):
    result = run(two_feeds, "build", "--preview")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / ".digest").exists()
    assert (tmp_path / "outbox" / "preview" / "email.html").stat().st_size > 10_000


def test_no_article_is_in_two_issues(feed_server: FeedServer, two_feeds: Path, tmp_path: Path):
    assert run(two_feeds, "build").exit_code == 0
    feed_server.routes["/a.xml"] = Route(rss(8, "Alpha") .replace(b"</channel>", b"")
                                         .replace(b"</rss>", b"") + rss(5, "Gamma")
                                         .split(b"<link>https://news.example.com/</link>")[1],
                                         etag='"a2"')
    result = run(two_feeds, "build")
    assert result.exit_code == 0, result.output
    assert "issue #2 written" in result.output

    store = open_store(tmp_path / ".digest" / "state.db")
    rows = store.conn.execute(
        "SELECT article_id, COUNT(*) FROM issue_articles GROUP BY article_id").fetchall()
    placed_2 = store.issue_articles(2)
    store.close()
    assert rows and all(count == 1 for _, count in rows)
    sections = json.loads(next((tmp_path / "outbox").glob("*-2")).joinpath(
        "issue.json").read_text())["sections"]
    titles = [a["title"] for key in ("big_story", "need_to_know", "read_more")
              for a in sections[key]]
    assert len(titles) == 5 and all(t.startswith("Gamma") for t in titles)
    assert {section for _, section, _, _ in placed_2} >= {"big_story", "need_to_know"}


def test_failure_after_outbox_write_leaves_nothing_behind(two_feeds: Path, tmp_path: Path):
    config = load_config(two_feeds)
    written: list[Path] = []

    def explode(path: Path) -> None:
        written.append(path)
        assert (path / "issue.json").exists()  # the folder really was written
        raise RuntimeError("disk full while committing")

    with pytest.raises(RuntimeError, match="disk full"):
        pipeline.build(config, after_write=explode)
    assert written and not written[0].exists()
    assert [p.name for p in (tmp_path / "outbox").iterdir()] == []
    store = open_store(config.state_path)
    used = store.conn.execute("SELECT COUNT(*) FROM issue_articles").fetchone()[0]
    issues = store.issues()
    store.close()
    assert used == 0 and issues == []

    # The next build uses the same articles and the same number.
    assert run(two_feeds, "build", "--no-collect").exit_code == 0
    assert len(list((tmp_path / "outbox").glob("*-the-china-connection-1"))) == 1


def test_killed_between_write_and_commit_is_recovered(two_feeds: Path, tmp_path: Path):
    """A folder written by a run that died before its commit is adopted, not rebuilt."""
    config = load_config(two_feeds)

    class Killed(BaseException):
        pass

    def die(path: Path) -> None:
        # Simulate the process dying: keep the folder, skip the commit.
        import shutil

        shutil.copytree(path, path.with_name(path.name + ".keep"))
        raise Killed

    with pytest.raises(Killed):
        pipeline.build(config, after_write=die)
    kept = next((tmp_path / "outbox").glob("*.keep"))
    kept.rename(kept.with_name(kept.name.removesuffix(".keep")))

    result = run(two_feeds, "build", "--no-collect")
    assert result.exit_code == 0, result.output
    assert "recovered issue #1" in result.output
    assert "nothing new" in result.output
    store = open_store(config.state_path)
    assert [i.number for i in store.issues()] == [1]
    store.close()


def test_outbox_folder_is_never_overwritten(two_feeds: Path, tmp_path: Path):
    config = load_config(two_feeds)
    (tmp_path / "outbox").mkdir()
    now = clock.now(config.tz)
    squatter = tmp_path / "outbox" / f"{now.date().isoformat()}-the-china-connection-1"
    squatter.mkdir()
    (squatter / "notes.txt").write_text("mine")
    result = run(two_feeds, "build")  # the name's number is taken: this issue is #2
    assert result.exit_code == 0, result.output
    assert "issue #2 written" in result.output
    assert (squatter / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in squatter.iterdir()) == ["notes.txt"]
    store = open_store(config.state_path)
    assert [i.number for i in store.issues()] == [2]
    store.close()
    files = IssueFolder.open(tmp_path / "outbox" / f"{now.date().isoformat()}"
                                                   "-the-china-connection-2")
    with pytest.raises(OutboxError, match="already exists; digest never overwrites"):
        IssueFolder.write(tmp_path / "outbox", IssueFiles(
            replace(files.manifest, folder=squatter.name), "", "", "", "", b""))
    assert sorted(p.name for p in squatter.iterdir()) == ["notes.txt"]


def test_misspelled_key_exits_2_naming_it(write_config):
    path = write_config(extra="[layout]\nread_mroe = 4\n")
    result = run(path, "check")
    assert result.exit_code == 2
    assert "[layout] read_mroe: unknown key (did you mean 'read_more'?)" in result.output
    assert run(path, "build", "--preview").exit_code == 2


def test_check_accepts_a_good_config(two_feeds: Path):
    result = run(two_feeds, "check")
    assert result.exit_code == 0, result.output
    assert "ok (2 feeds, delivery outbox)" in result.output


def test_broken_template_is_a_config_error(two_feeds: Path, tmp_path: Path):
    user = tmp_path / "my-templates" / "blocks"
    user.mkdir(parents=True)
    (user / "footer.mjml.j2").write_text("<mj-section>{% if %}</mj-section>")
    with two_feeds.open("a") as f:
        f.write('\n[layout]\ntemplates_dir = "my-templates"\n')
    result = run(two_feeds, "check")
    assert result.exit_code == 2
    assert "blocks/footer.mjml.j2" in result.output


def test_every_command_has_help_with_an_example():
    for name in main.commands:
        result = run(None, name, "--help")
        assert result.exit_code == 0, name
        assert "Example:" in result.output, f"{name} --help has no example"


def test_html_over_budget_drops_read_more_cards_and_says_so(sample_project: Path,
                                                            tmp_path: Path):
    with sample_project.open("a") as f:
        f.write("\n[layout]\nmax_html_kb = 50\n")
    result = run(sample_project, "build", "--preview")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "outbox" / "preview" / "issue.json").read_text())
    dropped = manifest["dropped_cards"]
    assert 0 < dropped < 6
    assert f"dropped {dropped} Read More card(s)" in result.output
    assert len(manifest["sections"]["read_more"]) == 6 - dropped
    html = (tmp_path / "outbox" / "preview" / "email.html").read_bytes()
    assert manifest["html_bytes"] <= 50 * 1024
    assert b"Unsubscribe" in html and html.rstrip().endswith(b"</html>")


def test_a_missing_partial_says_where_it_looked(two_feeds: Path, tmp_path: Path):
    mine = tmp_path / "mytemplates"
    (mine / "blocks").mkdir(parents=True)
    (mine / "blocks" / "masthead.mjml.j2").write_text(
        '{% include "blocks/nope.mjml.j2" %}\n', "utf-8")
    text = two_feeds.read_text("utf-8").replace(
        "[editor]", '[layout]\ntemplates_dir = "mytemplates"\n\n[editor]', 1)
    two_feeds.write_text(text, "utf-8")
    result = run(two_feeds, "build", "--preview")
    assert result.exit_code == 2, result.output
    assert "template blocks/nope.mjml.j2 not found (included from" in result.output
    assert f"looked in: {mine}, {package_templates()}" in result.output
    assert "Traceback" not in result.output


def test_a_huge_title_gives_a_readable_subject_and_short_header_lines(
        feed_server: FeedServer, write_config, tmp_path: Path):
    word = "Breaking" + "x" * 5000  # no space to fold at
    body = rss(4, "Wire").replace(b"<title>Wire 0: exports grew 0.0% in the month</title>",
                                  f"<title>{word} {word}</title>".encode())
    feed_server.routes["/w.xml"] = Route(body)
    path = write_config([{"url": feed_server.url("/w.xml"), "name": "Wire"}])
    path.write_text(path.read_text("utf-8").replace(
        "[editor]\n", '[editor]\npin = ["https://news.example.com/wire/0"]\n', 1), "utf-8")
    result = run(path, "build")
    assert result.exit_code == 0, result.output
    folder = next((tmp_path / "outbox").iterdir())
    eml = (folder / "message.eml").read_bytes()
    head = eml.partition(b"\r\n\r\n")[0]
    assert max(len(line) for line in head.split(b"\r\n")) <= 998
    subject = email.message_from_bytes(eml, policy=policy.default)["Subject"]
    assert subject.startswith("The China Connection: Breakingxxx") and subject.endswith("…") and "[…]" not in subject
    assert len(subject) <= 80  # about what a phone shows

"""Issue folders belong to one newsletter and one state database; the outbox
remembers what was published even when the database does not."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from digest import pipeline
from digest.config.load import load_config
from digest.errors import CommitLost
from digest.models import Article
from digest.state.store import open_store
from tests.helpers import BASE_CONFIG, NOW_ENV, FeedServer, Route, config_with, rss, run
from tests.smtp_server import Recorder, SmtpServer


def newsletter(folder: Path, feed_url: str, *, name: str = "The China Connection",
               extra: str = "") -> Path:
    """A config in `folder` whose outbox is the shared ../outbox."""
    folder.mkdir(parents=True, exist_ok=True)
    base = BASE_CONFIG.replace('name = "The China Connection"', f'name = "{name}"', 1) \
        .replace("[delivery]\n", '[delivery]\noutbox_dir = "../outbox"\n', 1)
    return config_with(folder, [{"url": feed_url, "name": "Wire"}], extra, base=base)


def issue_json(outbox: Path, suffix: str) -> dict:
    folder = next(p for p in outbox.iterdir() if p.name.endswith(suffix))
    return json.loads((folder / "issue.json").read_text("utf-8"))


def placed_urls(manifest: dict) -> set[str]:
    return {s["url"] for k in ("big_story", "need_to_know", "read_more")
            for s in manifest["sections"][k]}


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer(Recorder()) as server:
        yield server


def test_another_newsletters_issue_is_neither_recovered_nor_sent(
        feed_server: FeedServer, tmp_path: Path, smtp: SmtpServer):
    feed_server.routes["/a.xml"] = Route(rss(8, "Alpha"))
    feed_server.routes["/b.xml"] = Route(rss(8, "Beta"))
    smtp_mode = (f'\n[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nsecurity = "none"\n')
    a = newsletter(tmp_path / "a", feed_server.url("/a.xml"), name="Alpha Letter")
    b = newsletter(tmp_path / "b", feed_server.url("/b.xml"), name="Beta Letter",
                   extra=smtp_mode)
    b.write_text(b.read_text("utf-8").replace('[delivery]\n', '[delivery]\nmode = "smtp"\n', 1)
                 .replace('recipients = ["editor@example.com"]',
                          'recipients = ["reader@example.org"]'), "utf-8")
    assert run(a, "build", env=NOW_ENV).exit_code == 0
    result = run(b, "build", "--send", env=NOW_ENV)
    assert result.exit_code == 0, result.output
    assert "recovered" not in result.output
    assert "issue #1 written" in result.output and "1 delivered" in result.output
    subjects = [m.content.split(b"\r\nSubject: ", 1)[1].split(b"\r\n", 1)[0]
                for m in smtp.handler.messages]
    assert len(subjects) == 1 and subjects[0].startswith(b"Beta Letter: Beta")
    # B's database knows only its own issue; A's folder is untouched
    store = open_store(tmp_path / "b" / ".digest" / "state.db")
    assert [(i.number, i.outbox_path.split("-")[-2]) for i in store.issues()] == [(1, "letter")]
    assert store.issues()[0].outbox_path.endswith("beta-letter-1")
    store.close()


def test_same_slug_and_a_shared_outbox_never_repeats_or_reuses_a_number(
        feed_server: FeedServer, tmp_path: Path):
    """Two databases, one slug, one outbox (or one database lost and started again):
    the second never adopts the first's folder, never repeats its stories and numbers
    its issues after it."""
    feed_server.routes["/w.xml"] = Route(rss(12, "Wire"))
    first = newsletter(tmp_path / "first", feed_server.url("/w.xml"))
    second = newsletter(tmp_path / "second", feed_server.url("/w.xml"))
    assert run(first, "build", env=NOW_ENV).exit_code == 0
    one = issue_json(tmp_path / "outbox", "-1")
    result = run(second, "build", env=NOW_ENV)
    assert result.exit_code == 0, result.output
    assert "recovered" not in result.output
    assert "nothing new" in result.output  # every story of the feed is in issue #1
    feed_server.routes["/w.xml"] = Route(rss(16, "Wire"))  # four new stories
    result = run(second, "build", env=NOW_ENV)
    assert result.exit_code == 0, result.output
    assert "issue #2 written" in result.output
    two = issue_json(tmp_path / "outbox", "-2")
    assert not placed_urls(one) & placed_urls(two)
    repeats = [d for d in two["decisions"] if d["section"] == "published_before"]
    assert len(repeats) == 12 and all(d["reason"] == "already in issue #1" for d in repeats)


def test_a_lost_database_does_not_republish_the_last_issue(feed_server: FeedServer,
                                                          write_config, tmp_path: Path):
    feed_server.routes["/w.xml"] = Route(rss(8, "Wire"))
    path = write_config([{"url": feed_server.url("/w.xml"), "name": "Wire"}])
    assert run(path, "build", env=NOW_ENV).exit_code == 0
    for f in (tmp_path / ".digest").glob("state.db*"):
        f.unlink()  # the database is gone (not its templates-cache/); the outbox is not
    feed_server.routes["/w.xml"] = Route(rss(11, "Wire"))  # three new stories
    result = run(path, "build", env=NOW_ENV)
    assert result.exit_code == 0, result.output
    assert "issue #2 written" in result.output and "recovered" not in result.output
    one, two = issue_json(tmp_path / "outbox", "-1"), issue_json(tmp_path / "outbox", "-2")
    assert placed_urls(two) == {f"https://news.example.com/wire/{i}" for i in (8, 9, 10)}
    assert not placed_urls(one) & placed_urls(two)


def test_a_database_deleted_during_the_build_is_not_reported_as_success(
        feed_server: FeedServer, write_config, tmp_path: Path):
    feed_server.routes["/w.xml"] = Route(rss(8, "Wire"))
    path = write_config([{"url": feed_server.url("/w.xml"), "name": "Wire"}])
    config = load_config(path)

    def delete_database(folder: Path) -> None:
        for f in (tmp_path / ".digest").iterdir():
            if f.name.startswith("state.db"):
                f.unlink()

    with pytest.raises(CommitLost, match=r"issue #1 was written, but the state database .* "
                                         r"did not keep it"):
        pipeline.build(config, after_write=delete_database)
    folder = next((tmp_path / "outbox").iterdir())
    assert (folder / "issue.json").is_file()  # the only record left: kept
    result = run(path, "build", env=NOW_ENV)  # a fresh database: nothing is repeated, no number reused
    assert result.exit_code == 0, result.output
    assert "nothing new" in result.output


def test_a_folder_from_another_database_is_not_sent(feed_server: FeedServer, write_config,
                                                   tmp_path: Path):
    feed_server.routes["/w.xml"] = Route(rss(8, "Wire"))
    path = write_config([{"url": feed_server.url("/w.xml"), "name": "Wire"}],
                        extra='[smtp]\nhost = "127.0.0.1"\nport = 9\nsecurity = "none"\n')
    assert run(path, "build", env=NOW_ENV).exit_code == 0
    folder = next((tmp_path / "outbox").iterdir())
    manifest = json.loads((folder / "issue.json").read_text("utf-8"))
    manifest["state_id"] = "0" * 32
    (folder / "issue.json").write_text(json.dumps(manifest), "utf-8")
    result = run(path, "send", "1", env=NOW_ENV)
    assert result.exit_code == 1, result.output
    assert "was made with another state database" in result.output
    assert "Traceback" not in result.output


def test_an_unrenderable_story_is_left_out_and_named(feed_server: FeedServer, write_config,
                                                     tmp_path: Path):
    """Whatever slips past parsing (here a raw control character put straight into the
    database) costs one story, not every build."""
    feed_server.routes["/w.xml"] = Route(rss(6, "Wire"))
    path = write_config([{"url": feed_server.url("/w.xml"), "name": "Wire"}])
    assert run(path, "collect", env=NOW_ENV).exit_code == 0
    store = open_store(tmp_path / ".digest" / "state.db")
    poison = Article(id="poison", feed_url=feed_server.url("/w.xml"), feed_name="Wire",
                     url="https://news.example.com/poison", title="Bell \x07 rings",
                     summary="A summary \x0b with \x1b controls.", body_html="",
                     published=datetime(2026, 11, 29, tzinfo=UTC))
    with store.transaction():
        store.add_articles([poison], datetime(2026, 11, 29, tzinfo=UTC))
    store.close()
    result = run(path, "build", "--no-collect", env=NOW_ENV)
    assert result.exit_code == 0, result.output
    assert "left out 'Bell \\x07 rings' from feed 'Wire' (https://news.example.com/poison): " \
        "unrenderable: " in result.output
    manifest = issue_json(tmp_path / "outbox", "-1")
    decision = next(d for d in manifest["decisions"] if d["article_id"] == "poison")
    assert decision["section"] == "unrenderable" and decision["reason"].startswith(
        "unrenderable: ")
    assert "https://news.example.com/poison" not in placed_urls(manifest)
    assert len(placed_urls(manifest)) == 6
    shutil.rmtree(tmp_path / "outbox" / "preview", ignore_errors=True)
    again = run(path, "build", "--no-collect", env=NOW_ENV)  # the story was used up, not retried
    assert again.exit_code == 0 and "nothing new" in again.output


def test_a_restored_backup_never_resends_an_issue_on_its_own(
        feed_server: FeedServer, write_config, tmp_path: Path, smtp: SmtpServer):
    """Send #1, back up, build and send #2, restore the backup: #2 comes back from the
    outbox as `recovered`, and neither `build --send` nor `send` mails it again."""
    feed_server.routes["/w.xml"] = Route(rss(6, "Wire"))
    path = write_config([{"url": feed_server.url("/w.xml"), "name": "Wire"}],
                        extra=f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\n'
                              'security = "none"\n')
    path.write_text(path.read_text("utf-8").replace("[delivery]\n",
                                                    '[delivery]\nmode = "smtp"\n', 1), "utf-8")
    db = tmp_path / ".digest" / "state.db"
    assert "1 delivered" in run(path, "build", "--send", env=NOW_ENV).output
    backup = tmp_path / "backup.db"
    shutil.copy(db, backup)
    feed_server.routes["/w.xml"] = Route(rss(12, "Wire"))
    assert "1 delivered" in run(path, "build", "--send", env=NOW_ENV).output
    assert len(smtp.handler.messages) == 2
    for suffix in ("-wal", "-shm"):
        (db.parent / (db.name + suffix)).unlink(missing_ok=True)
    shutil.copy(backup, db)  # the operator restores last week's backup

    result = run(path, "build", "--send", env=NOW_ENV)
    assert result.exit_code == 0, result.output
    assert "recovered issue #2" in result.output and "digest send 2" in result.output
    sent = run(path, "send", env=NOW_ENV)
    assert sent.exit_code == 0, sent.output
    assert len(smtp.handler.messages) == 2  # #2 was not mailed again
    assert "recovered" in run(path, "status", "2", env=NOW_ENV).output


def test_a_story_that_breaks_only_its_card_is_found_in_its_card(
        feed_server: FeedServer, write_config, tmp_path: Path):
    """The search for the story at fault tries each one in the block it was placed in:
    a failure only the Read More card shows is still one story, not the whole build."""
    from digest.render.email import package_templates

    mine = tmp_path / "mine" / "blocks"
    mine.mkdir(parents=True)
    card = (package_templates() / "blocks" / "read_more.mjml.j2").read_text("utf-8")
    assert "{{ card.title | clip(150) }}</a>" in card  # the line changed below
    (mine / "read_more.mjml.j2").write_text(
        card.replace("{{ card.title | clip(150) }}</a>", "{{ card.title|safe }}</a>"), "utf-8")
    # Dated 20 Nov, the sixth newest of 12: ranked into a Read More card.
    body = rss(12, "Wire").replace(b"<title>Wire 4: exports grew 4.4% in the month</title>",
                                   b"<title>Theta &amp;lt;!-- eight</title>")
    feed_server.routes["/w.xml"] = Route(body)
    path = write_config([{"url": feed_server.url("/w.xml"), "name": "Wire"}],
                        extra='[layout]\ntemplates_dir = "mine"\n')
    result = run(path, "build", env=NOW_ENV)
    assert result.exit_code == 0, result.output
    assert "left out 'Theta <!-- eight' from feed 'Wire'" in result.output
    manifest = issue_json(tmp_path / "outbox", "-1")
    assert len(manifest["sections"]["read_more"]) == 6


def test_a_budget_that_leaves_no_story_builds_no_issue(feed_server: FeedServer,
                                                      write_config, tmp_path: Path):
    feed_server.routes["/w.xml"] = Route(rss(20, "Wire"))
    path = write_config([{"url": feed_server.url("/w.xml"), "name": "Wire"}],
                        extra='[layout]\nblocks = ["masthead", "read_more", "footer"]\n'
                              "max_html_kb = 10\n")
    result = run(path, "build", env=NOW_ENV)
    assert result.exit_code == 0, result.output
    assert "nothing new: no story fits in [layout] max_html_kb = 10" in result.output
    assert not (tmp_path / "outbox").exists() or not any((tmp_path / "outbox").iterdir())
    again = run(path, "build", "--preview", env=NOW_ENV)  # nothing was used up
    assert "no story fits" in again.output

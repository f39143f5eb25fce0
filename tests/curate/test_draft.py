"""The editor's loop (issue 11, item 2): `digest draft`, edit, `digest build --draft
--preview` as often as wanted, then `digest build --draft`: exactly the edited issue."""

from __future__ import annotations

import email
import json
import tomllib
from email import policy
from pathlib import Path

import lxml.html

from tests.helpers import ENGLISH_ITEMS, NOW_UTC_ENV, config_with, feed, run
from tests.smtp_server import Recorder, SmtpServer


def project(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "feed.xml").write_text(feed(ENGLISH_ITEMS), "utf-8")
    return config_with(tmp_path, [{"url": "feed.xml", "name": "Wire"}], extra)


def edit(path: Path) -> dict:
    """Swap the big story with the last Need-to-know item, retitle it, move the first
    card to the end of Read More, add a note and a subject."""
    data = tomllib.loads(path.read_text("utf-8"))
    text = path.read_text("utf-8")
    big, need, cards = data["big_story"], data["need_to_know"], data["read_more"]
    new_big = dict(need[-1], title="An editor's headline")
    need = need[:-1] + big
    cards = cards[1:] + cards[:1]

    def entries(block: str, rows: list[dict]) -> str:
        return "".join(f"\n[[{block}]]\nurl = {json.dumps(r['url'])}\n"
                       f"title = {json.dumps(r['title'])}\nsummary = {json.dumps(r['summary'])}\n"
                       for r in rows)

    made = next(line for line in text.splitlines() if line.startswith("made = "))
    path.write_text(
        f'{made}\nsubject = "A subject of our own"\n'
        'note = """\nA note for *this* week.\n\nSee [our desk](https://example.com/desk)."""\n'
        + entries("big_story", [new_big]) + entries("need_to_know", need)
        + entries("read_more", cards), "utf-8")
    return {"big": new_big["url"], "need": [r["url"] for r in need],
            "cards": [r["url"] for r in cards]}


def test_draft_edit_preview_build_gives_exactly_the_edited_issue(tmp_path: Path) -> None:
    config = project(tmp_path)
    made = run(config, "draft", env=NOW_UTC_ENV)
    assert made.exit_code == 0, made.output
    draft = tmp_path / "drafts" / "next.toml"
    text = draft.read_text("utf-8")
    assert "[[big_story]]" in text and "# [[read_more]]" in text  # candidates, commented
    expected = edit(draft)

    for _ in range(2):  # preview as often as wanted, nothing changes
        shown = run(config, "build", "--draft", str(draft), "--preview", env=NOW_UTC_ENV)
        assert shown.exit_code == 0, shown.output
    html = (tmp_path / "outbox" / "preview" / "email.html").read_text("utf-8")
    doc = lxml.html.fromstring(html)
    assert doc.xpath("//h3")[0].text_content() == "An editor's headline"
    assert "A note for <em>this</em> week." in html
    assert 'href="https://example.com/desk"' in html

    built = run(config, "build", "--draft", str(draft), "--no-collect", env=NOW_UTC_ENV)
    assert built.exit_code == 0, built.output
    (folder,) = (tmp_path / "outbox").glob("*-1")
    manifest = json.loads((folder / "issue.json").read_text("utf-8"))
    assert manifest["number"] == 1  # the previews took no number
    sections = manifest["sections"]
    assert [s["url"] for s in sections["big_story"]] == [expected["big"]]
    assert [s["url"] for s in sections["need_to_know"]] == expected["need"]
    assert [s["url"] for s in sections["read_more"]] == expected["cards"]
    message = email.message_from_bytes((folder / "message.eml").read_bytes(),
                                       policy=policy.default)
    assert str(message["Subject"]) == "A subject of our own"
    # Everything new when the draft was made was considered, and is used up.
    decided = {d["section"] for d in manifest["decisions"]}
    assert decided == {"big_story", "need_to_know", "read_more", "passed_over"}
    assert len(manifest["decisions"]) == len(ENGLISH_ITEMS)
    again = run(config, "build", "--no-collect", env=NOW_UTC_ENV)
    assert again.exit_code == 0 and "nothing new" in again.output


def test_a_draft_naming_an_unknown_or_used_story_is_refused(tmp_path: Path) -> None:
    config = project(tmp_path)
    assert run(config, "draft", env=NOW_UTC_ENV).exit_code == 0
    draft = tmp_path / "drafts" / "next.toml"
    original = draft.read_text("utf-8")
    draft.write_text(original.replace("https://news.example.com/0",
                                      "https://news.example.com/nowhere", 1), "utf-8")
    bad = run(config, "build", "--draft", str(draft), "--preview", env=NOW_UTC_ENV)
    assert bad.exit_code == 2
    assert "https://news.example.com/nowhere is not a new article" in " ".join(bad.output.split())

    draft.write_text(original, "utf-8")
    assert run(config, "build", "--draft", str(draft), env=NOW_UTC_ENV).exit_code == 0
    used = run(config, "build", "--draft", str(draft), "--preview", env=NOW_UTC_ENV)
    assert used.exit_code == 2
    assert "is already in issue #1" in " ".join(used.output.split())


def test_a_draft_note_with_a_script_link_is_refused(tmp_path: Path) -> None:
    config = project(tmp_path)
    assert run(config, "draft", env=NOW_UTC_ENV).exit_code == 0
    draft = tmp_path / "drafts" / "next.toml"
    draft.write_text(draft.read_text("utf-8").replace(
        'note = """\n"""', 'note = "[click](javascript:alert(1))"'), "utf-8")
    bad = run(config, "build", "--draft", str(draft), "--preview", env=NOW_UTC_ENV)
    assert bad.exit_code == 2
    assert "note links to 'javascript:alert(1'" in " ".join(bad.output.split())


def test_a_draft_preview_goes_to_a_test_address(tmp_path: Path) -> None:
    recorder = Recorder()
    with SmtpServer(recorder) as smtp:
        config = project(tmp_path, f'\n[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\n'
                                   'security = "none"\n')
        assert run(config, "draft", env=NOW_UTC_ENV).exit_code == 0
        draft = tmp_path / "drafts" / "next.toml"
        result = run(config, "build", "--draft", str(draft), "--preview", "--test",
                     "me@example.com", env=NOW_UTC_ENV)
        assert result.exit_code == 0, result.output
    assert [m.rcpt_tos for m in recorder.messages] == [["me@example.com"]]
    message = email.message_from_bytes(recorder.messages[0].content, policy=policy.default)
    assert str(message["Subject"]).startswith("[TEST] ")


def test_draft_titles_and_subjects_are_cleaned_or_refused(tmp_path: Path) -> None:
    config = project(tmp_path)
    assert run(config, "draft", env=NOW_UTC_ENV).exit_code == 0
    draft = tmp_path / "drafts" / "next.toml"
    original = draft.read_text("utf-8")
    draft.write_text(original.replace('subject = ""', 'subject = "Hello\\u2028Bcc: x"'),
                     "utf-8")
    refused = run(config, "build", "--draft", str(draft), "--preview", env=NOW_UTC_ENV)
    assert refused.exit_code == 2 and "subject must be one line" in refused.output
    draft.write_text(original.replace('subject = ""', 'subject = "exe\\u202etxt.scr"'),
                     "utf-8")
    assert run(config, "build", "--draft", str(draft), "--preview", env=NOW_UTC_ENV).exit_code == 2
    data = tomllib.loads(original)
    first = data["big_story"][0]["title"]
    draft.write_text(original.replace(json.dumps(first), json.dumps(
        "Short\r\nBcc: victim@example.org\x1b\u202e"), 1), "utf-8")
    built = run(config, "build", "--draft", str(draft), "--preview", env=NOW_UTC_ENV)
    assert built.exit_code == 0, built.output
    html = (tmp_path / "outbox" / "preview" / "email.html").read_text("utf-8")
    assert "Short Bcc: victim@example.org" in html and "\u202e" not in html

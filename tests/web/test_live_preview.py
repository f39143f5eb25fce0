"""The live preview's renderer (digest.web.live): a save of the config, the draft or a
template renders the issue again; an error keeps the last good render and names the
key or the template line; nothing is written to the state database or the outbox.

Each test runs a real LivePreview (its watcher thread looking at real files) on a
newsletter folder made by `digest init` (the sample config and feeds)."""

from __future__ import annotations

import hashlib
import re
import socket
import threading
from pathlib import Path

import httpx
import pytest

from digest.render.bundled import package_templates
from digest.web.live import LivePreview, Status, forced_dark
from digest.web.live_app import preview_app
from tests.helpers import error_line, run, wait_for

ENV = {"DIGEST_NOW": "2026-11-30T08:00:00+00:00", "DIGEST_SECRET": None,
       "DIGEST_CONFIG": None}
SAVED = 10.0  # seconds a test waits for a save to show (it takes well under one)


@pytest.fixture
def newsletter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`digest init` folder with its articles collected (a state database to guard)."""
    for name, value in ENV.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    folder = tmp_path / "news"
    assert run(None, "init", str(folder), env=ENV).exit_code == 0
    assert run(folder / "config.toml", "collect", env=ENV).exit_code == 0
    return folder


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), "utf-8")


def next_status(live: LivePreview, after: Status, what: str) -> Status:
    """The first status after `after` that is not a "fetching" one."""
    status = after
    while True:
        status = live.wait(status.version, SAVED)
        assert status.version > after.version, f"no new status after {what}"
        if not status.busy:
            return status


def tree_hash(folder: Path, prefix: str = "") -> str:
    """Every file under `folder` whose name starts with `prefix` (names and bytes), for
    "nothing was written". Not SQLite's -shm index nor an empty -wal, which a read-only
    connection to a WAL database makes: the data is the database and its WAL's
    content."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob(f"{prefix}*") if p.is_file()
                       and not p.name.endswith("-shm")
                       and not (p.name.endswith("-wal") and p.stat().st_size == 0)):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture
def live(newsletter: Path):
    preview = LivePreview(newsletter / "config.toml", poll=0.05)
    preview.start()
    yield preview
    preview.stop()


def test_a_saved_config_renders_again_from_the_candidates_collected_once(newsletter, live):
    first = live.status
    assert first.render is not None and first.error is None, first.error
    assert "My Newsletter" in first.render.html
    assert "fetched at" in first.collected

    edit(newsletter / "config.toml", 'name = "My Newsletter"', 'name = "The Harbour Letter"')
    after = next_status(live, first, "saving config.toml")

    assert after.error is None, after.error
    assert after.render is not None and after.render.id > first.render.id
    assert "The Harbour Letter" in after.render.html
    assert "My Newsletter" not in after.render.html
    assert after.collected == first.collected  # re-rendered, not fetched again


def test_a_config_error_names_the_key_and_the_last_good_render_stays(newsletter, live):
    good = live.status
    assert good.render is not None
    config = newsletter / "config.toml"

    edit(config, "[layout]", '[layout]\nbig_story = "one"')
    broken = next_status(live, good, "breaking [layout] big_story")

    assert broken.error is not None and "[layout] big_story" in broken.error
    assert broken.render == good.render  # still shown

    edit(config, 'big_story = "one"', "big_story = 1")
    fixed = next_status(live, broken, "fixing [layout] big_story")
    assert fixed.error is None
    assert fixed.render is not None and fixed.render.id > good.render.id


def test_a_template_error_names_the_file_and_line_and_a_fix_renders(newsletter, live):
    good = live.status
    assert good.render is not None
    templates = newsletter / "templates"
    templates.mkdir()
    edit(newsletter / "config.toml", "[layout]", '[layout]\ntemplates_dir = "templates"')
    with_dir = next_status(live, good, "setting templates_dir")
    assert with_dir.error is None, with_dir.error

    # The bundled masthead, copied and broken on its third line.
    partial = package_templates() / "blocks" / "masthead.mjml.j2"
    lines = partial.read_text("utf-8").splitlines(keepends=True)
    (templates / "blocks").mkdir()
    mine = templates / "blocks" / partial.name
    mine.write_text("".join(lines[:2] + ["{% if %}\n"] + lines[2:]), "utf-8")
    broken = next_status(live, with_dir, "breaking a template")

    assert broken.error is not None
    assert f"blocks/{partial.name}" in broken.error and "line 3" in broken.error, broken.error
    assert broken.render == with_dir.render

    fixed_text = "".join(lines).replace("{{ newsletter.name }}</h1>",
                                        "{{ newsletter.name }} (edited)</h1>")
    assert "(edited)" in fixed_text
    mine.write_text(fixed_text, "utf-8")
    fixed = next_status(live, broken, "fixing the template")
    assert fixed.error is None, fixed.error
    assert fixed.render is not None and fixed.render.id > good.render.id
    assert "My Newsletter (edited)" in fixed.render.html  # compiled again, not cached


def test_a_saved_draft_renders_again(newsletter):
    draft = newsletter / "drafts" / "next.toml"
    assert run(newsletter / "config.toml", "draft", "--no-collect", env=ENV).exit_code == 0
    assert draft.is_file()
    preview = LivePreview(newsletter / "config.toml", draft=draft, poll=0.05)
    preview.start()
    try:
        first = preview.status
        assert first.render is not None, first.error
        text = draft.read_text("utf-8")
        start = text.index('title = "', text.index("[[big_story]]"))
        end = text.index("\n", start)
        draft.write_text(text[:start] + 'title = "Harbour cranes idle as the desk rewrites"'
                         + text[end:], "utf-8")
        after = next_status(preview, first, "saving the draft")
        assert after.error is None, after.error
        assert after.render is not None
        assert "Harbour cranes idle as the desk rewrites" in after.render.html
    finally:
        preview.stop()


def test_the_preview_writes_neither_the_state_database_nor_the_outbox(newsletter):
    # The state database (a fetch cache beside it is no state: not checked here).
    state_before = tree_hash(newsletter / ".digest", "state.db")
    outbox_before = tree_hash(newsletter / "outbox")
    assert (newsletter / ".digest" / "state.db").is_file()
    preview = LivePreview(newsletter / "config.toml", poll=0.05)
    preview.start()
    try:
        status = preview.status
        for name in ("First", "Second", "Third"):
            edit(newsletter / "config.toml", "[newsletter]\n", f"[newsletter]\n# {name}\n")
            status = next_status(preview, status, "a save")
            assert status.error is None, status.error
        preview.refresh()  # the feeds fetched again: still nothing kept
        status = next_status(preview, status, "fetching again")
        assert status.error is None, status.error
    finally:
        preview.stop()
    assert tree_hash(newsletter / ".digest", "state.db") == state_before
    assert tree_hash(newsletter / "outbox") == outbox_before
    assert not (newsletter / "outbox" / "preview").exists()


def test_the_dark_view_forces_the_issues_own_dark_rules_on():
    page = ('<html><head><style>@media (prefers-color-scheme: dark) { .a { color: #fff } }'
            '@media (prefers-color-scheme:light){ .b { color: #000 } }</style></head>'
            "<body><p>(prefers-color-scheme: dark) in a story stays as it is</p></body></html>")

    dark = forced_dark(page)

    assert "@media (min-width: 0px) { .a { color: #fff } }" in dark
    assert "@media (max-width: 0px){ .b" in dark
    assert "<p>(prefers-color-scheme: dark) in a story stays as it is</p>" in dark
    assert "color-scheme: dark !important" in dark.split("</head>")[0]


def test_without_serve_it_says_what_to_give(newsletter):
    result = run(newsletter / "config.toml", "preview", env=ENV)

    assert result.exit_code == 2
    assert "give --serve" in result.output and "digest build --preview" in result.output


def test_a_port_in_use_is_one_line_naming_it(newsletter):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(newsletter / "config.toml", "preview", "--serve", "--port", str(port),
                     env=ENV)

    assert result.exit_code == 1
    assert error_line(result) == (f"error: cannot listen on 127.0.0.1:{port}: Address already "
                                  "in use; give another --port (or stop what uses it)")


def test_the_page_serves_the_pictures_made_for_the_issue(newsletter):
    """With assets_url the pictures are made for the issue (images/ beside email.html in
    a preview): the app serves them from the render, and only them."""
    import uvicorn

    edit(newsletter / "config.toml", "[newsletter]\n",
         '[newsletter]\nassets_url = "https://example.com/assets"\n')
    preview = LivePreview(newsletter / "config.toml", poll=0.05)
    preview.start()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        base = f"http://127.0.0.1:{port}"
        server = uvicorn.Server(uvicorn.Config(
            preview_app(preview, hosts={f"127.0.0.1:{port}"}), log_level="warning",
            lifespan="off"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]},
                                  daemon=True)
        thread.start()
        try:
            assert wait_for(lambda: server.started)
            render = preview.status.render
            assert render is not None and render.images, preview.status.error
            page = httpx.get(f"{base}/issue/{render.id}/email.html").text
            names = re.findall(r'src="images/([^"]+)"', page)
            assert names and set(names) <= set(render.images)
            picture = httpx.get(f"{base}/issue/{render.id}/images/{names[0]}")
            assert picture.status_code == 200
            assert picture.headers["content-type"] == "image/jpeg"
            assert picture.content == render.images[names[0]]
            assert httpx.get(f"{base}/issue/{render.id}/images/other.jpg").status_code == 404
            assert httpx.get(f"{base}/issue/{render.id + 1}/email.html").status_code == 404
        finally:
            server.should_exit = True
            thread.join(15)
            preview.stop()

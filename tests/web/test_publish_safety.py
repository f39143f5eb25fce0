"""`digest publish` under attack (issue 22, items 4, 10, 11 and 12): --out has the same
safety rules as [web] site_dir; nothing is read through a link or from a special file;
only http(s) and relative URLs are links; control and bidi characters never reach the
archive; a full disk, a FIFO or a damaged issue.json give one line, not a traceback;
the site is swapped atomically, a killed publish's leftovers are removed, and two
folders with one issue number stop the publish."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import lxml.html

from digest.config import load_config
from digest.web import publish
from tests.helpers import ROOT, config_with, error_line, feed, item, on_day, run

SLUG_GLOB = "*-the-china-connection-*"


def project(tmp_path: Path, issues: int = 1) -> Path:
    """A newsletter with `issues` issues built (days 20, 25, ...)."""
    config = config_with(tmp_path, [{"url": "feed.xml", "name": "Wire"}])
    for n in range(issues):
        stories = [item(i, f"Story {i} about ports and markets this week",
                        "A summary that says a little more about the story. " * 3,
                        "<p>Body of the story, long enough to be a paragraph.</p>", "Trade")
                   for i in range(n * 20, n * 20 + 12)]
        (tmp_path / "feed.xml").write_text(feed(stories), "utf-8")
        run(config, "build", now=on_day(20 + 5 * n), expect=0)
    return config


def folder_of(tmp_path: Path, number: int) -> Path:
    return next((tmp_path / "outbox").glob(f"{SLUG_GLOB[:-1]}{number}"))


def edit_manifest(folder: Path, change) -> None:
    data = json.loads((folder / "issue.json").read_text("utf-8"))
    change(data)
    (folder / "issue.json").write_text(json.dumps(data), "utf-8")


def cli(config: Path, *args: str, limit: int | None = None, default_xfsz: bool = False,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real CLI in a process of its own: with `limit`, files it writes may not grow
    past that many bytes (RLIMIT_FSIZE: a full disk); `default_xfsz` lets the kernel kill
    it (SIGXFSZ) at the first write past it, as a kill -9 mid-publish would."""
    def limited() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    code = ("import runpy, signal, sys\n"
            + ("signal.signal(signal.SIGXFSZ, signal.SIG_DFL)\n" if default_xfsz else "")
            + "sys.argv = ['digest', *sys.argv[1:]]\n"
            "runpy.run_module('digest', run_name='__main__')\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1",
           "DIGEST_NOW": on_day(30)}
    return subprocess.run([sys.executable, "-c", code, "--config", str(config), *args],
                          capture_output=True, text=True, env=env, timeout=timeout,
                          preexec_fn=limited, check=False)


# -- item 4: --out is checked as [web] site_dir is ------------------------------------

def test_publish_out_never_replaces_the_outbox(tmp_path: Path) -> None:
    # An empty outbox first (the red team's first run made it "a site"), then one
    # holding an unsent issue: neither is ever swapped away.
    config = config_with(tmp_path, [{"url": "feed.xml", "name": "Wire"}])
    (tmp_path / "outbox").mkdir()
    first = run(config, "publish", "--out", str(tmp_path / "outbox"))
    assert first.exit_code == 1
    assert "would replace the outbox" in error_line(first)
    assert not (tmp_path / "outbox" / ".digest-site").exists()
    project(tmp_path)
    unsent = folder_of(tmp_path, 1)
    again = run(config, "publish", "--out", str(tmp_path / "outbox"))
    assert again.exit_code == 1 and "would replace the outbox" in error_line(again)
    assert (unsent / "message.eml").is_file()


def test_publish_out_never_replaces_the_state_the_project_or_a_parent(tmp_path: Path) -> None:
    project_dir = tmp_path / "news"
    project_dir.mkdir()
    config = project(project_dir)
    for out, what in ((project_dir / ".digest", "the state folder"),
                      (project_dir, "the config's folder"),
                      (tmp_path, "the config's folder"),
                      (project_dir / "outbox" / "..", "the config's folder")):
        result = run(config, "publish", "--out", str(out))
        assert result.exit_code == 1, out
        assert f"would replace {what}" in error_line(result), out
    assert (project_dir / ".digest" / "state.db").is_file()
    assert (folder_of(project_dir, 1) / "issue.json").is_file()
    # An empty folder of its own, and a site digest wrote, are fine.
    (tmp_path / "www").mkdir()
    run(config, "publish", "--out", str(tmp_path / "www"), expect=0)
    run(config, "publish", "--out", str(tmp_path / "www"), expect=0)
    assert (tmp_path / "www" / "issues" / "1" / "index.html").is_file()


# -- item 10: no link followed, no script link, no control or bidi character ----------

def test_nothing_is_read_through_a_symbolic_link(tmp_path: Path) -> None:
    config = project(tmp_path, issues=2)
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:SECRET-PASSWD-LINE", "utf-8")
    one, two = folder_of(tmp_path, 1), folder_of(tmp_path, 2)
    (one / "web.html").unlink()
    (one / "web.html").symlink_to(secret)
    (two / "images").mkdir(exist_ok=True)
    (two / "images" / "abc.jpg").symlink_to(secret)
    linked = tmp_path / "outbox" / "2026-11-29-the-china-connection-3"
    linked.symlink_to(two, target_is_directory=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(secret, elsewhere / "def.jpg")
    if (one / "images").exists():
        shutil.rmtree(one / "images")
    (one / "images").symlink_to(elsewhere, target_is_directory=True)
    result = run(config, "publish", expect=0)
    site = tmp_path / "site"
    for path in site.rglob("*"):
        if path.is_file():
            assert b"SECRET-PASSWD-LINE" not in path.read_bytes(), path
    assert not (site / "issues" / "2" / "images" / "abc.jpg").exists()
    assert not (site / "issues" / "3").exists()
    output = " ".join(result.output.split())
    assert "web.html: a symbolic link (never followed)" in output
    assert "images/abc.jpg left out of the site: a symbolic link" in output
    assert "2026-11-29-the-china-connection-3 is a symbolic link" in output
    assert "issue #1: images/images left out of the site: a symbolic link" in output
    assert not (site / "issues" / "1" / "images").exists()
    # Issue 1 still has its page: its headlines, from issue.json.
    assert "Story" in (site / "issues" / "1" / "index.html").read_text("utf-8")


def links(html: str) -> list[str]:
    doc = lxml.html.document_fromstring(html)
    return [value for el in doc.iter() if isinstance(el.tag, str)
            for attr, value in el.attrib.items() if attr in ("href", "src", "action")]


def test_only_http_and_relative_urls_become_links(tmp_path: Path) -> None:
    config = project(tmp_path, issues=2)
    one, two = folder_of(tmp_path, 1), folder_of(tmp_path, 2)
    (one / "web.html").unlink()  # its page is made from issue.json

    def hostile(data: dict) -> None:
        data["sections"]["need_to_know"][0]["url"] = "javascript:alert(document.cookie)"
        data["sections"]["need_to_know"][1]["url"] = " JaVa\tScRipt:alert(1)"
        data["sections"]["read_more"][0]["url"] = "data:text/html,<script>alert(1)</script>"

    edit_manifest(one, hostile)
    page = (two / "web.html").read_text("utf-8").replace(
        "</main>", '<p><a href="javascript:alert(1)">x</a><a href="vbscript:x">y</a>'
        '<img src="x.jpg" onerror="alert(1)"><script>alert(2)</script>'
        '<iframe src="https://evil.example/"></iframe></p></main>')
    (two / "web.html").write_text(page, "utf-8")
    run(config, "publish", expect=0)
    site = tmp_path / "site"
    for number in (1, 2):
        html = (site / "issues" / str(number) / "index.html").read_text("utf-8")
        urls = links(html)
        assert urls, number
        for url in urls:
            bare = "".join(url.split()).lower()
            assert bare.startswith(("http://", "https://")) or ":" not in bare.split("/")[0], url
        assert "<script" not in html and "onerror" not in html and "<iframe" not in html
    # The story without a safe link is still listed, as text.
    assert "Story" in (site / "issues" / "1" / "index.html").read_text("utf-8")
    feed_xml = (site / "feed.xml").read_text("utf-8")
    assert "javascript:" not in feed_xml.lower() and "&lt;script" not in feed_xml


CONTROL_AND_BIDI = "\x07\x1b\u202e\u2066\x85"


def test_control_and_bidi_characters_never_reach_the_archive(tmp_path: Path) -> None:
    config = project(tmp_path, issues=2)
    one, two = folder_of(tmp_path, 1), folder_of(tmp_path, 2)
    (one / "web.html").unlink()
    for folder in (one, two):
        edit_manifest(folder, lambda d: d.update(subject="Bell\x07 and \u202eexe.txt"))
    page = (two / "web.html").read_text("utf-8")
    page = page.replace("<title>", "<title>\x07\u202e", 1).replace("<main>", "<main>\x1b", 1)
    (two / "web.html").write_text(page, "utf-8")
    run(config, "publish", expect=0)
    site = tmp_path / "site"
    written = [p for p in site.rglob("*") if p.is_file() and p.suffix in (".html", ".xml")]
    assert len(written) >= 4
    for path in written:
        text = path.read_text("utf-8")
        assert not any(c in text for c in CONTROL_AND_BIDI), path
    title = lxml.html.document_fromstring(
        (site / "issues" / "1" / "index.html").read_text("utf-8")).findtext(".//title")
    assert title == "Bell and exe.txt"


# -- item 11: one line, never a traceback or a stall ------------------------------------

def test_a_fifo_in_an_issue_folder_is_never_opened(tmp_path: Path) -> None:
    config = project(tmp_path, issues=2)
    images = folder_of(tmp_path, 1) / "images"
    images.mkdir(exist_ok=True)
    os.mkfifo(images / "abc.jpg")
    (folder_of(tmp_path, 1) / "web.html").unlink()
    os.mkfifo(folder_of(tmp_path, 1) / "web.html")
    (folder_of(tmp_path, 2) / "issue.json").unlink()
    os.mkfifo(folder_of(tmp_path, 2) / "issue.json")
    # Were the FIFO opened, the publish would wait for a writer forever (the timeout
    # is a guard for the old code, not a measure).
    done = cli(config, "publish", timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    notes = " ".join(done.stderr.split())
    assert "images/abc.jpg left out of the site: a FIFO" in notes
    assert "web.html: a FIFO, not a file" in notes
    assert "issue.json: a FIFO, not a file" in notes
    assert "1 issue(s) published" in done.stdout
    assert not (tmp_path / "site" / "issues" / "1" / "images" / "abc.jpg").exists()


def test_a_lone_surrogate_in_one_issue_json_skips_that_issue_only(tmp_path: Path) -> None:
    config = project(tmp_path, issues=2)
    one = folder_of(tmp_path, 1)
    text = (one / "issue.json").read_text("utf-8")
    data = json.loads(text)
    (one / "issue.json").write_text(text.replace(json.dumps(data["subject"])[1:-1],
                                                 "Broken \\ud800 subject", 1), "utf-8")
    result = run(config, "publish", expect=0)
    output = " ".join(result.output.split())
    assert f"{one.name} left out of the site" in output and "lone surrogate" in output
    assert "1 issue(s) published" in output
    assert (tmp_path / "site" / "issues" / "2" / "index.html").is_file()
    assert not (tmp_path / "site" / "issues" / "1").exists()


def test_a_full_disk_names_the_folder_and_keeps_the_site(tmp_path: Path) -> None:
    config = project(tmp_path)
    run(config, "publish", expect=0)
    site = tmp_path / "site"
    before = {p.relative_to(site): p.read_bytes() for p in site.rglob("*") if p.is_file()}
    # No file may grow past 4 KB: an issue page is far larger. SIGXFSZ is ignored (as
    # Python does), so the write fails with EFBIG, as on a full disk.
    done = cli(config, "publish", limit=4096)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, done.stderr
    assert f"cannot write the site in {tmp_path / '.site.builds'}" in lines[0]
    assert "free space on that disk" in lines[0] and "still holds the site" in lines[0]
    after = {p.relative_to(site): p.read_bytes() for p in site.rglob("*") if p.is_file()}
    assert after == before
    builds = tmp_path / ".site.builds"
    assert {p.name for p in builds.iterdir()} == {"lock", os.readlink(site).split("/")[1]}


# -- item 12: an atomic swap, no leftovers, no silent choice ---------------------------

READER_LOOP = """
import os, sys
index, stop = sys.argv[1], sys.argv[2]
reads = missing = partial = 0
print("ready", flush=True)
while not os.path.exists(stop):
    for _ in range(200):
        try:
            with open(index, "rb") as f:
                if not f.read().rstrip().endswith(b"</html>"):
                    partial += 1
            reads += 1
        except FileNotFoundError:
            missing += 1
print(reads, missing, partial)
"""


def test_a_reader_always_finds_index_html_during_publishes(tmp_path: Path) -> None:
    config = load_config(project(tmp_path, issues=2))
    publish(config)
    stop = tmp_path / "stop"
    # The reader is a process of its own, reading as fast as it can: as a web server would.
    reader = subprocess.Popen([sys.executable, "-c", READER_LOOP,
                               str(tmp_path / "site" / "index.html"), str(stop)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout is not None and reader.stdout.readline() == "ready\n"
        for _ in range(20):
            publish(config)
    finally:
        stop.touch()
        out, _ = reader.communicate(timeout=60)
    reads, missing, partial = map(int, out.split())
    assert (missing, partial) == (0, 0), f"{reads} reads"
    assert reads > 0


def test_a_killed_publish_leaves_nothing_the_next_one_keeps(tmp_path: Path) -> None:
    config = project(tmp_path)
    run(config, "check", expect=0)  # templates compiled into .digest/templates-cache/
    killed = cli(config, "publish", limit=4096, default_xfsz=True)
    assert killed.returncode == -signal.SIGXFSZ, (killed.stdout, killed.stderr)
    left = [p for p in tmp_path.rglob(".site.*") if p.is_dir()]
    leftovers = [p for p in left for q in p.rglob("*")] or left
    assert leftovers  # the killed publish did leave a half-built folder
    run(config, "publish", expect=0)
    site = tmp_path / "site"
    assert (site / "issues" / "1" / "index.html").is_file()
    beside = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".site"))
    assert beside == [".site.builds"]
    build = os.readlink(site)
    assert {p.name for p in (tmp_path / ".site.builds").iterdir()} == {
        "lock", build.split("/")[1]}


def test_a_site_an_older_digest_wrote_is_moved_into_place_once(tmp_path: Path) -> None:
    config = project(tmp_path)
    site = tmp_path / "site"
    (site / "issues" / "9").mkdir(parents=True)
    (site / ".digest-site").write_text("a web archive written by digest publish\n", "utf-8")
    (site / "issues" / "9" / "index.html").write_text("old", "utf-8")
    old_temp = tmp_path / ".site.k2j4h5g6"  # digest 0.1's temp folder of a killed publish
    old_temp.mkdir()
    (old_temp / ".digest-site").write_text("x", "utf-8")
    run(config, "publish", expect=0)
    assert site.is_symlink() and (site / "issues" / "1" / "index.html").is_file()
    assert not (site / "issues" / "9").exists() and not old_temp.exists()
    run(config, "publish", expect=0)
    assert site.is_symlink() and (site / "issues" / "1" / "index.html").is_file()


def test_a_link_digest_did_not_make_is_never_replaced(tmp_path: Path) -> None:
    config = project(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "site").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    result = run(config, "publish")
    assert result.exit_code == 1
    assert "is a symbolic link digest did not make" in error_line(result)
    assert os.readlink(tmp_path / "site") == str(tmp_path / "elsewhere")


def test_two_folders_with_one_number_stop_the_publish(tmp_path: Path) -> None:
    config = project(tmp_path, issues=2)
    run(config, "publish", expect=0)
    one = folder_of(tmp_path, 1)
    copy = one.with_name(one.name.replace("2026-11-20", "2026-11-21"))
    shutil.copytree(one, copy)
    result = run(config, "publish")
    assert result.exit_code == 1
    line = error_line(result)
    assert "issue #1 is in 2 folders" in line and one.name in line and copy.name in line
    assert (tmp_path / "site" / "issues" / "2" / "index.html").is_file()  # left as it was


def test_a_new_folder_deep_down_is_made_and_a_dangling_link_of_ours_replaced(
        tmp_path: Path) -> None:
    config = project(tmp_path)
    out = tmp_path / "www" / "news" / "site"
    run(config, "publish", "--out", str(out), expect=0)
    shutil.rmtree(out.with_name(".site.builds"))  # someone cleaned up by hand
    assert out.is_symlink() and not out.exists()
    run(config, "publish", "--out", str(out), expect=0)
    assert (out / "issues" / "1" / "index.html").is_file()

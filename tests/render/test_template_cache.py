"""Templates are compiled once into a bytecode cache beside the state database (issue 19
item 2): the next build loads them, an edited template compiles again, and a cache that
cannot be written is skipped."""

from __future__ import annotations

import os
from pathlib import Path

import jinja2
import pytest

from digest.config.load import load_config
from digest.render.email import load_templates
from tests.helpers import ENGLISH_ITEMS, NOW_UTC_ENV, config_with, feed, run

INTRO = """<mj-section><mj-column><mj-text>{word} intro</mj-text></mj-column></mj-section>
"""


def _project(tmp_path: Path, *, built: bool = True) -> Path:
    """A project with its own intro partial; `built`: it has a state folder, as after
    its first build (the cache lives in it and never makes it)."""
    if built:
        (tmp_path / ".digest").mkdir()
    (tmp_path / "feed.xml").write_text(feed(ENGLISH_ITEMS), "utf-8")
    (tmp_path / "mine" / "blocks").mkdir(parents=True)
    (tmp_path / "mine" / "blocks" / "intro.mjml.j2").write_text(INTRO.format(word="First"))
    return config_with(tmp_path, [{"url": "feed.xml", "name": "Wire"}],
                       '[layout]\ntemplates_dir = "mine"\n', editor='languages = ["*"]')


def _preview(config: Path) -> str:
    result = run(config, "build", "--preview", env=NOW_UTC_ENV)
    assert result.exit_code == 0, result.output
    return (config.parent / "outbox" / "preview" / "email.html").read_text("utf-8")


def _count_compiles(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The names of the templates Jinja compiles from now on."""
    compiled: list[str | None] = []
    original = jinja2.Environment.compile

    def counting(self: jinja2.Environment, source: str, name: str | None = None,
                 *args: object, **kwargs: object) -> object:
        compiled.append(name)
        return original(self, source, name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    return compiled


def test_a_build_leaves_compiled_templates_beside_the_state(tmp_path: Path) -> None:
    config = _project(tmp_path)
    _preview(config)
    cached = list((tmp_path / ".digest" / "templates-cache").glob("*.jinja"))
    # every bundled template and the editor's own partial
    assert len(cached) >= 10, cached


def test_an_edited_template_is_compiled_again(tmp_path: Path) -> None:
    config = _project(tmp_path)
    assert "First intro" in _preview(config)
    partial = tmp_path / "mine" / "blocks" / "intro.mjml.j2"
    stat = partial.stat()
    partial.write_text(INTRO.format(word="Other"))  # same length as "First"
    # the same size and modification time: only the content says it changed
    os.utime(partial, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    html = _preview(config)
    assert "Other intro" in html and "First intro" not in html


def test_the_second_load_compiles_nothing(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(_project(tmp_path))
    load_templates(config)
    compiled = _count_compiles(monkeypatch)
    templates = load_templates(config)
    assert compiled == []
    assert "First intro" in templates.env.get_template("blocks/intro.mjml.j2").render()


def test_a_cache_that_cannot_be_written_is_skipped(tmp_path: Path) -> None:
    config = _project(tmp_path)
    # A file where the folder should be: no folder can be made there, even by root.
    (tmp_path / ".digest" / "templates-cache").write_text("not a folder")
    assert "First intro" in _preview(config)
    assert (tmp_path / ".digest" / "templates-cache").read_text() == "not a folder"


def test_a_preview_on_a_fresh_machine_makes_no_state_folder_for_it(tmp_path: Path) -> None:
    assert "First intro" in _preview(_project(tmp_path, built=False))
    assert not (tmp_path / ".digest").exists()


def test_a_damaged_cache_entry_is_compiled_again(tmp_path: Path) -> None:
    config = _project(tmp_path)
    _preview(config)
    for entry in (tmp_path / ".digest" / "templates-cache").glob("*.jinja"):
        entry.write_bytes(entry.read_bytes()[:40])  # cut short mid-code
    assert "First intro" in _preview(config)


def test_a_folder_others_may_write_is_never_read(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # A compiled template is code that runs: a cache anyone may write is not used.
    config = load_config(_project(tmp_path))
    load_templates(config)
    folder = tmp_path / ".digest" / "templates-cache"
    assert list(folder.glob("*.jinja"))
    folder.chmod(0o777)
    compiled = _count_compiles(monkeypatch)
    load_templates(config)
    assert "issue.mjml.j2" in compiled


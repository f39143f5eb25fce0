"""`digest init DIR`: a folder that builds a preview offline, never overwriting a file;
and the config it writes shows every key of every table with its default."""

from __future__ import annotations

import dataclasses
import re
import tomllib
import typing
from importlib.resources import files
from pathlib import Path
from typing import Any

from click.testing import Result

from digest.config.load import load_config
from digest.config.scaffold import CONFIG_TEMPLATE, init_newsletter
from digest.config.schema import Config, PinConfig
from digest.render.bundled import package_templates
from tests.helpers import NOW_ISO, run

HEADLINE = "Central bank trims reserve requirement ratio by 25 basis points"
# No secret: the config init writes must build without one.
ENV: dict[str, str | None] = {"DIGEST_NOW": NOW_ISO, "DIGEST_SECRET": None, "DIGEST_CONFIG": None}


def init(*args: str) -> Result:
    return run(None, "init", *args, env=ENV)


def preview(folder: Path) -> Result:
    return run(folder / "config.toml", "build", "--preview", env=ENV)


def test_init_makes_a_folder_that_builds_a_preview_offline(tmp_path: Path) -> None:
    folder = tmp_path / "news"
    result = init(str(folder))
    assert result.exit_code == 0, result.output
    assert f"created {folder / 'config.toml'}\n" in result.stdout
    assert f"created {folder / 'samples'}/ (" in result.stdout
    assert f"created {folder / 'outbox'}/\n" in result.stdout
    assert result.stderr == ""
    feeds = sorted(p.name for p in (folder / "samples" / "feeds").iterdir())
    assert feeds == ["markets.xml", "policy.xml", "tech.atom", "trade.xml", "world.atom"]
    assert len(list((folder / "samples" / "images").glob("*.jpg"))) == 14
    assert not list(folder.rglob("*.py"))
    assert (folder / "outbox").is_dir() and not list((folder / "outbox").iterdir())
    assert not (folder / "templates").exists()
    config = load_config(folder / "config.toml")
    assert [f.url for f in config.feeds][0] == "samples/feeds/markets.xml"
    assert config.layout.templates_dir == ""

    built = preview(folder)
    assert built.exit_code == 0, built.output
    html = (folder / "outbox" / "preview" / "email.html").read_text("utf-8")
    assert HEADLINE in html
    # The feeds' ../images/x.jpg resolve to the copies in the new folder.
    assert f'src="{(folder / "samples" / "images").as_uri()}/' in html


def test_init_never_overwrites_a_file_and_reports_it(tmp_path: Path) -> None:
    folder = tmp_path / "news"
    (folder / "samples" / "feeds").mkdir(parents=True)
    mine = b'[newsletter]\nname = "Mine"\n# my own notes\n'
    (folder / "config.toml").write_bytes(mine)
    (folder / "samples" / "feeds" / "tech.atom").write_bytes(b"my feed")
    result = init(str(folder))
    assert result.exit_code == 0, result.output
    assert (folder / "config.toml").read_bytes() == mine
    assert (folder / "samples" / "feeds" / "tech.atom").read_bytes() == b"my feed"
    assert f"skipped: {folder / 'config.toml'} already there; left as it was" in result.stderr
    assert f"skipped: {folder / 'samples'}/ already there" in result.stderr
    assert f"created {folder / 'samples'}/ (" in result.stdout
    assert (folder / "samples" / "feeds" / "markets.xml").is_file()

    again = init(str(folder))
    assert again.exit_code == 0, again.output
    assert f"nothing to do: {folder} already has every file" in again.stdout
    assert (folder / "config.toml").read_bytes() == mine


def test_init_report_lists_created_and_skipped_paths(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("x", "utf-8")
    report = init_newsletter(tmp_path)
    assert report.skipped == (Path("config.toml"),)
    assert Path("samples/feeds/markets.xml") in report.created
    assert Path("outbox") in report.created
    assert Path("config.toml") not in report.created


def test_init_templates_copies_them_and_the_copy_is_used(tmp_path: Path) -> None:
    folder = tmp_path / "news"
    result = init(str(folder), "--templates")
    assert result.exit_code == 0, result.output
    assert f"created {folder / 'templates'}/ (" in result.stdout
    bundled = package_templates()
    assert (folder / "templates" / "issue.mjml.j2").read_bytes() == (
        bundled / "issue.mjml.j2").read_bytes()
    assert (folder / "templates" / "blocks" / "big_story.mjml.j2").is_file()
    assert load_config(folder / "config.toml").layout.templates_dir == "templates"

    text = folder / "templates" / "issue.txt.j2"
    text.write_text("EDITED BY THE EDITOR\n" + text.read_text("utf-8"), "utf-8")
    built = preview(folder)
    assert built.exit_code == 0, built.output
    assert (folder / "outbox" / "preview" / "email.txt").read_text(
        "utf-8").startswith("EDITED BY THE EDITOR")


def test_init_templates_over_an_existing_config_says_what_to_set(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[newsletter]\nname = "Mine"\n', "utf-8")
    result = init(str(tmp_path), "--templates")
    assert result.exit_code == 0, result.output
    assert 'set [layout] templates_dir = "templates"' in " ".join(result.stderr.split())
    assert (tmp_path / "templates" / "issue.txt.j2").is_file()


def test_init_needs_no_config_file(tmp_path: Path) -> None:
    result = run(tmp_path / "missing.toml", "init", str(tmp_path / "n"), env=ENV)
    assert result.exit_code == 0, result.output


def test_init_into_a_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "news"
    path.write_text("not a folder", "utf-8")
    result = init(str(path))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {path} is a file, not a folder")
    assert "Traceback" not in result.output
    assert path.read_text("utf-8") == "not a folder"

    blocked = tmp_path / "other"
    blocked.mkdir()
    (blocked / "samples").write_text("in the way", "utf-8")
    result = init(str(blocked))
    assert result.exit_code == 1
    assert "a file is in the way" in result.stderr
    assert "Traceback" not in result.output


# --- the config template cannot go out of date -------------------------------------

HEADER = re.compile(r"^\[\[?([\w.]+)\]\]?\s*(#.*)?$")
KEY = re.compile(r"^(#\s?)?([A-Za-z_]\w*)\s*=")


def config_tables() -> dict[str, type]:
    """Every table of the config by its TOML name: newsletter, feeds, layout.labels..."""
    tables: dict[str, type] = {}

    def walk(cls: type, prefix: str) -> None:
        for name, hint in typing.get_type_hints(cls).items():
            if typing.get_origin(hint) is list:
                (hint,) = typing.get_args(hint)
            if hint is PinConfig:  # a list of URLs or inline tables: `pin = [...]`
                continue
            if dataclasses.is_dataclass(hint):
                tables[prefix + name] = hint  # type: ignore[assignment]
                walk(hint, prefix + name + ".")  # type: ignore[arg-type]

    walk(Config, "")
    return tables


def toml_key(field: dataclasses.Field[Any]) -> str:
    return "from" if field.name == "sender" else field.name


def default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:  # a tuple is a TOML array
        return list(field.default) if isinstance(field.default, tuple) else field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def keys_in_template(text: str) -> dict[str, dict[str, list[tuple[bool, Any]]]]:
    """{table: {key: [(active, value), ...]}} for active and commented-out key lines."""
    found: dict[str, dict[str, list[tuple[bool, Any]]]] = {}
    table = ""
    for line in text.splitlines():
        header = HEADER.match(line)
        if header:
            table = header.group(1)
            found.setdefault(table, {})
            continue
        match = KEY.match(line)
        if not match or not table:
            continue
        try:
            value = tomllib.loads(line.removeprefix(match.group(1) or ""))
        except tomllib.TOMLDecodeError:
            continue  # prose that happens to contain "word ="
        key = match.group(2)
        found[table].setdefault(key, []).append((match.group(1) is None, value[key]))
    return found


def test_config_template_shows_every_key_of_every_table_with_its_default(tmp_path) -> None:
    init_newsletter(tmp_path / "news")
    source = tmp_path / "news" / "config.toml"
    assert source.read_bytes() == (files("digest.config") / CONFIG_TEMPLATE).read_bytes()
    config = load_config(source)  # valid as it is, and it builds (see the tests above)
    assert config.delivery.unsubscribe_mailto and "{token}" not in config.delivery.unsubscribe_url
    found = keys_in_template(source.read_text("utf-8"))
    tables = config_tables()
    assert set(tables) <= set(found), f"tables missing: {set(tables) - set(found)}"
    problems = []
    for table, cls in tables.items():
        fields = {toml_key(f): f for f in dataclasses.fields(cls)
                  if not dataclasses.is_dataclass(typing.get_type_hints(cls)[f.name])}
        for key in found[table].keys() - fields.keys():
            problems.append(f"[{table}] {key}: not a config key (any more?)")
        for key, field in fields.items():
            lines = found[table].get(key, [])
            if not lines:
                problems.append(f"[{table}] {key}: missing")
            elif not any(active for active, _ in lines) and all(
                    value != default(field) for _, value in lines):
                problems.append(f"[{table}] {key}: commented out but not with its default "
                                f"{default(field)!r}")
    assert not problems, "\n".join(problems)

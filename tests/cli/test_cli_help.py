"""Every command has help with an `Example:` block that click shows verbatim.

Iterates `main.commands`, so a command added later is covered without editing this
file."""

from __future__ import annotations

import re
import subprocess
import sys

import click
import pytest

from digest.cli.main import main
from tests.helpers import ROOT, run

COMMANDS = sorted(main.commands)


def example_lines(command: click.Command) -> list[str]:
    """The lines of the docstring's `Example:` block, as written."""
    lines = (command.help or "").splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "Example:")
    assert lines[start - 1].strip() == "\b", (
        f"{command.name}: put a line holding only \\b before Example: so click keeps the "
        "example lines as they are")
    block = []
    for line in lines[start + 1:]:
        if not line.strip():
            break
        block.append(line.strip())
    assert block, f"{command.name}: the Example: block is empty"
    return block


def help_text(*args: str) -> str:
    result = run(None, *args, "--help", terminal_width=80)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_and_a_verbatim_example(name: str) -> None:
    command = main.commands[name]
    assert (command.help or "").strip(), f"{name} has no help text"
    assert (command.get_short_help_str() or "").strip()
    shown = [line.strip() for line in help_text(name).splitlines()]
    assert "Example:" in shown
    for line in example_lines(command):
        assert line in shown, f"`digest {name} --help` reflowed the example line {line!r}"


def test_group_help_lists_every_command_and_keeps_its_example() -> None:
    text = help_text()
    shown = [line.strip() for line in text.splitlines()]
    for line in example_lines(main):
        assert line in shown
    for name in COMMANDS:
        assert any(line.startswith(name + " ") for line in shown), name


def test_build_example_survives_on_its_own_line() -> None:
    shown = help_text("build").splitlines()
    assert "      digest build --preview --open   # look first" in shown
    assert "      digest build                    # then build it for real" in shown


def test_help_and_version_do_not_load_the_heavy_libraries() -> None:
    code = ("import sys; from digest.cli.main import main\n"
            "for args in (['--help'], ['--version'], ['build', '--help'], ['run', '--help']):\n"
            "    try: main(args)\n"
            "    except SystemExit as e: assert e.code == 0, args\n"
            "heavy = {'httpx', 'feedparser', 'apscheduler', 'premailer', 'mjml'}\n"
            "print(sorted(heavy & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


# Every command, subcommands too, against the README's CLI reference ------------------

README = ROOT / "README.md"


def walk(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[str, click.Command]]:
    """("digest", main), ("digest build", build), ..., ("digest subscribers list", ...)."""
    found = [(" ".join(("digest", *path)), command)]
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            found += walk(sub, (*path, name))
    return found


ALL = walk(main)


def cli_reference() -> tuple[str, list[str]]:
    """The CLI reference's text before its table, and the table's rows."""
    text = README.read_text("utf-8")
    start = text.index("## CLI reference")
    section = text[start:text.index("\n## ", start + 1)]
    head, _, table = section.partition("\n| command |")
    return head, [line for line in table.splitlines() if line.startswith("| `digest")]


def documented(path: str) -> str:
    """What the reference says of `path`: for the group, the text before the table; for
    a command, the rows whose first cell names it (`digest send [ISSUE]`, ...)."""
    head, rows = cli_reference()
    if path == "digest":
        return head
    named = re.compile(rf"`{re.escape(path)}(?=[` \[])")
    return "\n".join(row for row in rows if named.search(row.split(" | ")[0]))


@pytest.mark.parametrize(("path", "command"), ALL, ids=[p for p, _ in ALL])
def test_every_command_and_subcommand_has_an_example(path: str, command: click.Command):
    assert example_lines(command), path
    assert any(line.startswith(path) for line in example_lines(command)), (
        f"{path}: the example should show the command itself")


@pytest.mark.parametrize(("path", "command"), ALL, ids=[p for p, _ in ALL])
def test_every_option_is_in_the_readme_cli_reference(path: str, command: click.Command):
    said = documented(path)
    assert said, f"the README's CLI reference has no row for `{path}`"
    for option in command.params:
        if not isinstance(option, click.Option) or option.name == "help":
            continue
        for name in option.opts + option.secondary_opts:
            assert re.search(rf"`[^`]*{re.escape(name)}\b", said), (
                f"`{path} {name}` is not in the README's CLI reference")

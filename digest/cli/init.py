"""`digest init DIR`: a thin wrapper over digest.config.scaffold.init_newsletter. It needs no
config file: it writes one."""

from __future__ import annotations

import shlex
from collections import Counter
from pathlib import Path

import click
from rich.markup import escape

from digest.cli.common import err, failures, out
from digest.config.scaffold import InitReport, init_newsletter


@click.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--templates", is_flag=True,
              help="Also copy the bundled templates to FOLDER/templates for editing, and "
                   "point [layout] templates_dir at them.")
def init(folder: Path, templates: bool) -> None:
    """Make a newsletter folder: a commented config.toml with every setting, the
    sample feeds and pictures, and an empty outbox/. Existing files are never
    overwritten: they are skipped and listed.

    \b
    Example:
        digest init my-newsletter
        cd my-newsletter && digest build --preview --open
        digest init my-newsletter --templates   # add templates/ to edit the look
    """
    with failures():
        report = init_newsletter(folder, templates=templates)
    print_report(report)


def print_report(report: InitReport) -> None:
    for path in grouped(report.folder, report.created):
        out.print(f"created {path}")
    for path in grouped(report.folder, report.skipped):
        notice("skipped", f"{path} already there; left as it was")
    for note in report.notes:
        notice("note", note)
    if not report.created:
        out.print(f"nothing to do: {report.folder} already has every file")
    folder = shlex.quote(str(report.folder))
    out.print(f"next: cd {folder} && digest build --preview, then edit config.toml")


def notice(label: str, message: str) -> None:
    # Not wrapped: a path cut in two by a newline can't be copied.
    err.print(f"[yellow]{label}:[/] {escape(message)}", markup=True, soft_wrap=True)


def grouped(folder: Path, paths: tuple[Path, ...]) -> list[str]:
    """One line per top-level entry: `news/config.toml`, `news/samples/ (21 files)`."""
    counts = Counter(p.parts[0] for p in paths)
    lines = []
    for top, count in counts.items():
        if (folder / top).is_dir():
            lines.append(f"{folder / top}/" + (f" ({count} files)" if count > 1 else ""))
        else:
            lines.append(str(folder / top))
    return lines


COMMANDS = (init,)

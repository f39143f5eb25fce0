"""The `digest` command line. Commands parse options, call one library function and
turn DigestError into a message and an exit status (0 ok, 1 failure, 2 usage/config)."""

from __future__ import annotations

import webbrowser
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from . import pipeline
from .collect import FeedResult
from .config import Config, default_config_path, load_config
from .errors import DigestError
from .render import check_templates

err = Console(stderr=True, highlight=False, markup=False)
out = Console(highlight=False, soft_wrap=True, markup=False)


class Failure(click.ClickException):
    """A DigestError on its way out: one line on stderr, exit status 1."""

    def show(self, file: Any = None) -> None:
        err.print(f"[bold red]error:[/] {escape(self.format_message())}", markup=True,
                  soft_wrap=True)  # one line, however long: logs and cron mail grep it


class BadConfig(Failure):
    """A config or template mistake: exit status 2."""

    exit_code = 2


@contextmanager
def failures() -> Iterator[None]:
    try:
        yield
    except DigestError as e:
        raise (BadConfig if e.exit_code == 2 else Failure)(str(e)) from None


def get_config(ctx: click.Context) -> Config:
    with failures():
        return load_config(ctx.obj["config_path"])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Config file [default: ./config.toml, or $DIGEST_CONFIG].")
@click.version_option(package_name="digest")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None) -> None:
    """Turn news feeds into a newsletter issue and deliver it.

    Example:

        digest build --preview          # look at the next issue, change nothing
        digest build                    # collect, build, write outbox/<date>-<slug>-<n>/
    """
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path or default_config_path()


@contextmanager
def progress_bar(config: Config, enabled: bool = True) -> Iterator[Callable[[FeedResult], None]]:
    """A bar on stderr while feeds are fetched; a no-op when stderr is not a terminal."""
    if not enabled or not err.is_terminal:
        yield lambda result: None
        return
    with Progress(TextColumn("fetching feeds"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.description}"), console=err, transient=True) as bar:
        task = bar.add_task("", total=len(config.feeds))
        yield lambda result: bar.update(task, advance=1, description=result.feed.name)


def print_collect(report: pipeline.CollectReport) -> None:
    table = Table(title=None, show_edge=False, header_style="bold")
    for column in ("feed", "new", "seen", "status"):
        table.add_column(column, justify="right" if column in ("new", "seen") else "left")
    for feed in report.feeds:
        status: str | Text = feed.status.replace("_", " ")
        if feed.status == "error":
            status = Text.assemble(("error", "red"), f" (failed {feed.failures}x in a row)")
        table.add_row(feed.name, str(feed.new), str(feed.seen), status)
    out.print(table)
    for feed in report.feeds:
        if feed.error:
            err.print(f"[yellow]warning:[/] {escape(feed.error)}", markup=True)
    out.print(f"{report.new} new article(s) from {len(report.feeds)} feed(s)"
              + (f", {report.failed} failed" if report.failed else ""))


@main.command()
@click.pass_context
def collect(ctx: click.Context) -> None:
    """Fetch every feed and store new articles (no issue is built).

    Example:

        digest collect
    """
    config = get_config(ctx)
    with failures(), progress_bar(config) as on_feed:
        report = pipeline.collect_locked(config, on_feed=on_feed)
    print_collect(report)


@main.command()
@click.option("--no-collect", is_flag=True, help="Build from stored articles only.")
@click.option("--preview", is_flag=True,
              help="Write outbox/preview/ instead; change no state at all.")
@click.option("--open", "open_browser", is_flag=True, help="Open the preview in a browser.")
@click.option("--send", "send_after", is_flag=True,
              help="Then send the new issue over SMTP (as `digest send`).")
@click.pass_context
def build(ctx: click.Context, no_collect: bool, preview: bool, open_browser: bool,
          send_after: bool) -> None:
    """Collect, curate, render and write the next issue to the outbox.

    Fewer new articles than [schedule] min_new_items means no issue (exit 0).

    Example:

        digest build --preview --open   # look first
        digest build                    # then build it for real
        digest build --send             # build and send it to the subscribers
    """
    if send_after and preview:
        raise click.UsageError("--send and --preview don't go together: a preview is never sent")
    config = get_config(ctx)
    with failures(), progress_bar(config, not no_collect) as on_feed:
        if preview:
            result = pipeline.preview(config, fetch=not no_collect, on_feed=on_feed)
        else:
            result = pipeline.build(config, fetch=not no_collect, on_feed=on_feed)
    if result.collected:
        print_collect(result.collected)
    for note in result.notes:
        err.print(f"[yellow]note:[/] {escape(note)}", markup=True)
    out.print(result.message)
    if result.path and preview:
        out.print(str(result.path / "email.html"))
        if open_browser:
            webbrowser.open((result.path / "email.html").resolve().as_uri())
    if send_after and result.status == "built" and result.rendered:
        from .cli_send import run_send

        run_send(config, result.rendered.issue.number)


@main.command()
@click.pass_context
def check(ctx: click.Context) -> None:
    """Validate the config and templates without building anything.

    Example:

        digest --config newsletter.toml check
    """
    config = get_config(ctx)
    with failures():
        check_templates(config)
    missing = [f for f in config.feeds if not f.url.startswith(("http://", "https://"))
               and not _local_exists(f.url, config)]
    for feed in missing:
        err.print(f"[yellow]warning:[/] feed {escape(feed.name)!r}: {escape(feed.url)} does not "
                  "exist yet", markup=True)
    out.print(f"{config.source}: ok ({len(config.feeds)} feeds, delivery "
              f"{config.delivery.mode})")


def _local_exists(url: str, config: Config) -> bool:
    from .collect import local_path

    return local_path(url, config.base_dir).exists()


from . import cli_run  # noqa: E402  (registered last: cli_run imports this module)

main.add_command(cli_run.run)  # type: ignore[has-type]
main.add_command(cli_run.schedule)  # type: ignore[has-type]

from .cli_send import COMMANDS as SEND_COMMANDS  # noqa: E402

for _command in SEND_COMMANDS:
    main.add_command(_command)

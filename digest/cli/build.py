"""`digest collect`, `build` and `check`: thin wrappers over digest.pipeline and
digest.render.email. The library is imported inside each command, so `digest --help`
does not load httpx, feedparser or the renderer."""

from __future__ import annotations

import time
import webbrowser
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from digest.cli.common import BadConfig, err, failures, get_config, out, refuse_unready, warn
from digest.config.schema import Config

if TYPE_CHECKING:
    from digest.collect.feeds import FeedResult
    from digest.pipeline import CollectReport


@contextmanager
def progress_bar(config: Config, enabled: bool = True) -> Iterator[Callable[[FeedResult], None]]:
    """A bar on stderr once fetching has taken more than a second; nothing when stderr
    is not a terminal (cron, logs)."""
    if not enabled or not err.is_terminal:
        yield lambda result: None
        return
    started = time.monotonic()
    done = 0
    with Progress(TextColumn("fetching feeds"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.description}"), console=err, transient=True,
                  auto_refresh=False) as bar:
        task = bar.add_task("", total=len(config.feeds), visible=False)

        def update(result: FeedResult) -> None:
            nonlocal done
            done += 1
            slow = time.monotonic() - started > SHOW_BAR_AFTER
            bar.update(task, completed=done, description=result.feed.name, visible=slow)
            if slow:
                bar.refresh()

        yield update


ISSUE_FILES = ("issue.json", "message.eml", "email.html", "email.txt")  # manifest first
SHOW_BAR_AFTER = 1.0  # seconds: a quick collect shows no bar at all
VERBOSE = click.option("-v", "--verbose", is_flag=True,
                       help="Print a table with every feed (default: a summary line and the "
                            "feeds that failed).")


def print_collect(report: CollectReport, verbose: bool = False) -> None:
    """A summary line and one warning per failing feed; with `verbose`, every feed in a
    table (a thousand rows every hour is noise in a cron mail)."""
    if verbose:
        table = Table(title=None, show_edge=False, header_style="bold")
        for column in ("feed", "new", "seen", "status"):
            table.add_column(column, justify="right" if column in ("new", "seen") else "left")
        for feed in report.feeds:
            status: str | Text = feed.status.replace("_", " ")
            if feed.status == "error":
                status = Text.assemble(("error", "red"), f" (failed {feed.failures}x in a row)")
            elif feed.status == "warning":
                status = Text("warning (read with errors)", "yellow")
            table.add_row(feed.name, str(feed.new), str(feed.seen), status)
        out.print(table)
    for feed in report.feeds:
        if feed.error:
            warn(f"{feed.error} (failed {feed.failures}x in a row)"
                 if feed.failures > 1 else feed.error)
    out.print(f"{report.new} new article(s) from {len(report.feeds)} feed(s)"
              + (f", {report.failed} failed" if report.failed else ""))


@click.command()
@VERBOSE
@click.pass_context
def collect(ctx: click.Context, verbose: bool) -> None:
    """Fetch every feed and store new articles (no issue is built).

    \b
    Example:
        digest collect
    """
    # here, not at the top: `digest --help` stays fast
    from digest.pipeline import collect_locked

    config = get_config(ctx)
    with failures(), progress_bar(config) as on_feed:
        report = collect_locked(config, on_feed=on_feed)
    print_collect(report, verbose)


@click.command()
@click.option("--no-collect", is_flag=True, help="Build from stored articles only.")
@click.option("--preview", is_flag=True,
              help="Write outbox/preview/ instead; change no state at all.")
@click.option("--open", "open_browser", is_flag=True, help="Open the preview in a browser.")
@click.option("--send", "send_after", is_flag=True,
              help="Then send the new issue over SMTP (as `digest send`).")
@click.option("--draft", "draft_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Build the stories, blocks, order, titles and note of this draft "
                   "(see `digest draft`).")
@click.option("--screenshot", is_flag=True,
              help="With --preview: also write PNGs of it at 600 and 375 px, light and "
                   "dark, beside email.html (headless Chromium).")
@click.option("--test", "test_to", metavar="ADDR[,ADDR...]",
              help="Then send what was built (the preview too) to these addresses only, "
                   "marked [TEST]; nothing is logged.")
@VERBOSE
@click.pass_context
def build(ctx: click.Context, no_collect: bool, preview: bool, open_browser: bool,
          send_after: bool, draft_path: Path | None, screenshot: bool, test_to: str | None,
          verbose: bool) -> None:
    """Collect, curate, render and write the next issue to the outbox.

    Fewer new articles than [schedule] min_new_items means no issue (exit 0).

    \b
    Example:
        digest build --preview --open   # look first
        digest build                    # then build it for real
        digest build --send             # build and send it to the subscribers
        digest build --draft drafts/next.toml --preview --test me@example.com
    """
    # here, not at the top: `digest --help` stays fast
    from digest import pipeline

    if send_after and preview:
        raise click.UsageError("--send and --preview don't go together: a preview is never sent")
    if screenshot and not preview:
        raise click.UsageError("--screenshot goes with --preview (an outbox issue folder stays "
                               "as it was built)")
    config = get_config(ctx)
    addresses = None
    if test_to is not None:
        # here, not at the top: `digest --help` stays fast
        from digest.cli.send import test_addresses

        addresses = test_addresses(test_to)
    with failures(), progress_bar(config, not no_collect) as on_feed:
        if preview:
            result = pipeline.preview(config, fetch=not no_collect, on_feed=on_feed,
                                      draft=draft_path)
        else:
            result = pipeline.build(config, fetch=not no_collect, on_feed=on_feed,
                                    draft=draft_path)
    if result.collected:
        print_collect(result.collected, verbose)
    for note in result.notes:
        warn(note, "note")
    out.print(result.message)
    if result.path and preview:
        out.print(str(result.path / "email.html"))
        if screenshot:
            # here, not at the top: `digest --help` stays fast
            from digest.render.screenshot import screenshot_issue

            with failures():
                for png in screenshot_issue(result.path / "email.html"):
                    out.print(str(png))
        if open_browser and not webbrowser.open((result.path / "email.html").resolve().as_uri()):
            warn("--open: no web browser found here; open the file above yourself")
    if addresses and result.path and result.status in ("built", "preview"):
        # here, not at the top: `digest --help` stays fast
        from digest.deliver.smtp import send_test_folder
        from digest.outbox.folder import IssueFolder

        with failures():
            sent = send_test_folder(config, IssueFolder.open(result.path), addresses)
        out.print(sent.message)
        if sent.failed:
            ctx.exit(1)
    if send_after and result.status == "built" and result.rendered:
        from digest.cli.send import run_send  # one way only: cli_send imports no command module

        run_send(config, result.rendered.issue.number)
    if not preview and config.delivery.mode == "smtp":
        report_waiting(config, result.rendered.issue.number
                       if result.status == "built" and result.rendered else None)


def report_waiting(config: Config, built: int | None) -> None:
    """smtp delivery: each issue not fully sent, as a `waiting:` line on stderr (a
    plain `build` only builds; cron's mail and the terminal both show it)."""
    # here, not at the top: `digest --help` stays fast
    from digest.deliver.order import unsent_issues

    with failures():
        waiting = unsent_issues(config)
    for unsent in waiting:
        if unsent.number == built and not unsent.started:
            warn(f"issue #{built} is built and not sent: `digest send` mails it (or build "
                 "with `digest build --send`; `digest run` builds and sends on the "
                 "schedule)", "waiting")
        else:
            warn(unsent.describe(), "waiting")


@click.command()
@click.option("--issue", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Lint this built issue folder (outbox/<folder>/ or outbox/preview/) "
                   "before sending it, instead of checking the config.")
@click.pass_context
def check(ctx: click.Context, issue: Path | None) -> None:
    """Validate the config and templates without building anything.

    With --issue, lint a built issue as its recipients will get it: size against
    Gmail's clip, images, links, scripts and forms, the text part and preheader,
    headers and line lengths. Errors exit 1; warnings are printed only.

    \b
    Example:
        digest --config newsletter.toml check
        digest check --issue outbox/preview
    """
    # here, not at the top: `digest --help` stays fast
    from digest.config.load import is_web, local_path
    from digest.render.email import check_templates

    config = get_config(ctx)
    if issue is not None:
        check_issue(ctx, config, issue)
        return
    with failures():
        check_templates(config)
    refuse_unready(ctx, config)
    missing = [f for f in config.feeds if not is_web(f.url)
               and not local_path(f.url, config.base_dir).exists()]
    for feed in missing:
        warn(f"feed {feed.name!r}: {feed.url} does not exist yet")
    out.print(f"{config.source}: ok ({len(config.feeds)} feeds, delivery "
              f"{config.delivery.mode})")


def check_issue(ctx: click.Context, config: Config, folder: Path) -> None:
    """One line per finding on stderr, a summary on stdout; exit 1 on any error."""
    # here, not at the top: `digest --help` stays fast
    from digest.outbox.lint import lint_issue

    if not any((folder / name).exists() for name in ISSUE_FILES):
        inside = sorted(p.name for p in folder.iterdir() if (p / ISSUE_FILES[0]).is_file())
        shown = ", ".join(inside[:5]) + (f" and {len(inside) - 5} more" if len(inside) > 5
                                         else "")
        raise BadConfig(f"--issue: {folder} is not an issue folder (it has none of "
                        f"{', '.join(ISSUE_FILES)}); " + (
                            f"the issue folders in it: {shown}" if inside else
                            "give outbox/<date>-<slug>-<n>/ or outbox/preview/"))
    with failures():
        findings = lint_issue(folder, config)
    for finding in findings:
        if finding.level == "error":
            err.print(f"[bold red]error:[/] {escape(finding.check)}: {escape(finding.message)}",
                      markup=True, soft_wrap=True)
        else:
            warn(f"{finding.check}: {finding.message}")
    errors = sum(f.level == "error" for f in findings)
    warnings = len(findings) - errors
    out.print(f"{folder}: " + (f"{errors} error(s), {warnings} warning(s)" if findings
                               else "ok"))
    if errors:
        ctx.exit(1)


COMMANDS = (collect, build, check)

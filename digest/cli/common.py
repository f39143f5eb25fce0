"""What every `digest` command module shares: the two consoles, the errors that
carry a DigestError out as an exit status, and reading the config.

Command modules import this module and the library, never each other's internals
and never `digest.cli.main` (which imports them to register the commands)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from digest.config.load import load_config
from digest.config.schema import Config
from digest.errors import DigestError
from digest.logs import configure_logging

err = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)  # one line a message
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
    """Turn a DigestError raised in the block into exit status 1, or 2 for config."""
    try:
        yield
    except DigestError as e:
        raise (BadConfig if e.exit_code == 2 else Failure)(str(e)) from None


def get_config(ctx: click.Context) -> Config:
    """The config named by the group's --config option, loaded and checked; the
    library's log lines (`digest run`'s above all) then go to stderr as [log] says."""
    with failures():
        config = load_config(ctx.obj["config_path"])
    configure_logging(config.log.format, config.log.level, tz=config.schedule_tz)
    return config


def warn(message: str, label: str = "warning") -> None:
    """`warning: <message>` on stderr, the label in colour on a terminal; one line
    however long, so logs and cron mail can grep it."""
    err.print(f"[yellow]{label}:[/] {escape(message)}", markup=True, soft_wrap=True)


def refuse_unready(ctx: click.Context, config: Config) -> None:
    """Exit 2 with one `error:` line per thing a build or send would lack (the token
    secret, the recipients file, the SMTP password, the DKIM key); nothing if ready."""
    from digest.config.checks import check_ready  # here: it loads dkimpy and cryptography

    problems = check_ready(config)
    for problem in problems:
        err.print(f"[bold red]error:[/] {escape(problem)}", markup=True, soft_wrap=True)
    if problems:
        ctx.exit(2)

"""The `digest` command line: the `main` group and the registration of the command
modules. Each command module imports digest.cli.common (consoles, errors, config)
and the library, never this module, so there is no import cycle.

Commands parse options, call one library function and turn DigestError into a
message and an exit status (0 ok, 1 failure, 2 usage/config)."""

from __future__ import annotations

from pathlib import Path

import click

from digest.cli import build as cli_build
from digest.cli import doctor as cli_doctor
from digest.cli import draft as cli_draft
from digest.cli import init as cli_init
from digest.cli import preview as cli_preview
from digest.cli import readers as cli_readers
from digest.cli import report as cli_report
from digest.cli import run as cli_run
from digest.cli import send as cli_send
from digest.cli import state as cli_state
from digest.cli import subscribers as cli_subscribers
from digest.config.load import default_config_path


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Config file [default: ./config.toml, or $DIGEST_CONFIG].")
@click.version_option(package_name="digest")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None) -> None:
    """Turn news feeds into a newsletter issue and deliver it.

    \b
    Example:
        digest build --preview          # look at the next issue, change nothing
        digest build                    # collect, build, write outbox/<date>-<slug>-<n>/
    """
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path or default_config_path()


for _module in (cli_build, cli_draft, cli_readers, cli_run, cli_send, cli_subscribers,
                cli_init, cli_doctor, cli_report, cli_preview, cli_state):
    for _command in _module.COMMANDS:
        main.add_command(_command)

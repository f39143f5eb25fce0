"""`digest state copy`: a thin wrapper over digest.state.copy."""

from __future__ import annotations

import click

from digest.cli.common import failures, get_config, out


@click.group()
def state() -> None:
    """Work on the state database as a whole.

    \b
    Example:
        digest state copy --to postgresql://digest@db.example.org/digest
    """


@state.command("copy")
@click.option("--to", "url", required=True, metavar="URL",
              help="The empty PostgreSQL database to copy into (postgresql://...).")
@click.pass_context
def copy(ctx: click.Context, url: str) -> None:
    """Copy the SQLite state file ([state] path) into an empty PostgreSQL database.

    Every table goes (articles, issues, the delivery log, subscribers, the suppression
    list, bounces, the caches), in one transaction, under the state lock; then the rows
    are counted on both sides. The file is left as it was (migrated to this digest's
    schema). Then set [state] url (or DIGEST_DATABASE_URL) to use the copy.

    \b
    Example:
        digest state copy --to postgresql://digest@db.example.org/digest
    """
    from digest.state.backend import describe
    from digest.state.copy import copy_state

    config = get_config(ctx)
    with failures():
        copied = copy_state(config.state_path, url, config.state.lock_timeout)
    for entry in copied:
        out.print(f"{entry.table}: {entry.rows} row(s)")
    total = sum(e.rows for e in copied)
    out.print(f"copied {config.state_path} to {describe(url)}: {total} row(s) in "
              f"{len(copied)} table(s), the counts match; set [state] url to use it")


COMMANDS = (state,)

"""`digest draft`: the next issue as a TOML file an editor changes, then builds with
`digest build --draft PATH` (see digest.curate.draft)."""

from __future__ import annotations

from pathlib import Path

import click

from digest.cli.build import VERBOSE, print_collect, progress_bar
from digest.cli.common import failures, get_config, out, warn


@click.command()
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write it [default: drafts/next.toml beside the config].")
@click.option("--no-collect", is_flag=True, help="Draft from stored articles only.")
@VERBOSE
@click.pass_context
def draft(ctx: click.Context, out_path: Path | None, no_collect: bool, verbose: bool) -> None:
    """Write the next issue as an editable draft (no issue is built, nothing is used up).

    Change titles and summaries, move stories between blocks, reorder them, add a
    subject and a note, paste in a candidate; then build it.

    \b
    Example:
        digest draft                                  # drafts/next.toml
        digest build --draft drafts/next.toml --preview
        digest send --test me@example.com             # after: digest build --draft ...
    """
    # here, not at the top: `digest --help` stays fast
    from digest.pipeline import make_draft

    config = get_config(ctx)
    target = out_path or config.path("drafts/next.toml")
    with failures(), progress_bar(config, not no_collect) as on_feed:
        result = make_draft(config, target, fetch=not no_collect, on_feed=on_feed)
    if result.collected:
        print_collect(result.collected, verbose)
    for note in result.notes:
        warn(note, "note")
    out.print(result.message)


COMMANDS = [draft]

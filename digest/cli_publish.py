"""`digest publish`: the web archive (see digest.web)."""

from __future__ import annotations

from pathlib import Path

import click

from .cli_common import failures, get_config, out, warn


@click.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write the site here [default: [web] site_dir, site/ beside the config].")
@click.pass_context
def publish(ctx: click.Context, out_dir: Path | None) -> None:
    """Write the web archive: an index of the issues, each issue's page, their
    pictures and an Atom feed, as static files any web server can serve.

    \b
    Example:
        digest publish                  # site/ beside the config
        digest publish --out /var/www/newsletter
    """
    from .web import publish as write_site

    config = get_config(ctx)
    with failures():
        report = write_site(config, out_dir)
    for note in report.notes:
        warn(note, "note")
    out.print(f"{report.issues} issue(s) published to {report.path}")


COMMANDS = [publish]

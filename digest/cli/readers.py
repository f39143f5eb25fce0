"""`digest publish`, `serve` and `bounces`: the readers' side (see digest.web.site, digest.web.app,
digest.deliver.bounces)."""

from __future__ import annotations

from pathlib import Path

import click

from digest.cli.common import failures, get_config, out, warn


@click.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write the site here [default: [web] site_dir, site/ beside the config]; "
                   "never the outbox, the state or config folder, a parent of one, or a "
                   "folder that is not a site digest wrote.")
@click.pass_context
def publish(ctx: click.Context, out_dir: Path | None) -> None:
    """Write the web archive: an index of the issues, each issue's page, their
    pictures and an Atom feed, as static files any web server can serve. The site is a
    link to a new build, replaced in one step; what an issue folder holds is never read
    through a link, and only http(s) and relative URLs stay links.

    \b
    Example:
        digest publish                  # site/ beside the config
        digest publish --out /var/www/newsletter
    """
    # here, not at the top: `digest --help` stays fast
    from digest.web.site import publish as write_site

    config = get_config(ctx)
    with failures():
        report = write_site(config, out_dir)
    for note in report.notes:
        warn(note, "note")
    out.print(f"{report.issues} issue(s) published to {report.path}")


COMMANDS = [publish]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.pass_context
def serve(ctx: click.Context, host: str, port: int) -> None:
    """Serve the readers' side: subscribe (double opt-in), confirm, unsubscribe (with
    RFC 8058 one-click), manage, /healthz, and the web archive. Put it behind a
    reverse proxy for HTTPS (see the README).

    \b
    Example:
        digest serve --port 8080
    """
    # here, not at the top: `digest --help` stays fast
    from digest.web.app import serve as run_server

    config = get_config(ctx)
    with failures():
        run_server(config, host, port)


COMMANDS.append(serve)


@click.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.pass_context
def bounces(ctx: click.Context, path: Path) -> None:
    """Read bounces and complaints from a Maildir or an mbox (the [delivery] return_path
    mailbox) and act on them: a hard bounce, or soft bounces for three issues in a row,
    marks the address bounced (never mailed again); a complaint unsubscribes it; a
    refusal for content or policy (5.7.x, spam, DMARC) is recorded and the address
    kept. A message that cannot be read is named and skipped.

    \b
    Example:
        digest bounces /var/mail/bounces
    """
    # here, not at the top: `digest --help` stays fast
    from digest.deliver.bounces import process

    config = get_config(ctx)
    with failures():
        report = process(config, path)
    for note in report.notes:
        warn(note)
    for address in report.bounced:
        out.print(f"bounced: {address}")
    for address in report.unsubscribed:
        out.print(f"unsubscribed (complaint): {address}")
    for address in report.refused:
        out.print(f"refused for content or policy (address kept): {address}")
    refusals = f"{report.policy} refused for content or policy, " if report.policy else ""
    out.print(f"{report.messages} message(s): {report.hard} hard bounce(s), {report.soft} "
              f"soft, {refusals}{report.complaints} complaint(s), {report.skipped} skipped")


COMMANDS.append(bounces)

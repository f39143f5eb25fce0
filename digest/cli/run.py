"""`digest run` and `digest schedule`: the scheduler's commands over digest.schedule.daemon and
digest.schedule.slots, imported inside the commands so `digest --help` does not load
APScheduler or the pipeline."""

from __future__ import annotations

import logging
from datetime import datetime

import click

from digest.cli.common import failures, get_config, out, refuse_unready
from digest.config.schema import Config
from digest.errors import StateError
from digest.state.store import open_readonly


@click.command()
@click.option("--once", is_flag=True,
              help="Run whatever is due now (a collect, or a missed issue slot) and exit.")
@click.pass_context
def run(ctx: click.Context, once: bool) -> None:
    """Run the scheduler: collect often, build (and send) on the issue's schedule.

    Collects every [schedule] collect_every and builds (and, with smtp delivery,
    sends) an issue on the [schedule] issue crontab line, in the foreground, until
    SIGTERM or Ctrl-C. Before anything runs, what a send needs is checked (the token
    secret, the recipient list, the SMTP password variable, the DKIM key): a problem
    stops it at once, exit 2, one line each. Log lines go to stderr in [log] format.

    A stop lets a running send finish the message in hand, then exits 0. An issue slot
    missed while nothing was running is built on start if it is within
    [schedule] misfire_grace; each slot gives at most one issue.

    --once is for system cron: it collects if the last collect is collect_every old,
    builds (and sends) the latest slot if it is within the grace and not built yet,
    and exits.

    \b
    Example:
        digest run                      # under systemd, or in a terminal
        digest run --once               # from cron, e.g. every 15 minutes
    """
    # here, not at the top: `digest --help` stays fast
    from digest.schedule.daemon import Daemon, run_once

    config = get_config(ctx)  # and the log lines' format, from [log]
    refuse_unready(ctx, config)
    with failures():
        if once:
            for line in run_once(config):
                logging.getLogger("digest.run").info(line)
            return
        code = Daemon(config).run()
    ctx.exit(code)


@click.command()
@click.option("-n", "count", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="How many fire times of each job to list.")
@click.pass_context
def schedule(ctx: click.Context, count: int) -> None:
    """Show the next fire times of both jobs, to check a crontab line.

    Times are in [schedule] timezone, else the [newsletter] timezone. The collect
    times start from the last collect in the state database.

    \b
    Example:
        digest schedule -n 8
    """
    # here, not at the top: `digest --help` stays fast
    from digest.schedule.daemon import fmt
    from digest.schedule.slots import load_schedule, next_fire_times

    config = get_config(ctx)
    with failures():
        plan = load_schedule(config)
        times = next_fire_times(plan, count, last_collect=_last_collect(config))
    out.print(f"issue {config.schedule.issue!r} in {plan.tz.key} "
              f"(misfire grace {config.schedule.misfire_grace}):")
    for moment in times.issue:
        out.print(f"  {moment.strftime('%a')} {fmt(moment)}")
    if not times.issue:
        out.print("  never")
    out.print(f"collect every {config.schedule.collect_every}:")
    for moment in times.collect:
        out.print(f"  {moment.strftime('%a')} {fmt(moment)}")


def _last_collect(config: Config) -> datetime | None:
    # here, not at the top: `digest --help` stays fast
    from digest.schedule.daemon import last_collect

    try:
        store = open_readonly(config.state_db)
    except StateError:
        return None  # an older database: treat as never collected; nothing is changed
    try:
        return last_collect(store)
    finally:
        store.close()


COMMANDS = (run, schedule)

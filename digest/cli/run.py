"""`digest run` and `digest schedule`: the scheduler's commands over digest.schedule.daemon and
digest.schedule.slots, imported inside the commands so `digest --help` does not load
APScheduler or the pipeline."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, tzinfo

import click

from digest.cli.common import failures, get_config, out
from digest.config.schema import Config
from digest.errors import StateError
from digest.state.store import open_readonly


class _ZoneFormatter(logging.Formatter):
    """Timestamps in the schedule's zone, like the "next run" times in the lines."""

    def __init__(self, tz: tzinfo) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s")
        self.tz = tz

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return datetime.fromtimestamp(record.created, self.tz).isoformat(timespec="seconds")


@contextmanager
def job_log(tz: tzinfo) -> Iterator[None]:
    """One timestamped line per job run on stderr (the journal or cron's mail)."""
    logger = logging.getLogger("digest.run")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_ZoneFormatter(tz))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    # APScheduler's own warnings (a run missed by more than the grace) stay visible.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logging.getLogger("apscheduler").removeHandler(handler)


@click.command()
@click.option("--once", is_flag=True,
              help="Run whatever is due now (a collect, or a missed issue slot) and exit.")
@click.pass_context
def run(ctx: click.Context, once: bool) -> None:
    """Run the scheduler: collect often, publish on the issue's schedule.

    Collects every [schedule] collect_every and builds (and, with smtp delivery,
    sends) an issue on the [schedule] issue crontab line, in the foreground, until
    SIGTERM or Ctrl-C.

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

    config = get_config(ctx)
    with failures(), job_log(config.schedule_tz):
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
        store = open_readonly(config.state_path)
    except StateError:
        return None  # an older database: treat as never collected; nothing is changed
    try:
        return last_collect(store)
    finally:
        store.close()


COMMANDS = (run, schedule)

"""`digest send`, `status`, `unsubscribe`, `resubscribe`: thin wrappers over
digest.deliver.smtp and digest.state.deliveries."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from digest.addresses import Address, AddressError, parse_address
from digest.cli.common import BadConfig, err, failures, get_config, out
from digest.config.schema import Config
from digest.models import DeliveryState, IssueRecord
from digest.schedule.stopping import stop_on_signals
from digest.state.deliveries import DeliveryLog
from digest.state.store import Store, open_readonly, open_store

if TYPE_CHECKING:  # the sender loads the renderer: imported when a command sends
    from digest.deliver.smtp import Progress as SendProgress
    from digest.deliver.smtp import SendReport


def _announce_stop(name: str, again: bool) -> None:
    """A first SIGTERM or Ctrl-C lets messages in progress finish; a second aborts."""
    if again:
        raise KeyboardInterrupt
    err.print("stopping after the messages in progress (again to abort)")


@contextmanager
def send_progress(enabled: bool) -> Iterator[Callable[[SendProgress], None] | None]:
    if not enabled or not err.is_terminal:
        yield None
        return
    with Progress(TextColumn("sending"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.description}"), console=err, transient=True) as bar:
        task = bar.add_task("", total=None)

        def update(p: SendProgress) -> None:
            bar.update(task, total=p.total, completed=p.done, description=p.email)

        yield update


def print_report(report: SendReport) -> None:
    for problem in report.problems:
        err.print(f"warning: recipient list: {problem}")
    out.print(report.message)
    if report.in_flight:  # the count and what to run: send_issue's WARNING, logged
        shown = ", ".join(report.in_flight[:10])
        more = f" and {len(report.in_flight) - 10} more" if len(report.in_flight) > 10 else ""
        err.print(f"in flight: {shown}{more}", soft_wrap=True)
    if report.deferred:
        err.print(f"note: {report.deferred} deferred by the server; `digest send` later retries "
                  "them")


def run_send(config: Config, number: int | None, *, dry_run: bool = False,
             resend_in_flight: bool = False, resume: bool = False,
             late: bool = False) -> SendReport:
    # here, not at the top: `digest --help` stays fast
    from digest.deliver.smtp import send_issue

    stop = threading.Event()
    with failures(), stop_on_signals(stop, _announce_stop), \
            send_progress(not dry_run) as on_progress:
        report = send_issue(config, number, dry_run=dry_run, resend_in_flight=resend_in_flight,
                            stop=stop, on_progress=on_progress, resume=resume, late=late)
    print_report(report)
    return report


def run_resolve_in_flight(config: Config, number: int | None, how: str, *,
                          other_options: bool) -> SendReport:
    """`digest send N --resolve-in-flight sent|retry`."""
    if number is None:
        raise BadConfig("--resolve-in-flight: name the issue, e.g. `digest send 12 "
                        f"--resolve-in-flight {how}` (`digest status` shows which)")
    if other_options:
        raise BadConfig("--resolve-in-flight settles the messages in flight only: leave out "
                        "--dry-run, --resend-in-flight and --test")
    from digest.deliver.smtp import resolve_in_flight

    stop = threading.Event()
    with failures(), stop_on_signals(stop, _announce_stop), \
            send_progress(how == "retry") as on_progress:
        report = resolve_in_flight(config, number, "retry" if how == "retry" else "sent",
                                   stop=stop, on_progress=on_progress)
    print_report(report)
    return report


def test_addresses(value: str) -> list[str]:
    """`--test a@x.com,b@y.org` -> the checked addresses; BadConfig (exit 2) names a
    bad one."""
    addresses = [a.strip() for a in value.split(",") if a.strip()]
    if not addresses:
        raise BadConfig("--test: give one or more addresses, separated by commas")
    checked = []
    for address in addresses:
        try:
            checked.append(parse_address(address).email)
        except AddressError as e:
            raise BadConfig(f"--test: {address!r}: {e}") from None
    return checked


@click.command()
@click.argument("issue", type=int, required=False)
@click.option("--dry-run", is_flag=True,
              help="Connect and log in, report what would be sent, send nothing.")
@click.option("--resend-in-flight", is_flag=True,
              help="Also re-send messages that were in flight when a send was killed "
                   "(they may arrive twice).")
@click.option("--resolve-in-flight", "resolve", type=click.Choice(["sent", "retry"]),
              help="Settle ISSUE's messages in flight (sent, never confirmed): 'sent' "
                   "records them as delivered, 'retry' sends only them again.")
@click.option("--test", "test", metavar="ADDR[,ADDR...]",
              help="Send the issue to these addresses only, subject marked [TEST]; "
                   "nothing is logged, the list is not touched.")
@click.option("--allow-older", is_flag=True,
              help="Send ISSUE even though a newer issue went out already (readers get "
                   "the older one after it).")
@click.option("--resume", is_flag=True,
              help="Go on with ISSUE after its send paused itself at a [delivery] pause_* "
                   "threshold.")
@click.option("--late", is_flag=True,
              help='With [schedule] deliver = "local": also send the batches held for '
                   "being more than max_lateness past their readers' local time.")
@click.pass_context
def send(ctx: click.Context, issue: int | None, dry_run: bool, resend_in_flight: bool,
         resolve: str | None, test: str | None, allow_older: bool, resume: bool,
         late: bool) -> None:
    """Send ISSUE (default: the latest issue not fully sent) over SMTP to every
    subscriber who has not had it yet.

    Safe to run again: delivered recipients are skipped, deferred ones retried.
    SIGTERM or Ctrl-C stops after the messages in progress. A message in flight
    (sent in full, the connection lost before the server confirmed it) is never
    re-sent on its own: check whether it arrived, then settle it with
    --resolve-in-flight. An issue older than one that went out is refused unless
    --allow-older is given. A send that passes a [delivery] pause_* threshold
    (hard-bounce rate, complaints) pauses itself, exit status 1; --resume goes on.
    With [schedule] deliver = "local" only the readers
    whose local time has come are sent (a zone's batch past max_lateness is held,
    unless --late).

    \b
    Example:
        digest send --dry-run           # check the server and the login
        digest send --test me@example.com   # the latest issue, to me only
        digest send                     # send the latest issue
        digest send 12                  # resume issue 12
        digest send 12 --resolve-in-flight sent    # they arrived: record so
        digest send 12 --resolve-in-flight retry   # send only those again
        digest send 2 --allow-older     # issue 2, though issue 3 went out
        digest send 12 --resume         # go on after a pause
        digest send 12 --late           # local time: the held batches too
    """
    config = get_config(ctx)
    if resolve is not None:
        run_resolve_in_flight(config, issue, resolve,
                              other_options=dry_run or resend_in_flight or test is not None)
        return
    if test is not None:
        if dry_run or resend_in_flight:
            raise BadConfig("--test sends to the given addresses only: leave out "
                            "--dry-run and --resend-in-flight")
        addresses = test_addresses(test)
        # here, not at the top: `digest --help` stays fast
        from digest.deliver.smtp import send_test

        with failures():
            report = send_test(config, issue, addresses)
        out.print(report.message)
        if report.failed:
            ctx.exit(1)
        return
    if not dry_run:
        # here, not at the top: `digest --help` stays fast
        from digest.deliver.order import check_send_order

        with failures():
            check_send_order(config, issue, allow_older=allow_older)
    report = run_send(config, issue, dry_run=dry_run, resend_in_flight=resend_in_flight,
                      resume=resume, late=late)
    if report.paused:  # the send's WARNING (logged) or the message named why
        ctx.exit(1)


@click.command()
@click.argument("issue", type=int, required=False)
@click.pass_context
def status(ctx: click.Context, issue: int | None) -> None:
    """Show delivery counts for ISSUE (default: the latest issue), and any message in
    flight when a send was killed; without ISSUE, then every issue not fully sent
    (with smtp delivery: built and not sent to everyone), with its counts.

    \b
    Example:
        digest status
        digest status 12
    """
    config = get_config(ctx)
    with failures():
        store = open_readonly(config.state_db)
    try:
        issues = store.issues()
        if not issues:
            out.print("no issues built yet")
            return
        record = next((i for i in issues if i.number == issue), None) if issue else issues[-1]
        if record is None:
            raise click.ClickException(f"issue #{issue} does not exist (issues: "
                                       f"{issues[0].number}-{issues[-1].number})")
        log = DeliveryLog.of(store)
        counts = log.counts(record.number)
        out.print(f"issue #{record.number} ({record.outbox_path}): {record.state}")
        if record.state == "paused":
            from digest.state.audit import pause_note

            out.print(f"  {pause_note(store.conn, record.number) or 'paused'}")
        out.print("  " + ", ".join(f"{n} {state}" for state, n in counts.items()))
        out.print(f"  {log.suppression_count()} address(es) on the suppression list")
        print_local_batches(config, store, record)
        states: tuple[tuple[DeliveryState, str], ...] = (
            ("sending", "in flight (sent, not confirmed; check they arrived, then "
                        f"`digest send {record.number} --resolve-in-flight sent` or "
                        "`... retry`)"),
            ("failed", "failed permanently"), ("deferred", "deferred"))
        for state, label in states:
            rows = log.in_state(record.number, state)
            if rows:
                out.print(f"{label}:")
                # every message in flight: each must be checked before it is settled
                shown = rows if state == "sending" else rows[:20]
                for row in shown:
                    out.print(f"  {row.address}  {row.last_reply or ''}".rstrip())
                if len(rows) > len(shown):
                    out.print(f"  ... and {len(rows) - len(shown)} more")
    finally:
        store.close()
    if issue is None:
        # here, not at the top: `digest --help` stays fast
        from digest.deliver.order import unsent_issues

        with failures():
            waiting = unsent_issues(config)
        if waiting:
            out.print(f"not fully sent ({len(waiting)}):")
        for unsent in waiting:
            out.print(f"  {unsent.describe()}")


def print_local_batches(config: Config, store: Store, record: IssueRecord) -> None:
    """[schedule] deliver = "local": who is still owed the issue, a zone a line, held
    (too late, not sent stale) or waiting for its local time."""
    if config.schedule.deliver != "local" or record.state in ("sent", "recovered"):
        return
    # here, not at the top: `digest --help` stays fast
    from digest.clock import utcnow
    from digest.deliver.zones import max_lateness_of, owed_batches

    with failures():
        batches = owed_batches(config, store, record, utcnow())
        lateness = max_lateness_of(config)
    if batches:
        out.print(f"local time ({config.schedule.local_time} in each reader's zone):")
    for batch in batches:
        out.print(f"  {batch.describe(record.number, lateness)}", soft_wrap=True)


def _suppression_log(ctx: click.Context) -> DeliveryLog:
    config = get_config(ctx)
    with failures():
        return DeliveryLog.of(open_store(config.state_db))


def _address(email: str) -> Address:
    """The EMAIL argument through the one validator: a bad one is one line, exit 2."""
    try:
        return parse_address(email)
    except AddressError as e:
        raise BadConfig(f"EMAIL {e}; give one address like reader@example.com") from None


@click.command()
@click.argument("email")
@click.option("--reason", default="unsubscribed", show_default=True,
              help="Why (kept in the suppression list).")
@click.pass_context
def unsubscribe(ctx: click.Context, email: str, reason: str) -> None:
    """Add EMAIL to the suppression list: no send will mail it again. Case and
    surrounding spaces don't matter: `Ann@Example.org ` is ann@example.org.

    \b
    Example:
        digest unsubscribe reader@example.com
    """
    address = _address(email)
    log = _suppression_log(ctx)
    try:
        added = log.suppress(address.key, reason)
    finally:
        log.close()
    out.print(f"{address.key} {'unsubscribed' if added else 'was already unsubscribed'}")


@click.command()
@click.argument("email")
@click.pass_context
def resubscribe(ctx: click.Context, email: str) -> None:
    """Take EMAIL off the suppression list (it must still be on the recipient list).

    \b
    Example:
        digest resubscribe reader@example.com
    """
    address = _address(email)
    log = _suppression_log(ctx)
    try:
        removed = log.unsuppress(address.key)
    finally:
        log.close()
    out.print(f"{address.key} {'resubscribed' if removed else 'was not unsubscribed'}")


COMMANDS = (send, status, unsubscribe, resubscribe)

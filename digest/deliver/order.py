"""Issues waiting to be sent: which are built and not fully sent, and the order rule
(`send` never mails an issue older than one that went out unless asked by name).

Split from digest.pipeline so that `digest send` and `digest status` load only the
state, not the feed parsers, renderers and fetchers the pipeline imports."""

from __future__ import annotations

from dataclasses import dataclass

from digest.config.schema import Config
from digest.errors import DeliveryError
from digest.models import IssueRecord, IssueState
from digest.state.deliveries import DeliveryLog
from digest.state.store import Store, locked_store, open_readonly

# Issues waiting to be sent ---------------------------------------------------------
# With smtp delivery an issue that is built and not (fully) sent is reported wherever
# an operator looks (`build`, `status`, the daemon's log), and an issue older than one
# that went out is never mailed unless asked for by name (`send N --allow-older`).


@dataclass(frozen=True)
class Unsent:
    """An issue not fully sent, with its delivery counts."""

    number: int
    state: IssueState
    outbox_path: str
    counts: dict[str, int]  # delivery state -> rows
    newer_out: int | None  # the newest issue that went out after it, if one did

    @property
    def started(self) -> bool:
        return any(self.counts.values())

    def describe(self) -> str:
        """`issue #2 (outbox/...): never sent` or `...: 3 delivered, 5 pending, ...`."""
        c = self.counts
        if not self.started:
            how = "built, never sent"
        else:
            how = (f"{c['delivered']} delivered, {c['pending']} pending, {c['deferred']} "
                   f"deferred, {c['sending']} in flight, {c['failed']} failed")
        line = f"issue #{self.number} ({self.outbox_path}): {how}"
        if self.state == "paused":
            line += (f"; paused at a [delivery] pause_* threshold: `digest send "
                     f"{self.number} --resume` goes on")
        if self.newer_out is not None:
            line += (f"; issue #{self.newer_out} went out after it, so only `digest send "
                     f"{self.number} --allow-older` sends it")
        return line


def unsent_issues(config: Config) -> tuple[Unsent, ...]:
    """Every issue not fully sent, oldest first: with smtp delivery each one built and
    not sent to everyone; with outbox delivery those whose send was begun."""
    store = open_readonly(config.state_db)
    try:
        return _unsent(config, store)
    finally:
        store.close()


def _unsent(config: Config, store: Store) -> tuple[Unsent, ...]:
    log = DeliveryLog.of(store)
    waiting: tuple[IssueState, ...] = ("built", "sending", "paused") \
        if config.delivery.mode == "smtp" \
        else ("sending",)
    counted = [(i, log.counts(i.number)) for i in store.issues()]
    out = [n for n, (i, c) in enumerate(counted) if _went_out(i, c)]
    unsent = []
    for n, (issue, counts) in enumerate(counted):
        if issue.state not in waiting:
            continue
        newer = [counted[k][0].number for k in out if k > n]
        unsent.append(Unsent(issue.number, issue.state, issue.outbox_path, counts,
                             newer[-1] if newer else None))
    return tuple(unsent)


def _went_out(issue: IssueRecord, counts: dict[str, int]) -> bool:
    return issue.state in ("sending", "sent") or counts["delivered"] > 0


def check_send_order(config: Config, number: int | None, *, allow_older: bool = False) -> None:
    """Raise DeliveryError when issue `number` does not exist (naming the issues there
    are) or, unless `allow_older`, when `digest send [number]` would mail an issue older
    than one that already went out (None: the issue `send` picks, the latest not sent).

    Opened for writing, as the send that follows does: a database an older digest left
    is migrated here, not refused (a read-only open cannot migrate). No database yet: no
    issue went out, so there is no order to keep, and none is made here (the send says
    what is missing, the secret first)."""
    if not isinstance(config.state_db, str) and not config.state_path.exists():
        return
    with locked_store(config) as store:
        issues = store.issues()
        if number is not None and not any(i.number == number for i in issues):
            there = (f"the issues are #{issues[0].number} to #{issues[-1].number}"
                     if issues else "no issue is built yet")
            raise DeliveryError(f"issue #{number} does not exist: {there}; `digest status` "
                                "lists every issue not fully sent")
        if number is None:  # as digest.deliver.smtp picks it
            picked = next((i for i in reversed(issues)
                           if i.state not in ("sent", "recovered")), None)
            number = picked.number if picked else None
        stale = next((u for u in _unsent(config, store) if u.number == number), None)
    if stale is not None and stale.newer_out is not None and not allow_older:
        raise DeliveryError(
            f"issue #{stale.number} is older than issue #{stale.newer_out}, which went out "
            f"already: sending it now would reach readers after the newer one; `digest send "
            f"{stale.number} --allow-older` sends it anyway")

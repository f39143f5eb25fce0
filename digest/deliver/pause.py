"""A send that pauses itself: the `[delivery] pause_*` thresholds.

Mailbox providers judge a sender by its bounces and complaints; a list gone stale (an
old import, a typo'd domain) or an issue readers hate shows in the first few hundred
messages, and sending the rest would cost the domain's reputation. So, per run of a
send (a resumed send counts afresh):

- the hard-bounce rate: messages the server refused with a 5xx, plus hard bounces
  `digest bounces` traced to the issue since the run began, over the messages sent
  (delivered, refused, in flight), once at least `pause_min_sent` were sent, above
  `pause_hard_bounce_rate`;
- complaints: at least `pause_complaints` traced to the issue since the run began.

The counters are in memory, updated as each message ends; the bounce log is read every
CHECK_EVERY messages (or CHECK_SECONDS, on a slow send): one indexed count. When a
threshold is passed no new message starts, those in progress finish, the rest stay
pending and the issue becomes `paused` (digest.deliver.smtp), which neither `digest send`
nor the daemon takes up again until `digest send N --resume`.
"""

from __future__ import annotations

import threading
import time

from digest.config.schema import DeliveryConfig
from digest.models import DeliveryState
from digest.state.audit import counted_from, issue_events, issue_figures
from digest.state.deliveries import DeliveryLog

CHECK_EVERY = 20  # messages between two looks at the bounce log
CHECK_SECONDS = 5.0  # and at most this long between them
_SENT: tuple[DeliveryState, ...] = ("delivered", "failed", "sending")


class PauseWatch:
    """The thresholds of one run of a send of `issue`; `outcome` is called as each
    message ends (from any worker thread)."""

    def __init__(self, delivery: DeliveryConfig, issue: int, log: DeliveryLog, *,
                 whole_issue: bool = False) -> None:
        self.rate = delivery.pause_hard_bounce_rate
        self.min_sent = delivery.pause_min_sent
        self.complaints = delivery.pause_complaints
        self.issue = issue
        self.log = log
        self.lock = threading.Lock()
        self.sent = self.refused = self.since = 0
        self.base = self._events()  # the issue's, before this run
        self.seen = dict(self.base)
        if whole_issue:  # local time: one count over the passes (see _whole_issue)
            self._whole_issue()
        self.looked = time.monotonic()
        self.reason: str | None = None  # why the send paused; None while it runs

    def _whole_issue(self) -> None:
        """[schedule] deliver = "local": a pass sends one zone's batch, hours after the
        last, and the complaints about the earlier batches come in between; counted per
        pass, a threshold would rarely be reached. So the counts run over all the
        issue's passes, from its first or its last `--resume`."""
        with self.log.lock:
            now = issue_figures(self.log.conn, self.issue)
            start = counted_from(self.log.conn, self.issue)
        self.sent = max(0, now["sent"] - start["sent"])
        self.refused = max(0, now["refused"] - start["refused"])
        self.base = {"hard": start["hard"], "complaint": start["complaint"]}
        self.seen = {"hard": now["hard"], "complaint": now["complaint"]}

    def _events(self) -> dict[str, int]:
        with self.log.lock:
            return issue_events(self.log.conn, self.issue)

    def outcome(self, state: DeliveryState, reply: str) -> bool:
        """Count one message's end; True once, when the send must pause now."""
        if self.reason is not None or not (self.rate or self.complaints):
            return False
        with self.lock:
            if state in _SENT:
                self.sent += 1
                self.refused += state == "failed" and reply[:1] == "5"  # not our own refusal
            self.since += 1
            now = time.monotonic()
            look = self.since >= CHECK_EVERY or now - self.looked >= CHECK_SECONDS
            if look:
                self.since, self.looked = 0, now
        seen = self._events() if look else None
        with self.lock:
            if seen is not None:
                self.seen = seen
            if self.reason is None:
                self.reason = self._passed()
                return self.reason is not None
        return False

    def figures(self) -> tuple[int, int, int]:
        """(sent, hard bounces, complaints) of this run so far."""
        hard = self.refused + max(0, self.seen["hard"] - self.base["hard"])
        return self.sent, hard, max(0, self.seen["complaint"] - self.base["complaint"])

    def _passed(self) -> str | None:
        sent, hard, complaints = self.figures()
        n = self.issue
        then = (f"the rest stay pending; look at `digest report {n}`, then `digest send "
                f"{n} --resume` goes on")
        if self.complaints and complaints >= self.complaints:
            return (f"issue #{n} paused: {complaints} complaint(s) during this send "
                    f"reached [delivery] pause_complaints = {self.complaints} ({sent} "
                    f"sent); {then}")
        if self.rate and sent >= self.min_sent and hard > self.rate * sent:
            return (f"issue #{n} paused: hard-bounce rate {hard / sent:.1%} ({hard} of "
                    f"{sent} sent) passed [delivery] pause_hard_bounce_rate = {self.rate:g} "
                    f"(checked from pause_min_sent = {self.min_sent}); {then}")
        return None

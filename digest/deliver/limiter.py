"""Pacing a send: one rate shared by all connections, and the queue of recipients by
when each is due (a deferred one comes back after its backoff)."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from dataclasses import dataclass

from digest.deliver.recipients import Recipient


@dataclass
class Job:
    recipient: Recipient
    tries: int = 0  # this run


class Limiter:
    """A shared pace of `rate` messages per second across all connections."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next = time.monotonic()
        self.lock = threading.Lock()

    def wait(self, stop: threading.Event) -> bool:
        if not self.interval:
            return not stop.is_set()
        with self.lock:
            now = time.monotonic()
            slot = max(now, self.next)
            self.next = slot + self.interval
        delay = slot - time.monotonic()
        return not stop.wait(delay) if delay > 0 else not stop.is_set()


class JobQueue:
    """Jobs by due time; `take` returns None when all are finished or on stop."""

    def __init__(self, jobs: list[Job]) -> None:
        self.cond = threading.Condition()
        self.order = itertools.count()
        self.heap = [(0.0, next(self.order), j) for j in jobs]
        self.outstanding = len(jobs)

    def take(self, stop: threading.Event) -> Job | None:
        with self.cond:
            while True:
                if stop.is_set() or self.outstanding == 0:
                    return None
                now = time.monotonic()
                if self.heap and self.heap[0][0] <= now:
                    return heapq.heappop(self.heap)[2]
                wait = self.heap[0][0] - now if self.heap else 0.1
                self.cond.wait(min(wait, 0.1))

    def again(self, job: Job, delay: float) -> None:
        with self.cond:
            heapq.heappush(self.heap, (time.monotonic() + delay, next(self.order), job))
            self.cond.notify()

    def finished(self) -> None:
        with self.cond:
            self.outstanding -= 1
            if self.outstanding == 0:
                self.cond.notify_all()

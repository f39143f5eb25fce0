"""Rate limits of the readers' pages: events per window for one client (an IPv6 client
counted by its /64) or one address."""

from __future__ import annotations

import ipaddress
from collections import defaultdict, deque
from collections.abc import Callable


class Limiter:
    """At most `limit` events per `window` seconds for one client."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float]) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self.seen: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, client: str) -> bool:
        now = self.clock()
        key = network(client)
        times = self.seen[key]
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= self.limit:
            return False
        times.append(now)
        if len(self.seen) > 10_000:  # forget clients idle for a whole window
            for idle in [k for k, t in self.seen.items() if not t or t[-1] <= now - self.window]:
                del self.seen[idle]
        return True


def network(client: str) -> str:
    """An IPv6 client by its /64 (one host has billions of addresses); others as given."""
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return client
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return client

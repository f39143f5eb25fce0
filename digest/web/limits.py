"""Rate limits of the readers' pages: events per window for one client (an IPv6 client
counted by its /64, an IPv4-mapped one as its IPv4 address) or one address, kept in the
state database (digest.state.ratelimits) so every process and a restart share them."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable
from pathlib import Path

from digest.state.ratelimits import RateLimits


class Limiter:
    """At most `limit` events per `window` seconds for one client.

    `name` tells this limiter's rows from another's in the shared table; keys are
    stored as a keyed hash (`salt`), never as the address or client in clear. Without
    `db`, the table is private to this limiter (in memory)."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float], *,
                 db: Path | str | None = None, name: str = "", salt: bytes = b"") -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self.name, self.salt = name, salt
        self.table = RateLimits(db)

    def allow(self, client: str) -> bool:
        key = hashlib.blake2b(f"{self.name}\0{network(client)}".encode(), digest_size=16,
                              key=hashlib.sha256(self.salt).digest()).digest()
        return self.table.take(key, self.clock(), self.limit, self.window)

    def close(self) -> None:
        self.table.close()


def canonical(client: str) -> str:
    """An IP address in one spelling (`::ffff:192.0.2.1` is 192.0.2.1); others as
    given."""
    try:
        address = ipaddress.ip_address(client.strip().strip("[]"))
    except ValueError:
        return client
    if address.version == 6 and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(address)


def network(client: str) -> str:
    """An IPv6 client by its /64 (one host has billions of addresses); others as
    given (an IPv4-mapped address as its IPv4 address)."""
    client = canonical(client)
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return client
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return client

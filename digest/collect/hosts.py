"""Where a feed's requests may go: resolve a host and tell public addresses from the rest.

The SSRF guard in `collect` asks a `Resolver` for a host's addresses, refuses the
non-public ones for feeds that live on the public internet, and then connects to the
address it checked (never resolving the name a second time, so a DNS answer that
changes between the check and the connection changes nothing). Tests pass their own
resolver to make a loopback test server look like a public host.

`remembering` wraps a resolver with `LookupFailures`, the names that lately did not
resolve (kept in the fetch cache, digest.state.cache): such a name fails at once, with
the error it gave, instead of being asked again, by the later fetches of the same run
and by the runs after it until the failure is `retry_after` old.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from digest.clock import utcnow

IP = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class Address:
    ip: str
    kind: str  # "public" or why not: "loopback", "private", "link-local", ...

    @property
    def public(self) -> bool:
        return self.kind == "public"


Resolver = Callable[[str, int], Sequence[Address]]


def address_kind(ip: IP) -> str:
    """"public", or the reason an address is internal (IPv4 inside IPv6 is unwrapped)."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (
            ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None)
        if embedded is not None:
            return address_kind(embedded)
    for kind, hit in (("unspecified", ip.is_unspecified), ("loopback", ip.is_loopback),
                      ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
                      ("reserved", ip.is_reserved), ("private", ip.is_private)):
        if hit:
            return kind
    return "public" if ip.is_global else "reserved"  # e.g. 100.64.0.0/10 (carrier NAT)


def system_resolve(host: str, port: int) -> list[Address]:
    """The host's addresses (an IP literal is its own), each with its kind; may block."""
    try:
        ips: list[IP] = [ipaddress.ip_address(host)]
    except ValueError:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        # Drop an IPv6 scope (fe80::1%eth0); the address itself decides its kind.
        ips = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    unique = dict.fromkeys(ips)
    return [Address(str(ip), address_kind(ip)) for ip in unique]


class LookupFailures:
    """Host names that failed to resolve lately (host -> (error, ISO time)), and those
    that failed in this run (`new()`, to remember). Lookups run in threads: one lock."""

    def __init__(self, known: Mapping[str, tuple[str, str]] | None = None,
                 retry_after: timedelta = timedelta(minutes=10)) -> None:
        self.retry_after = retry_after
        self._known = dict(known or {})
        self._new: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def failed(self, host: str) -> tuple[str, str] | None:
        """(error, when) if `host` failed to resolve within `retry_after`."""
        with self._lock:
            found = self._known.get(host.lower())
        if found is None:
            return None
        try:
            when = datetime.fromisoformat(found[1])
        except ValueError:
            return None
        return found if timedelta(0) <= utcnow() - when < self.retry_after else None

    def add(self, host: str, error: str) -> None:
        entry = (error, utcnow().isoformat(timespec="seconds"))
        with self._lock:
            self._known[host.lower()] = self._new[host.lower()] = entry

    def new(self) -> dict[str, tuple[str, str]]:
        with self._lock:
            return dict(self._new)


def remembering(resolve: Resolver, failures: LookupFailures) -> Resolver:
    """`resolve`, except that a name in `failures` fails at once with the error it gave
    (unasked), and a name that fails now (no such name, no answer, no address) joins
    them."""

    def lookup(host: str, port: int) -> Sequence[Address]:
        known = failures.failed(host)
        if known is not None:
            error, when = known
            raise socket.gaierror(socket.EAI_NONAME, f"{error} (at {when}; not looked up "
                                  f"again for {failures.retry_after.seconds // 60} min)")
        try:
            addresses = resolve(host, port)
        except socket.gaierror as e:
            failures.add(host, str(e.strerror or e))
            raise
        if not addresses:
            failures.add(host, "no address")
        return addresses

    return lookup

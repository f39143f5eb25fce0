"""Where a feed's requests may go: resolve a host and tell public addresses from the rest.

The SSRF guard in `collect` asks a `Resolver` for a host's addresses, refuses the
non-public ones for feeds that live on the public internet, and then connects to the
address it checked (never resolving the name a second time, so a DNS answer that
changes between the check and the connection changes nothing). Tests pass their own
resolver to make a loopback test server look like a public host.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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

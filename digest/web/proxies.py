"""Who the client is, behind reverse proxies: `[web] trusted_proxies` (addresses and
CIDR networks) are the only peers whose X-Forwarded-For is read, and from it the
client is the rightmost hop that is not a trusted proxy (hops to its left are the
client's own claims). Addresses are compared in one spelling: `::ffff:192.0.2.1` is
192.0.2.1."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from digest.errors import ConfigError
from digest.web.limits import canonical

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    def __init__(self, entries: Iterable[str]) -> None:
        self.networks: list[Network] = []
        for entry in entries:
            try:
                self.networks.append(ipaddress.ip_network(canonical(entry), strict=False))
            except ValueError:
                raise ConfigError(f"[web] trusted_proxies: {entry!r} is not an IP address or "
                                  "network; write e.g. \"127.0.0.1\", \"::1\" or "
                                  "\"10.0.0.0/8\"") from None

    def trusts(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(canonical(address))
        except ValueError:
            return False
        return any(ip.version == n.version and ip in n for n in self.networks)

    def client(self, peer: str, forwarded_for: Iterable[str]) -> str:
        """The client of a request from `peer` carrying these X-Forwarded-For values."""
        client = canonical(peer)
        if not self.trusts(client):
            return client
        hops = [h.strip() for value in forwarded_for for h in value.split(",") if h.strip()]
        for hop in reversed(hops):
            hop = canonical(_without_port(hop))
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                return client  # a trusted proxy's "unknown": the nearest known hop
            client = hop
            if not self.trusts(hop):
                break
        return client


def _without_port(hop: str) -> str:
    if hop.startswith("["):  # [2001:db8::1]:443
        return hop[1:].partition("]")[0]
    if hop.count(":") == 1:  # 192.0.2.1:443
        return hop.partition(":")[0]
    return hop


class ClientAddress:
    """ASGI middleware: `scope["client"]` is the client as `TrustedProxies` tells it."""

    def __init__(self, app: ASGIApp, proxies: TrustedProxies) -> None:
        self.app, self.proxies = app, proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("client"):
            host, port = scope["client"]
            forwarded = [v.decode("latin-1") for k, v in scope["headers"]
                         if k == b"x-forwarded-for"]
            scope = {**scope, "client": (self.proxies.client(host, forwarded), port)}
        await self.app(scope, receive, send)

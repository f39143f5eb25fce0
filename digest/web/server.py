"""Running the readers' app under uvicorn with limits on what a client may hold:

- `[web] request_timeout`: a connection must deliver a whole request's headers within
  it, counted from when it opened or when its previous answer went out (uvicorn's h11
  protocol has no such timer: a connection that never finishes a request is held for
  ever), and the body within as long again (digest.web.middleware.BodyGuard);
- `[web] keep_alive`: an idle kept-alive connection is closed after it;
- `[web] max_connections`, and an eighth of it (at least 8) for one client that is
  not a trusted proxy (an IPv6 one by its /64), so one client cannot hold them all:
  a connection past either is answered 503 as soon as it opens
  (nothing of its request read), with the security headers, and logged as one WARNING
  a minute with a count (uvicorn's own cap answered without them, and logged a line
  for every refused request: a log flood at a few thousand requests a second);
- uvicorn's 400 for a request it cannot parse carries the security headers too;
- no WebSocket: an `Upgrade:` request is answered as plain HTTP, without uvicorn's two
  WARNING lines for each;
- the access log is digest's (tokens redacted, clients hashed), not uvicorn's."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from digest.config.schema import Config
from digest.web.limits import network
from digest.web.middleware import SECURITY_HEADERS
from digest.web.proxies import TrustedProxies
from digest.web.serverlog import configure

log = logging.getLogger("digest.web.server")
CAP_LOG_EVERY = 60.0  # seconds between two "connection cap reached" lines
_SECURITY = "".join(f"{k}: {v}\r\n" for k, v in SECURITY_HEADERS.items()).encode()
_FULL = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
         b"content-length: 19\r\nconnection: close\r\n" + _SECURITY
         + b"\r\nService Unavailable")


def per_client_cap(max_connections: int) -> int:
    """How many connections one client (an IPv6 client by its /64) that is not a
    trusted proxy may hold: an eighth of the cap, at least 8."""
    return max(8, max_connections // 8)


class _CapLog:
    """One WARNING every CAP_LOG_EVERY seconds while connections are refused."""

    last: float | None = None
    held = 0

    @classmethod
    def refused(cls, why: str) -> None:
        now = time.monotonic()
        if cls.last is not None and now - cls.last < CAP_LOG_EVERY:
            cls.held += 1
            return
        more = f" ({cls.held} more since the last line)" if cls.held else ""
        log.warning("connection refused with 503: %s%s", why, more)
        cls.last, cls.held = now, 0


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection that has not sent a request's
    headers `header_timeout` seconds after it opened or after its last answer."""

    header_timeout: float = 10.0
    max_connections: int | None = None
    proxies: TrustedProxies = TrustedProxies(())
    per_client: dict[str, int] = {}  # open connections by client; each server's own

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._refused = False  # past [web] max_connections: answered 503
        self._client: str | None = None  # counted in per_client

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        waiting = self.cycle is None or self.cycle.response_complete
        if waiting and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        cap = self.max_connections
        why = ""
        if cap is not None and len(self.connections) > cap:  # this one counted
            why = f"{cap} connections open, the [web] max_connections cap"
        peer = transport.get_extra_info("peername")
        if cap is not None and peer and not self.proxies.trusts(str(peer[0])):
            self._client = network(str(peer[0]))
            held = self.per_client[self._client] = self.per_client.get(self._client, 0) + 1
            if held > per_client_cap(cap) and not why:
                why = (f"one client holds {per_client_cap(cap)} connections, an eighth of "
                       "[web] max_connections")
        if why:
            # Answered and half-closed at once; what the client sends is read and
            # dropped (closing with it unread would reset the connection, and the
            # client would never see the 503) until it hangs up or the timer ends it.
            self._refused = True
            transport.write(_FULL)
            if transport.can_write_eof():
                transport.write_eof()
            _CapLog.refused(why)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if not self._refused:
            super().data_received(data)

    def _unsupported_upgrade_warning(self) -> None:
        """An `Upgrade:` request is answered as plain HTTP: nothing to warn about (uvicorn
        logged two WARNINGs for each, a log flood anyone could send)."""

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request it cannot parse, with the security headers."""
        event = h11.Response(status_code=400, reason=b"Bad Request", headers=[
            (b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close"),
            *((k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items())])
        self.transport.write(self.conn.send(event))
        self.transport.write(self.conn.send(h11.Data(data=msg.encode("ascii"))))
        self.transport.write(self.conn.send(h11.EndOfMessage()))
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._client is not None:
            left = self.per_client.pop(self._client, 1) - 1
            if left > 0:
                self.per_client[self._client] = left
            self._client = None
        super().connection_lost(exc)

    def handle_events(self) -> None:
        before = self.cycle
        super().handle_events()
        if self.cycle is not before and self.cycle is not None:  # a request's headers came
            self._disarm()

    def on_response_complete(self) -> None:
        if not self.transport.is_closing():
            self._arm()
        super().on_response_complete()


def guarded_protocol(header_timeout: float, max_connections: int | None = None,
                     proxies: TrustedProxies | None = None) -> type[GuardedH11Protocol]:
    return type("GuardedH11Protocol", (GuardedH11Protocol,),
                {"header_timeout": float(header_timeout), "max_connections": max_connections,
                 "proxies": proxies or TrustedProxies(()), "per_client": {}})


def server_config(app: ASGIApp, config: Config, host: str, port: int) -> uvicorn.Config:
    """uvicorn's settings from `[web]`: timeouts, the connection cap (our protocol's,
    not uvicorn's `limit_concurrency`), our protocol and our logging (uvicorn's own
    access log and proxy headers off: digest does both)."""
    web = config.web
    return uvicorn.Config(app, host=host, port=port,
                          http=guarded_protocol(web.request_timeout, web.max_connections,
                                                TrustedProxies(web.trusted_proxies)),
                          timeout_keep_alive=web.keep_alive, access_log=False,
                          ws="none",  # no WebSocket route: an installed library is not used
                          proxy_headers=False, server_header=False, log_config=None,
                          lifespan="on")  # the confirmation worker starts and stops with it


def run(app: ASGIApp, config: Config, secret: bytes, host: str, port: int) -> None:
    configure(config.log.format, secret, config.log.level)
    uvicorn.Server(server_config(app, config, host, port)).run()

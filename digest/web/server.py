"""Running the readers' app under uvicorn with limits on what a client may hold:

- `[web] request_timeout`: a connection must deliver a whole request's headers within
  it, counted from when it opened or when its previous answer went out (uvicorn's h11
  protocol has no such timer: a connection that never finishes a request is held for
  ever), and the body within as long again (digest.web.middleware.BodyGuard);
- `[web] keep_alive`: an idle kept-alive connection is closed after it;
- `[web] max_connections`: past it, uvicorn answers 503 (`limit_concurrency`);
- the access log is digest's (tokens redacted, clients hashed), not uvicorn's."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from digest.config.schema import Config
from digest.web.serverlog import configure


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection that has not sent a request's
    headers `header_timeout` seconds after it opened or after its last answer."""

    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

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
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
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


def guarded_protocol(header_timeout: float) -> type[GuardedH11Protocol]:
    return type("GuardedH11Protocol", (GuardedH11Protocol,),
                {"header_timeout": float(header_timeout)})


def server_config(app: ASGIApp, config: Config, host: str, port: int) -> uvicorn.Config:
    """uvicorn's settings from `[web]`: timeouts, the connection cap, our protocol and
    our logging (uvicorn's own access log and proxy headers off: digest does both)."""
    web = config.web
    return uvicorn.Config(app, host=host, port=port, http=guarded_protocol(web.request_timeout),
                          timeout_keep_alive=web.keep_alive,
                          limit_concurrency=web.max_connections, access_log=False,
                          proxy_headers=False, server_header=False, log_config=None,
                          lifespan="on")  # the confirmation worker starts and stops with it


def run(app: ASGIApp, config: Config, secret: bytes, host: str, port: int) -> None:
    configure(config.log.format, secret, config.log.level)
    uvicorn.Server(server_config(app, config, host, port)).run()

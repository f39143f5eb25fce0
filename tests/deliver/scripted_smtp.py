"""aiosmtpd scripted to lose the connection at a chosen point of a chosen message, and
to take a set time per message (a helper for the send tests, not a test module).

`Scripted` is tests.smtp_server's `Recorder` plus:

- `drops[address] = point`: the first message to that address loses its connection at
  `point`, later ones go through:
  - "rcpt": at RCPT, before DATA (the client knows nothing was sent);
  - "data": right after the 354, before any of the message arrives. The 354 and the
    FIN leave in one TCP segment (TCP_CORK, then shutdown), so the client sees the
    hang-up no later than the 354: a deterministic "drop before the end-of-data dot";
  - "dot": after the whole message and its dot arrived, before it is accepted (not
    counted, no reply: the client cannot tell it from "reply");
  - "reply": after the message was accepted and counted, before the 250;
- `delay`: seconds each message takes at the server after its dot (asyncio.sleep: at
  least that long, so "the send takes at least N x delay" holds under any load);
- `on_message(total)` (Recorder's): called after each accepted message, before its
  reply: a test acts "when the server has received message k";
- `on_rcpt(address)`: called at each RCPT, before its reply.
"""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from tests.smtp_server import Recorder, SmtpServer, free_port

Point = Literal["rcpt", "data", "dot", "reply"]


@dataclass
class Scripted(Recorder):
    drops: dict[str, Point] = field(default_factory=dict)
    delay: float = 0.0
    dropped: Counter[str] = field(default_factory=Counter)  # point -> connections lost
    on_rcpt: Callable[[str], None] | None = None

    def take_drop(self, rcpts: list[str], point: Point) -> bool:
        """True once per address scripted to drop at `point`."""
        with self.lock:
            for rcpt in rcpts:
                if self.drops.get(rcpt.lower()) == point:
                    del self.drops[rcpt.lower()]
                    self.dropped[point] += 1
                    return True
        return False

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        if self.on_rcpt:
            self.on_rcpt(address)
        if self.take_drop([address], "rcpt"):
            server.transport.close()
            return "421 4.3.2 closing (never seen)"
        return await super().handle_RCPT(server, session, envelope, address, options)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.take_drop(envelope.rcpt_tos, "dot"):
            server.transport.close()  # later writes are dropped: no reply goes out
            return "451 never seen"
        if self.take_drop(envelope.rcpt_tos, "reply"):
            self.drop_after_data.update(r.lower() for r in envelope.rcpt_tos)
            try:
                return await super().handle_DATA(server, session, envelope)
            finally:
                self.drop_after_data.difference_update(r.lower() for r in envelope.rcpt_tos)
        return await super().handle_DATA(server, session, envelope)


class _DroppingSMTP(SMTP):
    """aiosmtpd's SMTP with the "data" drop point."""

    async def smtp_DATA(self, arg: str) -> None:  # noqa: N802 - aiosmtpd's name
        handler = self.event_handler
        envelope = self.envelope
        if (isinstance(handler, Scripted) and envelope is not None and envelope.rcpt_tos
                and not arg and self.session.host_name
                and handler.take_drop(envelope.rcpt_tos, "data")):
            assert self.transport is not None
            sock = self.transport.get_extra_info("socket")
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            sock.shutdown(socket.SHUT_WR)  # the FIN rides on the 354's segment
            self.transport.close()
            return
        await super().smtp_DATA(arg)


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _DroppingSMTP(self.handler, **self.SMTP_kwargs)


class ScriptedServer(SmtpServer):
    """SmtpServer (plain, no AUTH) around a `Scripted` handler."""

    def __init__(self, handler: Scripted) -> None:
        self.handler = handler
        self.port = free_port()
        self.security = "none"
        self.controller = _Controller(handler, hostname="127.0.0.1", port=self.port,
                                      server_hostname="localhost")

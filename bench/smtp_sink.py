"""A discarding SMTP server for the bench: aiosmtpd on 127.0.0.1, in its own process.

    python bench/smtp_sink.py LOG          # prints the port, then serves until SIGTERM

For each message it appends one JSON line to LOG: the envelope recipients, the size
and, for a multipart message, how many parts it has (rss2email's digest carries one
message/rfc822 part per entry). The harness counts the lines between runs.
"""

from __future__ import annotations

import email
import json
import signal
import socket
import sys
import threading

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, log: str) -> None:
        self.log = open(log, "a", buffering=1, encoding="utf-8")  # noqa: SIM115

    async def handle_DATA(self, server, session, envelope):  # noqa: N802, ANN001
        data = envelope.original_content or b""
        msg = email.message_from_bytes(data)
        parts = len(msg.get_payload()) if msg.is_multipart() else 1
        self.log.write(json.dumps({"to": envelope.rcpt_tos, "bytes": len(data),
                                   "parts": parts, "type": msg.get_content_type()}) + "\n")
        return "250 OK"


def main() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Sink(sys.argv[1]), hostname="127.0.0.1", port=port,
                            data_size_limit=0)
    controller.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    print(port, flush=True)
    done.wait()
    controller.stop()


if __name__ == "__main__":
    main()

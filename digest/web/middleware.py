"""The ASGI layers around the readers' pages, outermost first (see `guarded`):

- ClientAddress (digest.web.proxies): the client behind trusted proxies;
- AccessLog: one line a request, its tokens redacted and its client a short keyed
  hash, and the requests counter of /metrics;
- SecurityHeaders: CSP, nosniff, no referrer, no framing, on every answer (archive
  files, errors and 404s included);
- BodyGuard: before any handler parses anything, a body is at most `[web]
  max_body_kb` (by Content-Length, and counted as it streams for a chunked one), a
  form (application/x-www-form-urlencoded; multipart only for RFC 8058's one-click
  POST, which is never parsed), from this site (Sec-Fetch-Site, else Origin, else
  Referer, against `[newsletter] web_url`), and arrives within `[web]
  request_timeout` seconds; else 413, 415, 403 or 408, and the connection is closed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from digest import metrics
from digest.web.zone_field import SCRIPT_HASH

SECURITY_HEADERS = {
    # script-src: the subscribe form's one time-zone script, by hash (digest.web.zone_field)
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "img-src 'self' data:; form-action 'self'; "
                               f"frame-ancestors 'none'; script-src '{SCRIPT_HASH}'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",  # tokens ride in URLs
    "x-frame-options": "DENY",
}
FORM = "application/x-www-form-urlencoded"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Tokens in a query string under these names, whatever they look like.
TOKEN_PARAMS = frozenset({"token", "csrf"})
REDACTED = "[redacted]"
CLIENT_GONE = 499  # the status logged for a request its client abandoned
_TOKENISH = re.compile(r"[A-Za-z0-9_\-.=]{22,}")
_UNPRINTABLE = re.compile(r"[^\x21-\x7e]")
_ADDRESSISH = re.compile(r"[^\s@/?&=;,<>\"']+@[^\s@/?&=;,<>\"']+\.[^\s@/?&=;,<>\"']+")

access_log = logging.getLogger("digest.web.access")


def client_tag(secret: bytes, client: str) -> str:
    """A client (or an address) as logs show it: a short keyed hash, the same for the
    same client, that cannot be reversed by trying every IPv4 address."""
    return hmac.new(secret, client.lower().encode("utf-8", "replace"),
                    hashlib.sha256).hexdigest()[:10]


def looks_like_token(text: str, is_token: Callable[[str], bool] | None = None) -> bool:
    """A long run of base64url characters mixing cases and digits (a slug such as
    `2026-12-09-the-china-connection` does not), or whatever `is_token` opens."""
    text = unquote(text)
    if is_token is not None and len(text) >= 16 and is_token(text):
        return True
    return bool(_TOKENISH.fullmatch(text)) and any(c.isupper() for c in text) \
        and any(c.islower() for c in text) and any(c.isdigit() for c in text)


def has_address(text: str) -> bool:
    """Does `text` hold an email address, percent-encoded (even twice) or not? The log
    handler tags the addresses it sees; `bob%40example.com` it does not see."""
    for _ in range(3):
        if _ADDRESSISH.search(text):
            return True
        text = unquote(text)
    return bool(_ADDRESSISH.search(text))


def redact_target(raw_path: str, query: str, is_token: Callable[[str], bool] | None = None
                  ) -> str:
    """The request target for a log line: path segments and query keys and values that
    are tokens or hold an address replaced, and nothing unprintable (a request cannot
    forge a log line)."""
    path = "/".join(REDACTED if seg and (looks_like_token(seg, is_token) or has_address(seg))
                    else seg for seg in raw_path.split("/"))
    pairs = []
    for pair in query.split("&") if query else []:
        key, eq, val = pair.partition("=")
        if has_address(key):
            key = REDACTED
        if val and (unquote(key).lower() in TOKEN_PARAMS or looks_like_token(val, is_token)
                    or has_address(val)):
            val = REDACTED
        pairs.append(f"{key}{eq}{val}")
    target = path + ("?" + "&".join(pairs) if query else "")
    return _UNPRINTABLE.sub(lambda m: f"%{ord(m.group()):02X}" if ord(m.group()) < 256
                            else "?", target)


class AccessLog:
    def __init__(self, app: ASGIApp, secret: bytes,
                 is_token: Callable[[str], bool] | None = None) -> None:
        self.app, self.secret, self.is_token = app, secret, is_token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0  # no answer started

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except BaseException:
            status = status or 500  # what the client gets if the app fails before answering
            raise
        finally:
            # Nothing sent and no error: the client hung up before its request was whole
            # (nginx's 499), not a 500 in the log and in /metrics.
            status = status or CLIENT_GONE
            metrics.count("requests", status=str(status))
            if access_log.isEnabledFor(logging.INFO):
                client = scope["client"][0] if scope.get("client") else "-"
                target = redact_target(scope.get("raw_path", b"").decode("latin-1"),
                                       scope.get("query_string", b"").decode("latin-1"),
                                       self.is_token)
                access_log.info('client=%s "%s %s HTTP/%s" %d %.1fms',
                                client_tag(self.secret, client),
                                _UNPRINTABLE.sub("?", scope["method"]), target,
                                scope.get("http_version", "1.1"), status,
                                (time.perf_counter() - start) * 1000)


def security_headers(hotlinked_images: bool = False) -> dict[str, str]:
    """The headers of every answer; `hotlinked_images` (no `[newsletter] assets_url`:
    the archive shows the feeds' own pictures) lets https pictures load."""
    if not hotlinked_images:
        return SECURITY_HEADERS
    csp = SECURITY_HEADERS["content-security-policy"].replace("img-src 'self' data:",
                                                              "img-src 'self' data: https:")
    return {**SECURITY_HEADERS, "content-security-policy": csp}


class SecurityHeaders:
    def __init__(self, app: ASGIApp, headers: dict[str, str] = SECURITY_HEADERS) -> None:
        self.app = app
        self.headers = [(k.encode(), v.encode()) for k, v in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.decode("latin-1").lower() not in SECURITY_HEADERS]
                headers += self.headers
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)


class _TooLarge(Exception):
    pass


class _Gone(Exception):
    pass


def origin_of(url: str) -> str:
    """`scheme://host[:port]` in one spelling (lower case, no default port)."""
    parts = urlsplit(url.strip())
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        return ""
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


class BodyGuard:
    def __init__(self, app: ASGIApp, *, max_bytes: int, timeout: float, origin: str,
                 any_origin: frozenset[str] = frozenset({"/unsubscribe"}),
                 multipart: frozenset[str] = frozenset({"/unsubscribe"})) -> None:
        self.app, self.max_bytes, self.timeout = app, max_bytes, timeout
        self.origin, self.any_origin, self.multipart = origin, any_origin, multipart

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if length is not None and not length.strip().isdigit():
            await _refuse(send, 400, "Bad Content-Length.")
            return
        if length is not None and int(length) > self.max_bytes:
            await _refuse(send, 413, f"A request body here is at most {self.max_bytes} bytes.")
            return
        if chunked or (length is not None and int(length) > 0):
            kind = headers.get("content-type", "").partition(";")[0].strip().lower()
            if kind != FORM and not (kind == "multipart/form-data"
                                     and scope["path"] in self.multipart):
                await _refuse(send, 415, f"Send forms as {FORM}.")
                return
        if scope["method"] not in SAFE_METHODS and scope["path"] not in self.any_origin \
                and not self.same_site(headers):
            await _refuse(send, 403, "This form was not sent from this site.")
            return
        try:
            body = await asyncio.wait_for(self._read(receive), self.timeout)
        except _TooLarge:
            await _refuse(send, 413, f"A request body here is at most {self.max_bytes} bytes.")
            return
        except TimeoutError:
            await _refuse(send, 408, "The request took too long to arrive.")
            return
        except _Gone:
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def same_site(self, headers: Headers) -> bool:
        """Did a browser send this from this site? Sec-Fetch-Site, which pages cannot
        set, says so in every current browser; else the Origin, unless "null" (our
        pages' `Referrer-Policy: no-referrer` makes a browser send "null"); else the
        Referer. A request with none of them (no browser) is judged by its token."""
        fetch_site = headers.get("sec-fetch-site")
        if fetch_site is not None:
            return fetch_site.strip().lower() in ("same-origin", "none")
        origin = headers.get("origin")
        if origin and origin.strip().lower() != "null":
            return origin_of(origin) == self.origin
        referer = headers.get("referer")
        if referer:
            return origin_of(referer) == self.origin
        return True

    async def _read(self, receive: Receive) -> bytes:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Gone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


async def _refuse(send: Send, status: int, text: str) -> None:
    """A short plain answer that closes the connection: whatever is left of the body
    is never read."""
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})

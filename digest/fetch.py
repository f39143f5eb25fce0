"""Fetch one http(s) feed: one deadline, a size cap, redirects checked hop by hop.

- **One deadline** (`[collect] timeout`) covers resolving, connecting, TLS, headers and
  body. It is an `asyncio.timeout` around the whole fetch, so it cancels the read in
  progress; httpx's own timeouts are per operation and a server that drips a byte a
  second never trips them.
- **SSRF guard.** A feed whose configured host resolves only to internal addresses
  (loopback, private, link-local, ...) is an internal feed and may go anywhere. Any
  other feed may only reach public addresses, on the first request and on every
  redirect. Each request goes to the address that was checked (the URL's host is
  swapped for it; `Host` and TLS SNI keep the name), so DNS cannot change the answer
  between the check and the connection.
- Redirects are followed here, not by httpx, so every hop gets that check; at most
  `[collect] max_redirects` of them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from .config import CollectConfig, FeedConfig
from .errors import FeedError
from .hosts import Address, Resolver, system_resolve
from .store import FeedState

REDIRECTS = frozenset({301, 302, 303, 307, 308})

T = TypeVar("T")


@dataclass(frozen=True)
class Fetched:
    status: str  # "ok" | "not_modified"
    body: bytes
    base_url: str
    headers: dict[str, str]
    etag: str | None
    last_modified: str | None


async def fetch_http(
    feed: FeedConfig,
    state: FeedState | None,
    client: httpx.AsyncClient,
    settings: CollectConfig,
    resolve: Resolver,
) -> Fetched:
    try:
        async with asyncio.timeout(settings.timeout):
            return await _fetch(feed, state, client, settings, resolve)
    except (TimeoutError, httpx.TimeoutException):
        raise FeedError(
            f"feed {feed.name!r} ({feed.url}): no complete response within "
            f"{settings.timeout:g} s (timed out); the server is too slow or stalled; "
            "try again later or raise [collect] timeout"
        ) from None
    except httpx.HTTPError as e:
        raise FeedError(f"feed {feed.name!r} ({feed.url}): {type(e).__name__}: {e}; "
                        "check the url or try again later") from None


async def _fetch(
    feed: FeedConfig,
    state: FeedState | None,
    client: httpx.AsyncClient,
    settings: CollectConfig,
    resolve: Resolver,
) -> Fetched:
    headers = {}
    if state and state.etag:
        headers["If-None-Match"] = state.etag
    if state and state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    url = httpx.URL(feed.url)
    internal: bool | None = None  # decided by the configured host's own addresses
    for hop in range(settings.max_redirects + 1):
        addresses = await _addresses(feed, url, resolve)
        if internal is None:
            internal = not any(a.public for a in addresses)
        if not internal:
            _refuse_internal(feed, url, hop, addresses)
        response = await _send(client, url, addresses, headers)
        try:
            location = response.headers.get("location")
            if response.status_code in REDIRECTS and location:
                if hop == settings.max_redirects:
                    raise FeedError(f"feed {feed.name!r} ({feed.url}): more than "
                                    f"{settings.max_redirects} redirects ([collect] "
                                    "max_redirects); use the url the feed ends up at")
                url = _next_url(feed, url, location)
                continue
            return await _read(feed, state, response, url, settings)
        finally:
            await response.aclose()
    raise AssertionError("unreachable: the last hop returns or raises")


async def _addresses(feed: FeedConfig, url: httpx.URL, resolve: Resolver) -> list[Address]:
    port = url.port or (443 if url.scheme == "https" else 80)
    host = _host(url)
    try:
        if resolve is system_resolve and _is_ip(host):  # nothing to look up: no thread
            addresses = list(resolve(host, port))
        else:
            addresses = list(await _in_daemon_thread(resolve, host, port))
    except (OSError, UnicodeError, ValueError) as e:
        raise FeedError(f"feed {feed.name!r} ({feed.url}): cannot resolve {url.host!r}: "
                        f"{getattr(e, 'strerror', None) or e}; check the url") from None
    if not addresses:
        raise FeedError(f"feed {feed.name!r} ({feed.url}): {url.host!r} has no address; "
                        "check the url")
    return addresses


def _refuse_internal(feed: FeedConfig, url: httpx.URL, hop: int,
                     addresses: Sequence[Address]) -> None:
    bad = [a for a in addresses if not a.public]
    if not bad:
        return
    where = ", ".join(f"{a.ip} ({a.kind})" for a in bad)
    how = f"redirected to {url}, which resolves to" if hop else f"{url.host!r} resolves to"
    raise FeedError(
        f"feed {feed.name!r} ({feed.url}): {how} {where}; refused: a feed on the public "
        "internet may not lead collect to internal addresses (only a feed whose own url "
        "is on one may)"
    )


async def _send(client: httpx.AsyncClient, url: httpx.URL, addresses: Sequence[Address],
                headers: dict[str, str]) -> httpx.Response:
    """GET `url` from the first of its checked addresses that accepts a connection."""
    headers = {**headers, "Host": url.netloc.decode("ascii")}
    extensions: dict[str, Any] = {}
    if url.scheme == "https":
        extensions["sni_hostname"] = _host(url)  # the certificate is checked against it
    for address in addresses[:-1]:
        try:
            return await _send_to(client, url.copy_with(host=address.ip), headers, extensions)
        except httpx.ConnectError:
            continue
    return await _send_to(client, url.copy_with(host=addresses[-1].ip), headers, extensions)


async def _send_to(client: httpx.AsyncClient, url: httpx.URL, headers: dict[str, str],
                   extensions: dict[str, Any]) -> httpx.Response:
    opened: list[Any] = []

    async def trace(event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.complete":
            opened.append(info["return_value"])

    request = client.build_request("GET", url, headers=headers,
                                   extensions={**extensions, "trace": trace})
    try:
        return await client.send(request, stream=True)
    except BaseException:
        # httpcore (1.0.9) forgets the TCP stream when the deadline cancels a TLS
        # handshake; close it, or the socket lingers until garbage collection.
        for stream in opened:
            await stream.aclose()
        raise


def _host(url: httpx.URL) -> str:
    return url.raw_host.decode("ascii")  # IDNA-encoded; an IPv6 literal without brackets


def _next_url(feed: FeedConfig, url: httpx.URL, location: str) -> httpx.URL:
    try:
        target = url.join(location)
    except httpx.InvalidURL:
        target = None
    if target is None or target.scheme not in ("http", "https") or not target.host:
        raise FeedError(f"feed {feed.name!r} ({feed.url}): redirected to {location!r}, "
                        "which is not an http(s) url; check the url")
    return target


async def _read(feed: FeedConfig, state: FeedState | None, response: httpx.Response,
                url: httpx.URL, settings: CollectConfig) -> Fetched:
    if response.status_code == 304:
        return Fetched("not_modified", b"", str(url), {}, state.etag if state else None,
                       state.last_modified if state else None)
    if response.status_code >= 400:
        raise FeedError(
            f"feed {feed.name!r} ({feed.url}): server answered HTTP "
            f"{response.status_code} {response.reason_phrase}; "
            "check the url or try again later"
        )
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.max_bytes:
        raise _too_big(feed, settings)
    codings = [c.strip().lower() for c in response.headers.get("content-encoding", "").split(",")
               if c.strip() and c.strip().lower() != "identity"]
    if len(codings) > 1:
        # Each layer multiplies: 5 KB gzipped twice was 3 GB, unpacked in one piece
        # before the size cap below could count it. No feed needs two.
        raise FeedError(f"feed {feed.name!r} ({feed.url}): the server compressed the "
                        f"response {len(codings)} times ({', '.join(codings)}); refused")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():  # decoded: the cap counts unzipped bytes
        size += len(chunk)
        if size > settings.max_bytes:
            raise _too_big(feed, settings)
        chunks.append(chunk)
    return Fetched("ok", b"".join(chunks), str(url), dict(response.headers),
                   response.headers.get("etag"), response.headers.get("last-modified"))


def _too_big(feed: FeedConfig, settings: CollectConfig) -> FeedError:
    return FeedError(
        f"feed {feed.name!r} ({feed.url}): response larger than {settings.max_bytes} bytes; "
        "raise [collect] max_bytes if the feed really is that big"
    )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def _in_daemon_thread(fn: Callable[..., T], *args: Any) -> T:
    """fn(*args) in a daemon thread: a DNS lookup that hangs past the deadline is left
    behind instead of holding up the end of the event loop (as the default executor
    would) or the end of the process."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if done.done():  # cancelled by the deadline
            return
        if ok:
            done.set_result(value)
        else:
            done.set_exception(value)

    def run() -> None:
        value: Any
        ok, value = False, None
        try:
            ok, value = True, fn(*args)
        except BaseException as e:  # handed to the awaiting task
            ok, value = False, e
        try:
            loop.call_soon_threadsafe(settle, ok, value)
        except RuntimeError:  # the loop is gone: nobody waits any more
            pass

    threading.Thread(target=run, name="collect-resolve", daemon=True).start()
    return await done


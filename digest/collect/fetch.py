"""Fetch one http(s) feed, or one of its pictures: one deadline, a size cap, redirects
checked hop by hop.

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
- A picture or an article page (`fetch_linked`) gets the same deadline, cap and checks;
  whether it may reach internal addresses is decided by its feed's url, never its own.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from digest.collect.hosts import Address, Resolver, system_resolve
from digest.config.load import is_web
from digest.config.schema import CollectConfig, FeedConfig
from digest.errors import FeedError
from digest.models import FeedState

REDIRECTS = frozenset({301, 302, 303, 307, 308})


class DeferredTrust(ssl.SSLContext):
    """httpx's default context (verify=True: certificates and host names checked
    against certifi's CA bundle, or SSL_CERT_FILE / SSL_CERT_DIR when set), except that
    the CA bundle is read on the first TLS connection, not when the client is made:
    reading it costs 15-70 ms, and a build of http:// and file feeds makes no TLS
    connection at all (bench/RESULTS.md)."""

    def __new__(cls) -> DeferredTrust:
        return super().__new__(cls, ssl.PROTOCOL_TLS_CLIENT)  # checks host and chain

    def __init__(self) -> None:
        super().__init__()
        self._trust_lock = threading.Lock()
        self._trusted = False

    def _trust(self) -> None:
        with self._trust_lock:
            if self._trusted:
                return
            if os.environ.get("SSL_CERT_FILE"):  # as httpx's trust_env reads them
                self.load_verify_locations(cafile=os.environ["SSL_CERT_FILE"])
            elif os.environ.get("SSL_CERT_DIR"):
                self.load_verify_locations(capath=os.environ["SSL_CERT_DIR"])
            else:
                import certifi

                self.load_verify_locations(cafile=certifi.where())
            self._trusted = True

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        self._trust()
        return super().wrap_socket(*args, **kwargs)

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        self._trust()  # asyncio's and anyio's TLS
        return super().wrap_bio(*args, **kwargs)

T = TypeVar("T")


@dataclass(frozen=True)
class Fetched:
    status: str  # "ok" | "not_modified"
    body: bytes
    base_url: str
    headers: dict[str, str]
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True)
class _Target:
    """One thing to fetch, and how its error messages name it and end."""

    what: str  # "feed 'Markets' (https://...)", "picture https://... (feed 'Markets')"
    url: str
    etag: str | None = None
    last_modified: str | None = None
    # None: the url's own host decides (a feed's configured url); True: it may go to
    # internal addresses; False: only public ones, on every hop.
    internal: bool | None = None
    accept: str | None = None
    redirects_fix: str = "; use the url the feed ends up at"
    refusal: str = ("a feed on the public internet may not lead collect to internal "
                    "addresses (only a feed whose own url is on one may)")
    too_big_fix: str = "; raise [collect] max_bytes if the feed really is that big"
    timeout_key: str = "[collect] timeout"  # the setting whose deadline applies


IMAGE_ACCEPT = "image/jpeg, image/png, image/webp, image/gif;q=0.9, image/*;q=0.5"
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"


async def fetch_http(
    feed: FeedConfig,
    state: FeedState | None,
    client: httpx.AsyncClient,
    settings: CollectConfig,
    resolve: Resolver,
) -> Fetched:
    target = _Target(f"feed {feed.name!r} ({feed.url})", feed.url,
                     state.etag if state else None, state.last_modified if state else None)
    return await _fetch_with_deadline(target, client, settings, resolve)


# What a feed links to: how it is asked for, and how a refusal names it.
LINKED = {
    "picture": (IMAGE_ACCEPT, "a picture in a feed"),
    "article page": (PAGE_ACCEPT, "a story in a feed"),
}


async def fetch_linked(
    kind: str,
    url: str,
    *,
    feed_name: str,
    internal: bool,
    etag: str | None,
    last_modified: str | None,
    client: httpx.AsyncClient,
    settings: CollectConfig,
    resolve: Resolver,
    timeout_key: str = "[collect] timeout",
) -> Fetched:
    """A feed's picture, or a story's article page (`kind`, a key of LINKED), with the
    feed's deadline, byte cap and redirect checks. `timeout_key` names the setting
    `settings.timeout` came from, for the message when it passes.

    `internal` is the feed's standing, not the url's: what a feed on the public
    internet links to may only reach public addresses, wherever it points."""
    accept, whose = LINKED[kind]
    target = _Target(
        f"{kind} {url} (feed {feed_name!r})", url, etag, last_modified, internal, accept,
        redirects_fix="",
        refusal=f"{whose} on the public internet may not lead digest to internal addresses",
        too_big_fix=" ([collect] max_bytes)", timeout_key=timeout_key)
    return await _fetch_with_deadline(target, client, settings, resolve)


async def internal_feed(feed_url: str, resolve: Resolver) -> bool:
    """Whether a feed lives on internal addresses only, so its pictures may be there
    too. A feed read from disk is the editor's own file and counts as internal; a host
    that does not resolve counts as public (the stricter rule)."""
    if not is_web(feed_url):
        return True
    try:
        url = httpx.URL(feed_url)
        addresses = await _addresses(_Target(feed_url, feed_url), url, resolve)
    except (FeedError, httpx.InvalidURL):
        return False
    return not any(a.public for a in addresses)


async def _fetch_with_deadline(target: _Target, client: httpx.AsyncClient,
                               settings: CollectConfig, resolve: Resolver) -> Fetched:
    try:
        async with asyncio.timeout(settings.timeout):
            return await _fetch(target, client, settings, resolve)
    except (TimeoutError, httpx.TimeoutException):
        raise FeedError(
            f"{target.what}: no complete response within "
            f"{settings.timeout:g} s (timed out); the server is too slow or stalled; "
            f"try again later or raise {target.timeout_key}"
        ) from None
    except httpx.HTTPError as e:
        raise FeedError(f"{target.what}: {type(e).__name__}: {e}; "
                        "check the url or try again later") from None


async def _fetch(
    target: _Target,
    client: httpx.AsyncClient,
    settings: CollectConfig,
    resolve: Resolver,
) -> Fetched:
    headers = {}
    if target.etag:
        headers["If-None-Match"] = target.etag
    if target.last_modified:
        headers["If-Modified-Since"] = target.last_modified
    if target.accept:
        headers["Accept"] = target.accept
    url = httpx.URL(target.url)
    internal = target.internal  # None: decided by the configured host's own addresses
    for hop in range(settings.max_redirects + 1):
        addresses = await _addresses(target, url, resolve)
        if internal is None:
            internal = not any(a.public for a in addresses)
        if not internal:
            _refuse_internal(target, url, hop, addresses)
        response = await _send(client, url, addresses, headers)
        try:
            location = response.headers.get("location")
            if response.status_code in REDIRECTS and location:
                if hop == settings.max_redirects:
                    raise FeedError(f"{target.what}: more than "
                                    f"{settings.max_redirects} redirects ([collect] "
                                    f"max_redirects){target.redirects_fix}")
                url = _next_url(target, url, location)
                continue
            return await _read(target, response, url, settings)
        finally:
            await response.aclose()
    raise AssertionError("unreachable: the last hop returns or raises")


async def _addresses(target: _Target, url: httpx.URL, resolve: Resolver) -> list[Address]:
    port = url.port or (443 if url.scheme == "https" else 80)
    host = _host(url)
    try:
        if resolve is system_resolve and _is_ip(host):  # nothing to look up: no thread
            addresses = list(resolve(host, port))
        else:
            addresses = list(await _in_daemon_thread(resolve, host, port))
    except (OSError, UnicodeError, ValueError) as e:
        raise FeedError(f"{target.what}: cannot resolve {url.host!r}: "
                        f"{getattr(e, 'strerror', None) or e}; check the url") from None
    if not addresses:
        raise FeedError(f"{target.what}: {url.host!r} has no address; check the url")
    return addresses


def _refuse_internal(target: _Target, url: httpx.URL, hop: int,
                     addresses: Sequence[Address]) -> None:
    bad = [a for a in addresses if not a.public]
    if not bad:
        return
    where = ", ".join(f"{a.ip} ({a.kind})" for a in bad)
    how = f"redirected to {url}, which resolves to" if hop else f"{url.host!r} resolves to"
    raise FeedError(f"{target.what}: {how} {where}; refused: {target.refusal}")


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


def _next_url(target: _Target, url: httpx.URL, location: str) -> httpx.URL:
    try:
        next_url = url.join(location)
    except httpx.InvalidURL:
        next_url = None
    if next_url is None or next_url.scheme not in ("http", "https") or not next_url.host:
        raise FeedError(f"{target.what}: redirected to {location!r}, "
                        "which is not an http(s) url; check the url")
    return next_url


async def _read(target: _Target, response: httpx.Response, url: httpx.URL,
                settings: CollectConfig) -> Fetched:
    if response.status_code == 304:
        return Fetched("not_modified", b"", str(url), {}, target.etag, target.last_modified)
    if response.status_code >= 400:
        raise FeedError(
            f"{target.what}: server answered HTTP "
            f"{response.status_code} {response.reason_phrase}; "
            "check the url or try again later"
        )
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.max_bytes:
        raise _too_big(target, settings)
    codings = [c.strip().lower() for c in response.headers.get("content-encoding", "").split(",")
               if c.strip() and c.strip().lower() != "identity"]
    if len(codings) > 1:
        # Each layer multiplies: 5 KB gzipped twice was 3 GB, unpacked in one piece
        # before the size cap below could count it. No feed needs two.
        raise FeedError(f"{target.what}: the server compressed the "
                        f"response {len(codings)} times ({', '.join(codings)}); refused")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():  # decoded: the cap counts unzipped bytes
        size += len(chunk)
        if size > settings.max_bytes:
            raise _too_big(target, settings)
        chunks.append(chunk)
    return Fetched("ok", b"".join(chunks), str(url), dict(response.headers),
                   response.headers.get("etag"), response.headers.get("last-modified"))


def _too_big(target: _Target, settings: CollectConfig) -> FeedError:
    return FeedError(
        f"{target.what}: response larger than {settings.max_bytes} bytes{target.too_big_fix}"
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


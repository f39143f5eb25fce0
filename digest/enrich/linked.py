"""The one fetcher of a story's linked resources (its picture, its article page): the
collect client and its limits, a conditional GET with what the cache holds, and each
feed's standing (a feed on internal addresses may link internal resources; a public
one may not), looked up once per feed; a host name that failed to resolve lately
(`LookupFailures`, from the fetch cache) is not looked up again.

`recent` tells whether a cached resource was fetched (or revalidated) within a given
time, for a preview that reuses it without asking its host."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import TypeVar
from urllib.parse import urlsplit

import httpx

from digest.clock import utcnow
from digest.collect.feeds import make_client
from digest.collect.fetch import Fetched, fetch_linked, internal_feed
from digest.collect.hosts import LookupFailures, Resolver, remembering
from digest.config.schema import CollectConfig
from digest.models import Article

T = TypeVar("T")


class Linked:
    """Fetches for one build: `settings` (the collect limits, maybe another timeout:
    `timeout_key` names its setting in messages), the client to share (else one is
    opened per batch), the resolver and the names that failed it lately."""

    def __init__(self, settings: CollectConfig, client: httpx.AsyncClient | None,
                 resolve: Resolver, per_host: int = 0,
                 timeout_key: str = "[collect] timeout",
                 lookups: LookupFailures | None = None) -> None:
        self.settings = settings
        self.timeout_key = timeout_key
        self._client = client
        self._plain = resolve
        self._resolve = remembering(resolve, lookups) if lookups is not None else resolve
        self._per_host = per_host  # at most this many at a time per host; 0: no limit
        self._standing: dict[str, bool] = {}

    async def each(self, items: Mapping[str, T],
                   one: Callable[[str, T, httpx.AsyncClient], Awaitable[None]]) -> None:
        """`one(url, item, client)` for every item, `[collect] concurrency` at a time."""
        gate = asyncio.Semaphore(max(1, self.settings.concurrency))
        hosts: dict[str, asyncio.Semaphore] = {}

        async def limited(url: str, item: T, client: httpx.AsyncClient) -> None:
            if not self._per_host:
                async with gate:
                    return await one(url, item, client)
            host = urlsplit(url).hostname or ""
            async with gate, hosts.setdefault(host, asyncio.Semaphore(self._per_host)):
                return await one(url, item, client)

        if self._client is not None:
            await asyncio.gather(*(limited(u, i, self._client) for u, i in items.items()))
            return
        async with make_client(self.settings) as client:
            await asyncio.gather(*(limited(u, i, client) for u, i in items.items()))

    async def fetch(self, kind: str, url: str, article: Article, client: httpx.AsyncClient,
                    *, etag: str | None, last_modified: str | None) -> Fetched:
        """A conditional GET of `url` for `article`'s feed (raises FeedError)."""
        feed = article.feed_url
        if feed not in self._standing:
            self._standing[feed] = await internal_feed(feed, self._resolver(feed))
        return await fetch_linked(kind, url, feed_name=article.feed_name,
                                  internal=self._standing[feed], etag=etag,
                                  last_modified=last_modified, client=client,
                                  settings=self.settings, resolve=self._resolver(url),
                                  timeout_key=self.timeout_key)

    def fetched_for(self, feed: str) -> str:
        """What a cache entry fetched for `feed` records (see CachedPage.fetched_for): the
        feed, if its internal standing let the fetch reach internal addresses, else ""."""
        return feed if self._standing.get(feed) else ""

    def _resolver(self, url: str) -> Resolver:
        """An address in the url has no name to fail: the resolver as given (which the
        fetcher calls without a thread)."""
        try:
            ipaddress.ip_address(urlsplit(url).hostname or "")
        except ValueError:
            return self._resolve
        return self._plain


def recent(fetched_at: str, within: timedelta | None) -> bool:
    """Fetched (or revalidated) no longer than `within` ago (None: never recent)."""
    if within is None:
        return False
    try:
        then = datetime.fromisoformat(fetched_at)
    except ValueError:
        return False
    if then.tzinfo is None:
        return False
    return timedelta(0) <= utcnow() - then <= within

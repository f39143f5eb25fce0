"""The one fetcher of a story's linked resources (its picture, its article page): the
collect client and its limits, a conditional GET with what the cache holds, and each
feed's standing (a feed on internal addresses may link internal resources; a public
one may not), looked up once per feed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar
from urllib.parse import urlsplit

import httpx

from digest.collect.feeds import make_client
from digest.collect.fetch import Fetched, fetch_linked, internal_feed
from digest.collect.hosts import Resolver
from digest.config.schema import CollectConfig
from digest.models import Article

T = TypeVar("T")


class Linked:
    """Fetches for one build: `settings` (the collect limits, maybe another timeout:
    `timeout_key` names its setting in messages), the client to share (else one is
    opened per batch), the resolver."""

    def __init__(self, settings: CollectConfig, client: httpx.AsyncClient | None,
                 resolve: Resolver, per_host: int = 0,
                 timeout_key: str = "[collect] timeout") -> None:
        self.settings = settings
        self.timeout_key = timeout_key
        self._client = client
        self._resolve = resolve
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
            self._standing[feed] = await internal_feed(feed, self._resolve)
        return await fetch_linked(kind, url, feed_name=article.feed_name,
                                  internal=self._standing[feed], etag=etag,
                                  last_modified=last_modified, client=client,
                                  settings=self.settings, resolve=self._resolve,
                                  timeout_key=self.timeout_key)

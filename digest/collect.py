"""Fetch every feed concurrently and turn each into a FeedResult.

Only fetching and parsing happen here; `store` records the results. One failing feed
never stops the others: its error is returned in its FeedResult.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from .config import CollectConfig, FeedConfig
from .errors import FeedError
from .models import Article
from .parse import parse_feed
from .store import FeedState


@dataclass(frozen=True)
class Fetched:
    status: str  # "ok" | "not_modified"
    body: bytes
    base_url: str
    headers: dict[str, str]
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True)
class FeedResult:
    feed: FeedConfig
    status: str  # "ok" | "not_modified" | "error"
    articles: tuple[Article, ...] = ()
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    seconds: float = 0.0


def make_client(settings: CollectConfig) -> httpx.Client:
    return httpx.Client(
        follow_redirects=True,
        max_redirects=settings.max_redirects,
        timeout=httpx.Timeout(settings.timeout, connect=min(settings.timeout, 10.0)),
        headers={"User-Agent": settings.user_agent,
                 "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, "
                           "text/xml;q=0.8, */*;q=0.1"},
        limits=httpx.Limits(max_connections=settings.concurrency),
    )


def collect_feeds(
    feeds: Sequence[FeedConfig],
    states: dict[str, FeedState],
    client: httpx.Client,
    settings: CollectConfig,
    base_dir: Path,
    on_done: Callable[[FeedResult], None] | None = None,
) -> list[FeedResult]:
    """Fetch and parse all feeds; results come back in the order of `feeds`."""

    def one(feed: FeedConfig) -> FeedResult:
        result = collect_feed(feed, states.get(feed.url), client, settings, base_dir)
        if on_done:
            on_done(result)
        return result

    workers = max(1, min(settings.concurrency, len(feeds)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="collect") as pool:
        return list(pool.map(one, feeds))


def collect_feed(
    feed: FeedConfig,
    state: FeedState | None,
    client: httpx.Client,
    settings: CollectConfig,
    base_dir: Path,
) -> FeedResult:
    started = time.monotonic()
    try:
        fetched = fetch(feed, state, client, settings, base_dir)
        if fetched.status == "not_modified":
            return FeedResult(feed, "not_modified", etag=fetched.etag,
                              last_modified=fetched.last_modified,
                              seconds=time.monotonic() - started)
        articles = parse_feed(fetched.body, feed, fetched.base_url, fetched.headers)
        return FeedResult(feed, "ok", tuple(articles), fetched.etag, fetched.last_modified,
                          seconds=time.monotonic() - started)
    except FeedError as e:
        return FeedResult(feed, "error", error=str(e), seconds=time.monotonic() - started)
    except Exception as e:  # a bug in a parser must not take the other feeds down
        return FeedResult(feed, "error", error=f"feed {feed.name!r} ({feed.url}): "
                          f"unexpected {type(e).__name__}: {e}",
                          seconds=time.monotonic() - started)


def fetch(
    feed: FeedConfig,
    state: FeedState | None,
    client: httpx.Client,
    settings: CollectConfig,
    base_dir: Path,
) -> Fetched:
    if feed.url.startswith(("http://", "https://")):
        return _fetch_http(feed, state, client, settings)
    return _fetch_file(feed, state, settings, base_dir)


def local_path(url: str, base_dir: Path) -> Path:
    if url.startswith("file:"):
        return Path(unquote(urlsplit(url).path))
    path = Path(url).expanduser()
    return path if path.is_absolute() else base_dir / path


def _fetch_file(
    feed: FeedConfig, state: FeedState | None, settings: CollectConfig, base_dir: Path
) -> Fetched:
    path = local_path(feed.url, base_dir)
    try:
        stat = path.stat()
        if stat.st_size > settings.max_bytes:
            raise FeedError(
                f"feed {feed.name!r} ({path}) is {stat.st_size} bytes, over the "
                f"{settings.max_bytes}-byte cap; raise [collect] max_bytes if it is right"
            )
        # A file's validator is its size and mtime: unchanged means nothing to parse.
        etag = f'"{stat.st_size}-{stat.st_mtime_ns}"'
        if state and state.etag == etag:
            return Fetched("not_modified", b"", "", {}, etag, None)
        body = path.read_bytes()
    except FileNotFoundError:
        raise FeedError(
            f"feed {feed.name!r}: file {path} not found; check its url in [[feeds]]"
        ) from None
    except OSError as e:
        raise FeedError(f"feed {feed.name!r}: cannot read {path}: {e.strerror}") from None
    return Fetched("ok", body, path.resolve().as_uri(), {"content-type": "application/xml"},
                   etag, None)


def _fetch_http(
    feed: FeedConfig, state: FeedState | None, client: httpx.Client, settings: CollectConfig
) -> Fetched:
    headers = {}
    if state and state.etag:
        headers["If-None-Match"] = state.etag
    if state and state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    deadline = time.monotonic() + settings.timeout * 2
    try:
        with client.stream("GET", feed.url, headers=headers) as response:
            if response.status_code == 304:
                return Fetched("not_modified", b"", str(response.url), {},
                               state.etag if state else None,
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
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > settings.max_bytes:
                    raise _too_big(feed, settings)
                if time.monotonic() > deadline:
                    raise FeedError(
                        f"feed {feed.name!r} ({feed.url}): still downloading after "
                        f"{settings.timeout * 2:.0f}s; the server is too slow"
                    )
                chunks.append(chunk)
            body = b"".join(chunks)
            return Fetched("ok", body, str(response.url), dict(response.headers),
                           response.headers.get("etag"), response.headers.get("last-modified"))
    except httpx.TimeoutException:
        raise FeedError(
            f"feed {feed.name!r} ({feed.url}): timed out after {settings.timeout:g}s; "
            "the server did not answer in time ([collect] timeout)"
        ) from None
    except httpx.TooManyRedirects:
        raise FeedError(
            f"feed {feed.name!r} ({feed.url}): more than {settings.max_redirects} redirects"
        ) from None
    except httpx.HTTPError as e:
        raise FeedError(f"feed {feed.name!r} ({feed.url}): {type(e).__name__}: {e}") from None


def _too_big(feed: FeedConfig, settings: CollectConfig) -> FeedError:
    return FeedError(
        f"feed {feed.name!r} ({feed.url}): response larger than {settings.max_bytes} bytes; "
        "raise [collect] max_bytes if the feed really is that big"
    )


def feed_state_after(
    result: FeedResult, previous: FeedState | None, now: str
) -> FeedState:
    """The feed's stored health and validators after a fetch."""
    failed = result.status == "error"
    return FeedState(
        url=result.feed.url,
        name=result.feed.name,
        etag=(previous.etag if previous else None) if failed else result.etag,
        last_modified=(previous.last_modified if previous else None)
        if failed else result.last_modified,
        last_status=result.status,
        last_error=result.error,
        failures=((previous.failures if previous else 0) + 1) if failed else 0,
        last_fetched=now,
        last_ok=(previous.last_ok if previous else None) if failed else now,
    )

"""Fetch every feed concurrently and turn each into a FeedResult.

Only fetching and parsing happen here; `store` records the results. One failing feed
never stops the others: its error is returned in its FeedResult. Feeds are fetched on
one event loop (httpx.AsyncClient) so that a feed's deadline really cancels whatever it
is waiting for, however slowly a server drips its bytes (see `digest.collect.fetch`).
"""

from __future__ import annotations

import asyncio
import mimetypes
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from stat import S_ISREG

import httpx

from digest.collect.fetch import DeferredTrust, Fetched, fetch_http
from digest.collect.hosts import Resolver, system_resolve
from digest.collect.parse import ParsedFeed, read_feed, read_feed_fast
from digest.collect.workers import start_worker
from digest.config.load import is_web, local_path
from digest.config.schema import CollectConfig, FeedConfig
from digest.errors import FeedError
from digest.models import Article, FeedState, FetchStatus


@dataclass(frozen=True)
class FeedResult:
    feed: FeedConfig
    status: FetchStatus  # "warning": read despite errors (see error)
    articles: tuple[Article, ...] = ()
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    seconds: float = 0.0


def make_client(settings: CollectConfig) -> httpx.AsyncClient:
    """The client `collect_feeds` makes when none is passed in. Redirects are followed
    by `collect` itself, so every hop goes through the address check."""
    return httpx.AsyncClient(
        follow_redirects=False,
        timeout=httpx.Timeout(settings.timeout),
        headers={"User-Agent": settings.user_agent,
                 "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, "
                           "text/xml;q=0.8, */*;q=0.1"},
        limits=httpx.Limits(max_connections=settings.concurrency),
        verify=DeferredTrust(),
    )


def collect_feeds(
    feeds: Sequence[FeedConfig],
    states: dict[str, FeedState],
    client: httpx.AsyncClient | None,
    settings: CollectConfig,
    base_dir: Path,
    on_done: Callable[[FeedResult], None] | None = None,
    resolve: Resolver = system_resolve,
    sink: Callable[[FeedResult], None] | None = None,
) -> list[FeedResult]:
    """Fetch and parse all feeds; results come back in the order of `feeds`.

    With a `sink`, each result is handed to it as soon as it is parsed, and the results
    returned carry no articles: 50,000 articles are then never all in memory at once.

    Runs its own event loop, so call it from synchronous code. A client passed in (for
    tests, an `httpx.AsyncClient(transport=httpx.MockTransport(...))`) stays open and
    is used inside that loop only; without one, a client from `make_client` is used and
    closed. `resolve` maps a host to its addresses (see `digest.collect.hosts`)."""
    with parse_pool(len(feeds)) as pool:
        return asyncio.run(_collect_all(feeds, states, client, settings, base_dir, on_done,
                                        resolve, pool, sink))


# Parsing is CPU work under the GIL (with our cleaning, ~0.3 ms per item on the fast path,
# ~0.7 ms through feedparser: bench/bench_parse.py), and a hostile feed read by feedparser
# can make it take minutes: such feeds, and big ones, go to worker processes, one per
# CPU, each feed with a deadline ([collect] timeout), and a worker still busy when
# collect ends is stopped. A small feed the fast parser takes is read here instead
# (INLINE_MAX_BYTES). Results are the same either way (tests/collect/test_parse_pool.py,
# tests/collect/test_parse_inline.py).
POOL_MIN_FEEDS = 1
POOL_MAX_WORKERS = 8
WORKER_START = 60.0  # seconds to wait for the first worker to be up


@contextmanager
def parse_pool(feed_count: int) -> Iterator[ProcessPoolExecutor | None]:
    """Worker processes for parsing `feed_count` feeds (None for none)."""
    workers = max(1, min(_cpus(), POOL_MAX_WORKERS, feed_count))
    if feed_count < POOL_MIN_FEEDS:
        yield None
        return
    # fork starts a worker in milliseconds with everything imported, but is only safe
    # while this process has a single thread (the CLI here; not the daemon).
    method = ("fork" if threading.active_count() == 1
              and "fork" in multiprocessing.get_all_start_methods() else "spawn")
    # Each worker dies with this process and holds none of its locks (see
    # digest.collect.workers): a `build` killed with SIGKILL leaves nothing behind.
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method),
                               initializer=start_worker, initargs=(os.getpid(),))
    # Every worker is started now: forked before the event loop starts any thread;
    # spawned (one per task submitted while none is idle) not from inside the event
    # loop, where starting one blocks it while feeds' deadlines run. And a feed's
    # deadline covers its reading, not a worker's start (a spawned one imports digest
    # first, a second or more on a loaded machine): one is up before any fetch.
    wait([pool.submit(int) for _ in range(workers)], timeout=WORKER_START,
         return_when=FIRST_COMPLETED)
    workers_started = list(getattr(pool, "_processes", {}).values())
    try:
        yield pool
    finally:
        processes = list(getattr(pool, "_processes", {}).values()) or workers_started
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:  # idle ones exit now; one past its deadline is stopped
            process.join(timeout=2)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# How a worker reads a feed's bytes: read_feed, or (in tests) a module-level function
# of the same arguments that pickles by reference.
FeedReader = Callable[[bytes, FeedConfig, str, Mapping[str, str] | None], ParsedFeed]
# How this process reads a small feed: read_feed_fast (None: not the fast parser's).
InlineReader = Callable[[bytes, FeedConfig, str, Mapping[str, str] | None], ParsedFeed | None]

# A feed up to this size that the fast parser takes is read here, not in a worker: its
# reading is bounded by its size (a hostile 256 KB one took at most ~0.2 s of CPU), and
# for a feed this small (about ten stories) the round trip to a worker costs about as
# much as the reading. Measured (bench/RESULTS.md, "Cold path"), reading every feed of
# up to 256 KB here bought nothing at 50 feeds x 20 items on two CPUs and lost the
# second CPU at 1,000 x 50: bigger feeds, and those feedparser must read (unbounded on
# hostile input), go to the pool, where the deadline stops them.
INLINE_MAX_BYTES = 32 * 1024


async def _parse(pool: ProcessPoolExecutor | None, fetched: Fetched, feed: FeedConfig,
                 deadline: float, read: FeedReader = read_feed,
                 inline: InlineReader | None = read_feed_fast) -> ParsedFeed:
    args = (fetched.body, feed, fetched.base_url, fetched.headers)
    if inline is not None and len(fetched.body) <= INLINE_MAX_BYTES:
        started = time.monotonic()
        here = inline(*args)
        if here is not None:
            if time.monotonic() - started > deadline:  # the same rule as in a worker
                raise _too_long(feed, deadline)
            return here
    if pool is None:  # a caller of collect_feed without a pool: a thread
        return await asyncio.to_thread(read, *args)
    try:
        return await asyncio.wait_for(
            asyncio.get_running_loop().run_in_executor(pool, read, *args), deadline)
    except TimeoutError:
        raise _too_long(feed, deadline) from None
    except BrokenProcessPool:  # the worker died: the OOM killer, say
        raise FeedError(f"feed {feed.name!r} ({feed.url}): the process reading it stopped "
                        "(out of memory?); it is left out this time") from None


def _too_long(feed: FeedConfig, deadline: float) -> FeedError:
    return FeedError(f"feed {feed.name!r} ({feed.url}): reading it took over {deadline:g} s "
                     "(too big or too complex a document); it is left out this time; "
                     "raise [collect] timeout if it is right")


async def _collect_all(
    feeds: Sequence[FeedConfig],
    states: dict[str, FeedState],
    client: httpx.AsyncClient | None,
    settings: CollectConfig,
    base_dir: Path,
    on_done: Callable[[FeedResult], None] | None,
    resolve: Resolver,
    pool: ProcessPoolExecutor | None = None,
    sink: Callable[[FeedResult], None] | None = None,
) -> list[FeedResult]:
    gate = asyncio.Semaphore(max(1, settings.concurrency))

    async def one(feed: FeedConfig, http: httpx.AsyncClient) -> FeedResult:
        async with gate:
            result = await collect_feed(feed, states.get(feed.url), http, settings, base_dir,
                                        resolve, pool)
        if sink:
            sink(result)
        if on_done:
            on_done(result)
        return replace(result, articles=()) if sink else result

    if client is not None:
        return list(await asyncio.gather(*(one(feed, client) for feed in feeds)))
    async with make_client(settings) as own:
        return list(await asyncio.gather(*(one(feed, own) for feed in feeds)))


async def collect_feed(
    feed: FeedConfig,
    state: FeedState | None,
    client: httpx.AsyncClient,
    settings: CollectConfig,
    base_dir: Path,
    resolve: Resolver = system_resolve,
    pool: ProcessPoolExecutor | None = None,
    *,
    read: FeedReader = read_feed,
    inline: InlineReader | None = read_feed_fast,
) -> FeedResult:
    """Fetch and parse one feed (in `pool`, within [collect] timeout, when there is one).
    `read` parses the fetched bytes: read_feed, or a test's stand-in that blocks until
    it is told to before calling read_feed (tests/collect/test_parse_pool.py). A feed
    of at most INLINE_MAX_BYTES is first offered to `inline` in this process, which
    reads it if the fast parser takes it (None: nothing is read here)."""
    started = time.monotonic()
    try:
        if is_web(feed.url):  # HTTP:// too
            fetched = await fetch_http(feed, state, client, settings, resolve)
        else:
            fetched = await asyncio.to_thread(_fetch_file, feed, state, settings, base_dir)
        if fetched.status == "not_modified":
            return FeedResult(feed, "not_modified", etag=fetched.etag,
                              last_modified=fetched.last_modified,
                              seconds=time.monotonic() - started)
        parsed = await _parse(pool, fetched, feed, settings.timeout, read, inline)
        return FeedResult(feed, "warning" if parsed.problem else "ok", tuple(parsed.articles),
                          fetched.etag, fetched.last_modified, error=parsed.problem,
                          seconds=time.monotonic() - started)
    except FeedError as e:
        return FeedResult(feed, "error", error=str(e), seconds=time.monotonic() - started)
    except Exception as e:  # a bug in a parser must not take the other feeds down
        return FeedResult(feed, "error", error=f"feed {feed.name!r} ({feed.url}): "
                          f"unexpected {type(e).__name__}: {e}",
                          seconds=time.monotonic() - started)


def _fetch_file(
    feed: FeedConfig, state: FeedState | None, settings: CollectConfig, base_dir: Path
) -> Fetched:
    path = local_path(feed.url, base_dir)
    try:
        stat = path.stat()
        if not S_ISREG(stat.st_mode):  # /dev/zero or a FIFO: no size to trust, no end
            raise FeedError(f"feed {feed.name!r}: {path} is not a regular file; point its "
                            "url in [[feeds]] at a feed file")
        if stat.st_size > settings.max_bytes:
            raise _local_too_big(feed, path, settings)
        # A file's validator is its size and mtime: unchanged means nothing to parse.
        etag = f'"{stat.st_size}-{stat.st_mtime_ns}"'
        if state and state.etag == etag:
            return Fetched("not_modified", b"", "", {}, etag, None)
        with open(path, "rb") as f:
            body = f.read(settings.max_bytes + 1)  # it may have grown since stat
        if len(body) > settings.max_bytes:
            raise _local_too_big(feed, path, settings)
    except FileNotFoundError:
        raise FeedError(
            f"feed {feed.name!r}: file {path} not found; check its url in [[feeds]]"
        ) from None
    except OSError as e:
        raise FeedError(f"feed {feed.name!r}: cannot read {path}: {e.strerror}") from None
    # A file that can't be XML (.json, .pdf, .png) keeps the type its name gives, so an
    # error names what it really is; XML, text and unknown names are read as XML.
    guessed = mimetypes.guess_type(path.name)[0] or ""
    kind = guessed if guessed and "xml" not in guessed and not guessed.startswith("text/") \
        else "application/xml"
    return Fetched("ok", body, path.resolve().as_uri(), {"content-type": kind}, etag, None)


def _local_too_big(feed: FeedConfig, path: Path, settings: CollectConfig) -> FeedError:
    return FeedError(f"feed {feed.name!r} ({path}) is over the {settings.max_bytes}-byte cap; "
                     "raise [collect] max_bytes if it is right")


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

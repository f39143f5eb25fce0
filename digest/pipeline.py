"""Wire the stages together: collect -> store -> curate -> render -> deliver.

Nothing here decides layout or talks to the network itself; it calls the stages in
order and makes the commit rule hold: the outbox folder is written first, then the
database records the issue and consumes its articles; if that fails the folder goes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx

from . import clock
from .clock import utcnow
from .collect import FeedResult, collect_feeds, feed_state_after, make_client
from .config import Config
from .curate import NothingToBuild, curate_issue
from .deliver.outbox import issue_files
from .issue_folder import PREVIEW, IssueFolder, folder_name
from .lock import state_lock
from .models import Article, RenderedIssue
from .recover import recover_outbox
from .render import load_templates, render_issue
from .store import FeedState, Store, open_readonly, open_store
from .tokens import load_secret


@dataclass(frozen=True)
class FeedReport:
    name: str
    url: str
    status: str
    new: int
    seen: int
    error: str | None
    failures: int


@dataclass(frozen=True)
class CollectReport:
    feeds: tuple[FeedReport, ...]

    @property
    def new(self) -> int:
        return sum(f.new for f in self.feeds)

    @property
    def failed(self) -> int:
        return sum(1 for f in self.feeds if f.status == "error")


@dataclass(frozen=True)
class BuildResult:
    status: str  # "built" | "preview" | "nothing" | "exists"
    message: str
    path: Path | None = None
    rendered: RenderedIssue | None = None
    collected: CollectReport | None = None
    notes: tuple[str, ...] = field(default=())


def fetch_all(
    config: Config, states: dict[str, FeedState], client: httpx.Client | None,
    on_feed: Callable[[FeedResult], None] | None,
) -> list[FeedResult]:
    own = client is None
    client = client or make_client(config.collect)
    try:
        return collect_feeds(config.feeds, states, client, config.collect, config.base_dir,
                             on_feed)
    finally:
        if own:
            client.close()


def collect(
    config: Config, store: Store, client: httpx.Client | None = None,
    on_feed: Callable[[FeedResult], None] | None = None,
) -> CollectReport:
    """Fetch every feed and store new articles and feed health, in one transaction."""
    previous = store.feed_states()
    results = fetch_all(config, previous, client, on_feed)
    seen_at = utcnow()
    stamp = seen_at.isoformat(timespec="seconds")
    reports = []
    with store.transaction():
        for result in results:
            state = feed_state_after(result, previous.get(result.feed.url), stamp)
            store.save_feed_state(state)
            new = store.add_articles(result.articles, seen_at)
            reports.append(_report(result, new, state.failures))
    return CollectReport(tuple(reports))


def collect_locked(
    config: Config, client: httpx.Client | None = None,
    on_feed: Callable[[FeedResult], None] | None = None,
) -> CollectReport:
    """`collect` under the state lock, opening and closing the database."""
    with state_lock(config.state_path, config.state.lock_timeout):
        store = open_store(config.state_path)
        try:
            return collect(config, store, client, on_feed)
        finally:
            store.close()


def _report(result: FeedResult, new: int, failures: int) -> FeedReport:
    return FeedReport(result.feed.name, result.feed.url, result.status, new,
                      len(result.articles) - new, result.error, failures)


def build(
    config: Config,
    *,
    fetch: bool = True,
    slot: str | None = None,
    client: httpx.Client | None = None,
    on_feed: Callable[[FeedResult], None] | None = None,
    after_write: Callable[[Path], None] | None = None,
) -> BuildResult:
    """Collect (unless fetch=False), curate, render, write the outbox, commit."""
    templates = load_templates(config)  # a template error stops us before any work
    load_secret(config)  # and so does a missing token secret
    with state_lock(config.state_path, config.state.lock_timeout):
        store = open_store(config.state_path)
        try:
            notes = recover_outbox(store, config.outbox_path, config.newsletter.slug)
            report = collect(config, store, client, on_feed) if fetch else None
            if slot and (existing := store.issue_for_slot(slot)):
                return BuildResult("exists", f"issue #{existing.number} for {slot} was already "
                                   f"built: {existing.outbox_path}", collected=report)
            now = clock.now(config.tz)
            number = store.next_issue_number()
            curated = curate_issue(store.unused_articles(), config, number, now, slot)
            if isinstance(curated, NothingToBuild):
                return BuildResult("nothing", f"nothing new: {curated.reason}",
                                   collected=report, notes=tuple(notes))
            rendered = render_issue(curated, config, templates)
            name = folder_name(curated.date, config.newsletter.slug, number)
            folder = IssueFolder.write(config.outbox_path,
                                       issue_files(rendered, config, name))
            path = folder.path
            try:
                if after_write:
                    after_write(path)
                store.commit_issue(rendered.issue, rendered.subject, name)
            except BaseException:
                folder.remove()
                raise
            return BuildResult("built", f"issue #{number} written to {path}", path, rendered,
                               report, tuple(notes) + rendered.notes)
        finally:
            store.close()


def preview(
    config: Config,
    *,
    fetch: bool = True,
    client: httpx.Client | None = None,
    on_feed: Callable[[FeedResult], None] | None = None,
) -> BuildResult:
    """The same build, written to outbox/preview/, changing no state at all."""
    templates = load_templates(config)
    load_secret(config)
    store = open_readonly(config.state_path)
    try:
        articles: dict[str, Article] = {a.id: a for a in store.unused_articles()}
        report = None
        if fetch:
            previous = store.feed_states()
            results = fetch_all(config, previous, client, on_feed)
            known = store.known_ids(a.id for r in results for a in r.articles)
            seen_at = utcnow()
            stamp = seen_at.isoformat(timespec="seconds")
            reports = []
            for result in results:
                fresh = [a for a in result.articles if a.id not in known]
                for article in fresh:
                    articles.setdefault(article.id, replace(article, first_seen=seen_at))
                # The health `collect` would store, shown but not saved.
                state = feed_state_after(result, previous.get(result.feed.url), stamp)
                reports.append(_report(result, len(fresh), state.failures))
            report = CollectReport(tuple(reports))
        number = store.next_issue_number()
    finally:
        store.close()
    ordered = sorted(articles.values(), key=lambda a: (a.first_seen or utcnow(), a.id))
    curated = curate_issue(ordered, config, number, clock.now(config.tz))
    if isinstance(curated, NothingToBuild):
        return BuildResult("nothing", f"nothing to preview: {curated.reason}", collected=report)
    rendered = render_issue(curated, config, templates)
    path = IssueFolder.write(config.outbox_path, issue_files(rendered, config, PREVIEW),
                             replace=True).path
    return BuildResult("preview", f"preview of issue #{number} written to {path}", path,
                       rendered, report, rendered.notes)


"""Wire the stages together: collect -> store -> curate -> images -> render -> deliver.

Nothing here decides layout or talks to the network itself; it calls the stages in
order and makes the commit rule hold: the outbox folder is written first, then the
database records the issue and consumes its articles; if that fails the folder goes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import httpx

from digest import clock
from digest.clock import utcnow
from digest.collect.feeds import FeedResult, collect_feeds, feed_state_after
from digest.collect.hosts import Resolver, system_resolve
from digest.config.load import Config
from digest.curate.draft import Draft, curate_from_draft, read_draft, write_draft
from digest.curate.place import NothingToBuild, curate_issue, pin_key, upcoming
from digest.deliver.recipients import RecipientList, load_recipients
from digest.enrich.pages import Enricher
from digest.enrich.pictures import ImageFile, Pictures, strip_pictures
from digest.errors import CommitLost, ConfigError
from digest.models import Article, CuratedIssue, Decision, RenderedIssue
from digest.outbox.compose import issue_files
from digest.outbox.folder import PREVIEW, IssueFolder, Published, folder_name, published
from digest.render.email import (
    Templates,
    load_templates,
    personal_sizes,
    render_issue,
    unrenderable,
    web_page,
)
from digest.render.template_errors import InvalidMjml
from digest.state.lock import state_lock
from digest.state.recover import recover_outbox
from digest.state.store import FeedState, Store, open_readonly, open_store
from digest.tokens import load_secret

PICTURE_ROUNDS = 3  # times curate runs again after pictures turn out unusable
ENRICH_ROUNDS = 2  # times curate runs again after article pages gave stories pictures


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
    config: Config, states: dict[str, FeedState], client: httpx.AsyncClient | None,
    on_feed: Callable[[FeedResult], None] | None,
    sink: Callable[[FeedResult], None] | None = None,
    resolve: Resolver = system_resolve,
) -> list[FeedResult]:
    return collect_feeds(config.feeds, states, client, config.collect, config.base_dir,
                         on_feed, resolve=resolve, sink=sink)


def collect(
    config: Config, store: Store, client: httpx.AsyncClient | None = None,
    on_feed: Callable[[FeedResult], None] | None = None,
    resolve: Resolver = system_resolve,
) -> CollectReport:
    """Fetch every feed and store new articles and feed health, in one transaction.

    Each feed's articles are stored as soon as they are parsed (and then let go), so
    the transaction is open while feeds are fetched; nothing is committed unless all of
    it is."""
    previous = store.feed_states()
    seen_at = utcnow()
    stamp = seen_at.isoformat(timespec="seconds")
    reports: dict[str, FeedReport] = {}

    def keep(result: FeedResult) -> None:
        state = feed_state_after(result, previous.get(result.feed.url), stamp)
        store.save_feed_state(state)
        new = store.add_articles(result.articles, seen_at)
        reports[result.feed.url] = _report(result, new, state.failures)

    with store.transaction():
        results = fetch_all(config, previous, client, on_feed, sink=keep, resolve=resolve)
    return CollectReport(tuple(reports[r.feed.url] for r in results))


def collect_locked(
    config: Config, client: httpx.AsyncClient | None = None,
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
    client: httpx.AsyncClient | None = None,
    on_feed: Callable[[FeedResult], None] | None = None,
    after_write: Callable[[Path], None] | None = None,
    resolve: Resolver = system_resolve,
    draft: Path | None = None,
) -> BuildResult:
    """Collect (unless fetch=False), curate (or take the stories of an editor's
    `draft`), place the pictures, render, write the outbox, commit. `client` and
    `resolve` serve feeds and pictures alike."""
    templates = load_templates(config)  # a template error stops us before any work
    load_secret(config)  # and so does a missing token secret
    edited = (read_draft(draft), draft) if draft else None
    with state_lock(config.state_path, config.state.lock_timeout):
        store = open_store(config.state_path)
        try:
            notes = recover_outbox(store, config.outbox_path, config.newsletter.slug)
            report = collect(config, store, client, on_feed, resolve) if fetch else None
            if slot and (existing := store.issue_for_slot(slot)):
                return BuildResult("exists", f"issue #{existing.number} for {slot} was already "
                                   f"built: {existing.outbox_path}", collected=report)
            now = clock.now(config.tz)
            done = published(config.outbox_path, config.newsletter.slug)
            number = store.next_issue_number(after=done.last_number)
            candidates = store.unused_articles(bodies=False)
            pictures = Pictures(config, cached=store.cached_images, client=client,
                                resolve=resolve)
            pages = Enricher(config, cached=store.cached_page, client=client, resolve=resolve)
            listed = load_recipients(config)  # once: the size budget, the outbox copy
            made = make_issue(candidates, config, templates, number, now, slot, done,
                              store.with_bodies, pictures, edited, pages, listed)
            store.save_images(pictures.fresh())
            store.save_pages(pages.fresh())
            if isinstance(made, NothingToBuild):
                return BuildResult("nothing", f"nothing new: {made.reason}",
                                   collected=report, notes=tuple(notes))
            rendered, made_notes, images = made
            name = folder_name(rendered.issue.date, config.newsletter.slug, number)
            files = issue_files(rendered, config, name, state_id=store.state_id,
                                urls={a.id: a.url for a in candidates}, images=images,
                                web=web_page(rendered.issue, config, templates),
                                listed=listed)
            folder = IssueFolder.write(config.outbox_path, files)
            path = folder.path
            try:
                if after_write:
                    after_write(path)
                store.commit_issue(rendered.issue, rendered.subject, name)
            except CommitLost as e:
                # The folder is now the only record of this issue: keep it, so its
                # stories are not published again and its number is not reused.
                raise CommitLost(f"{e}; the issue folder {path} stays, and later builds "
                                 "will not repeat its stories") from None
            except BaseException:
                folder.remove()
                raise
            notes += made_notes
            if config.web.publish:  # the issue is committed: a failure here is a note
                notes.append(_publish_note(config))
            return BuildResult("built", f"issue #{number} written to {path}", path, rendered,
                               report, tuple(notes) + rendered.notes)
        finally:
            store.close()


def preview(
    config: Config,
    *,
    fetch: bool = True,
    client: httpx.AsyncClient | None = None,
    on_feed: Callable[[FeedResult], None] | None = None,
    resolve: Resolver = system_resolve,
    draft: Path | None = None,
) -> BuildResult:
    """The same build, written to outbox/preview/, changing no state at all (pictures
    are fetched, conditionally on what the state database has, but not kept)."""
    templates = load_templates(config)
    load_secret(config)
    edited = (read_draft(draft), draft) if draft else None
    store = open_readonly(config.state_path)
    try:
        articles: dict[str, Article] = {a.id: a for a in store.unused_articles()}
        report = None
        if fetch:
            previous = store.feed_states()
            results = fetch_all(config, previous, client, on_feed, resolve=resolve)
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
        done = published(config.outbox_path, config.newsletter.slug)
        number = store.next_issue_number(after=done.last_number)
        state_id = store.state_id
        ordered = sorted(articles.values(), key=lambda a: (a.first_seen or utcnow(), a.id))
        pictures = Pictures(config, cached=store.cached_images, preview=True, client=client,
                            resolve=resolve)
        pages = Enricher(config, cached=store.cached_page, client=client, resolve=resolve)
        listed = load_recipients(config)  # once: the size budget, the outbox copy
        made = make_issue(ordered, config, templates, number, clock.now(config.tz), None, done,
                          pictures=pictures, draft=edited, pages=pages, listed=listed)
    finally:
        store.close()
    if isinstance(made, NothingToBuild):
        return BuildResult("nothing", f"nothing to preview: {made.reason}", collected=report)
    rendered, notes, images = made
    files = issue_files(rendered, config, PREVIEW, state_id=state_id,
                        urls={a.id: a.url for a in ordered}, images=images,
                        web=web_page(rendered.issue, config, templates), listed=listed)
    path = IssueFolder.write(config.outbox_path, files, replace=True).path
    return BuildResult("preview", f"preview of issue #{number} written to {path}", path,
                       rendered, report, tuple(notes) + rendered.notes)


def make_issue(
    candidates: list[Article], config: Config, templates: Templates, number: int,
    now: datetime, slot: str | None, done: Published,
    with_bodies: Callable[[Sequence[Article]], dict[str, Article]] | None = None,
    pictures: Pictures | None = None,
    draft: tuple[Draft, Path] | None = None,
    pages: Enricher | None = None,
    listed: RecipientList | None = None,
) -> tuple[RenderedIssue, list[str], tuple[ImageFile, ...]] | NothingToBuild:
    """Curate, place the pictures and render. Stories the outbox shows were published
    before are left out (decision `published_before`), and so is any story that cannot
    be rendered (decision `unrenderable`): the issue goes on without it, and a note
    names it. A story whose picture cannot be used loses the picture and the stories
    are curated again (up to PICTURE_ROUNDS times), so the big story has a picture if
    any candidate has a usable one; the issue's notes name each such picture.

    `with_bodies` fills in the body_html of the placed stories, for candidates loaded
    without (see `Store.unused_articles`). Without `pictures` the feeds' pictures are
    shown as they are, unmeasured."""
    repeats = [a for a in candidates if a.url in done.urls]
    pool = [a for a in candidates if a.url not in done.urls]
    left_out = [(a, "published_before", f"already in issue #{done.urls[a.url]}")
                for a in repeats]
    notes: list[str] = []
    picture_notes: list[str] = []  # of pictures left out in earlier rounds
    round_notes: tuple[str, ...] = ()  # of this round's pictures
    rounds = page_rounds = 0
    # Once per build, not per round: the list (for the size budget) and, for a draft,
    # the published URLs as pins compare them.
    longest = personal_sizes(config, listed)
    used = {pin_key(url): n for url, n in done.urls.items()} if draft else {}
    while True:
        if draft:  # the editor's choice of stories, blocks, order, titles and note
            base = CuratedIssue(number, now, None, (), (), upcoming(config, now.date()), (),
                                slot)
            curated: CuratedIssue | NothingToBuild = curate_from_draft(
                draft[0], draft[1], pool, used, base)
        else:
            curated = curate_issue(pool, config, number, now, slot)
        if isinstance(curated, NothingToBuild):
            return curated
        extra = tuple(Decision(a.id, section, len(curated.decisions) + i, reason)
                      for i, (a, section, reason) in enumerate(left_out))
        curated = replace(curated, decisions=curated.decisions + extra)
        if with_bodies:
            full = with_bodies(curated.placed)
            curated = replace(
                curated, big_story=full[curated.big_story.id] if curated.big_story else None,
                need_to_know=tuple(full[a.id] for a in curated.need_to_know),
                read_more=tuple(full[a.id] for a in curated.read_more))
        page_notes: list[str] = []
        if pages:  # what the article pages add: a picture, a body, a summary
            before = {a.id: a.image for a in curated.placed}
            curated, page_notes = pages.enrich(curated)
            gained = [a for a in curated.placed if a.image and not before[a.id]]
            if gained and page_rounds < ENRICH_ROUNDS and not draft:
                # A story that has a picture now ranks and places as one that came with
                # it: curate again with what the pages said.
                page_rounds += 1
                better = {a.id: a for a in gained}
                pool = [better.get(a.id, a) for a in pool]
                continue
        images: tuple[ImageFile, ...] = ()
        if pictures:
            placement = pictures.place(curated)
            if placement.unusable and rounds < PICTURE_ROUNDS:
                rounds += 1
                picture_notes += placement.left_out
                pool = strip_pictures(pool, placement.unusable)
                continue
            curated, images = placement.issue, placement.files
            round_notes = placement.notes
        try:
            rendered = render_issue(curated, config, templates, longest)
        except Exception as error:
            if isinstance(error, ConfigError) and not isinstance(error, InvalidMjml):
                raise  # a template's own mistake (undefined name, self-include ...)
            bad = unrenderable(curated, config, templates, longest)
            if not bad or len(bad) == len(curated.placed):
                raise  # not the stories' fault: the template, or a bug
        else:
            if not rendered.issue.placed:  # the size budget dropped every card
                return NothingToBuild(
                    f"no story fits in [layout] max_html_kb = {config.layout.max_html_kb}; "
                    "raise it or show more story blocks; no issue built")
            shown = {a.image.url.rsplit("/", 1)[-1] for a in rendered.issue.placed
                     if a.image}  # a card dropped for size takes its file along
            images = tuple(i for i in images if i.name in shown)
            rendered = replace(rendered, notes=curated.notes + rendered.notes + tuple(
                dict.fromkeys(page_notes + picture_notes + list(round_notes))))
            return rendered, notes, images
        if draft:  # the editor chose these stories: say which, do not drop it silently
            named = next(a for a in curated.placed if a.id in bad)
            raise ConfigError(f"draft {draft[1]}: the story {named.url} cannot be rendered "
                              f"({bad[named.id]}); change its title or summary, or remove it")
        for article in curated.placed:
            if article.id in bad:
                reason = f"unrenderable: {bad[article.id]}"
                left_out.append((article, "unrenderable", reason))
                notes.append(f"left out {article.title[:80]!r} from feed "
                             f"{article.feed_name!r} ({article.url}): {reason}")
        pool = [a for a in pool if a.id not in bad]



def _publish_note(config: Config) -> str:
    """[web] publish: the site written again, or why not (the issue stands either way)."""
    from digest.errors import DigestError
    from digest.web.site import publish

    try:
        report = publish(config)
    except (DigestError, OSError) as e:
        return f"the web archive was not published: {e}; run `digest publish` again"
    return f"web archive published to {report.path} ({report.issues} issue(s))"


def make_draft(
    config: Config,
    out: Path,
    *,
    fetch: bool = True,
    client: httpx.AsyncClient | None = None,
    on_feed: Callable[[FeedResult], None] | None = None,
    resolve: Resolver = system_resolve,
) -> BuildResult:
    """Collect (unless fetch=False), curate, and write the next issue as an editable
    draft at `out`; no issue is built and no article is used up."""
    with state_lock(config.state_path, config.state.lock_timeout):
        store = open_store(config.state_path)
        try:
            report = collect(config, store, client, on_feed, resolve) if fetch else None
            made = utcnow()
            done = published(config.outbox_path, config.newsletter.slug)
            number = store.next_issue_number(after=done.last_number)
            candidates = [a for a in store.unused_articles(bodies=False)
                          if a.url not in done.urls]
        finally:
            store.close()
    curated = curate_issue(candidates, config, number, clock.now(config.tz))
    if isinstance(curated, NothingToBuild):
        return BuildResult("nothing", f"no draft written: {curated.reason}", collected=report)
    by_id = {a.id: a for a in candidates}
    passed = [by_id[d.article_id] for d in curated.decisions if d.section == "passed_over"]
    write_draft(out, curated, passed, made, config.newsletter.name)
    return BuildResult("draft", f"draft of issue #{number} written to {out}", out,
                       collected=report, notes=curated.notes)

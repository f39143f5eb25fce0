"""Wire the stages together: collect -> store -> curate -> images -> render -> deliver.

Nothing here decides layout or talks to the network itself; it calls the stages in
order and makes the commit rule hold: the outbox folder is written first, then the
database records the issue and consumes its articles; if that fails the folder goes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx

from digest import clock
from digest.clock import utcnow
from digest.collect.feeds import FeedResult, collect_feeds, feed_state_after
from digest.collect.hosts import Resolver, system_resolve
from digest.config.schema import Config
from digest.curate.assemble import Assembled, IssuePlan, assemble_issue
from digest.curate.draft import Draft, read_draft, write_draft
from digest.curate.place import NothingToBuild, curate_issue
from digest.curate.topics import (
    FULL,
    Matcher,
    TopicSet,
    nearest,
    read_topics,
    set_key,
    topic_names,
)
from digest.curate.variants import Variant, assemble_variants, with_variant_stories
from digest.deliver.order import Unsent as Unsent  # re-exported: the daemon reads
from digest.deliver.order import check_send_order as check_send_order  # them here
from digest.deliver.order import unsent_issues as unsent_issues
from digest.deliver.recipients import RecipientList, load_recipients
from digest.deliver.variants import reader_topics, readers_per_set
from digest.enrich.pages import Enricher
from digest.enrich.pictures import Pictures
from digest.errors import CommitLost, ConfigError, DigestError
from digest.models import (
    Article,
    BuildStatus,
    FeedState,
    RenderedIssue,
)
from digest.outbox.compose import IssueFiles, issue_files, with_variants
from digest.outbox.folder import PREVIEW, IssueFolder, VariantRecord, folder_name, published
from digest.render.email import (
    Templates,
    load_templates,
    web_page,
)
from digest.state.cache import FRESH_FOR, Cache, open_cache
from digest.state.recover import recover_outbox
from digest.state.store import Store, locked_store, open_readonly
from digest.tokens import load_secret


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
    status: BuildStatus
    message: str
    path: Path | None = None
    rendered: RenderedIssue | None = None
    collected: CollectReport | None = None
    notes: tuple[str, ...] = field(default=())


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
        results = _fetch(config, previous, client, on_feed, sink=keep, resolve=resolve)
    return CollectReport(tuple(reports[r.feed.url] for r in results))


def collect_locked(
    config: Config, client: httpx.AsyncClient | None = None,
    on_feed: Callable[[FeedResult], None] | None = None,
) -> CollectReport:
    """`collect` under the state lock, opening and closing the database."""
    with locked_store(config) as store:
        return collect(config, store, client, on_feed)


def _fetch(config: Config, states: dict[str, FeedState], client: httpx.AsyncClient | None,
           on_feed: Callable[[FeedResult], None] | None,
           sink: Callable[[FeedResult], None] | None = None,
           resolve: Resolver = system_resolve) -> list[FeedResult]:
    return collect_feeds(config.feeds, states, client, config.collect, config.base_dir,
                         on_feed, resolve=resolve, sink=sink)


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
    start = _Start.of(config, draft)  # a template error stops us before any work
    with locked_store(config) as store:
        notes = recover_outbox(store, config.outbox_path, config.newsletter.slug)
        report = collect(config, store, client, on_feed, resolve) if fetch else None
        if slot and (existing := store.issue_for_slot(slot)):
            return BuildResult("exists", f"issue #{existing.number} for {slot} was already "
                               f"built: {existing.outbox_path}", collected=report)
        candidates = store.unused_articles(bodies=False)
        with open_cache(config.state_path) as cache:
            plan = prepare(config, store, start, slot=slot, client=client, resolve=resolve,
                           cache=cache)
            plan = replace(plan, with_bodies=store.with_bodies)
            made = assemble_issue(candidates, plan)
            # before the caches are kept: the editions place pictures too
            editions = _Editions.of(config, plan, candidates, made)
            _keep(cache, plan)
        if isinstance(made, NothingToBuild):
            return BuildResult("nothing", f"nothing new: {made.reason}",
                               collected=report, notes=tuple(notes))
        made = with_variant_stories(made, editions.variants)
        rendered, number = made.rendered, plan.number
        name = folder_name(rendered.issue.date, config.newsletter.slug, number)
        full = _files(made, editions.for_readers(plan, FULL), name, store.state_id, candidates)
        files = editions.files(full, plan, name, store.state_id, candidates)
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
        notes += made.notes + editions.notes
        if config.web.publish:  # the issue is committed: a failure here is a note
            notes.append(_publish_note(config))
        return BuildResult("built", f"issue #{number} written to {path}", path, rendered,
                           report, tuple(notes) + rendered.notes)


def preview(
    config: Config,
    *,
    fetch: bool = True,
    client: httpx.AsyncClient | None = None,
    on_feed: Callable[[FeedResult], None] | None = None,
    resolve: Resolver = system_resolve,
    draft: Path | None = None,
    topics: str | None = None,
) -> BuildResult:
    """The same build, written to outbox/preview/, changing no state at all: what is
    fetched for pictures and pages goes to the cache file beside it (digest.state.cache),
    and what that holds from the last few hours is used without asking again. With
    `topics` ("markets,tech"), the edition readers of those [[topics]] get."""
    start = _Start.of(config, draft)
    wanted = _preview_topics(config, topics)
    found = preview_candidates(config, fetch=fetch, client=client, on_feed=on_feed,
                               resolve=resolve)
    made = _preview_issue(config, start, found.articles, client, resolve, wanted)
    if isinstance(made, NothingToBuild):
        return BuildResult("nothing", f"nothing to preview: {made.reason}",
                           collected=found.report)
    path = IssueFolder.write(config.outbox_path, made.files, replace=True).path
    return BuildResult("preview", f"preview of issue #{made.number} written to {path}", path,
                       made.rendered, found.report, made.notes)


@dataclass(frozen=True)
class PreviewCandidates:
    """What a preview curates from: the unused stored articles and, when fetched, the
    feeds' new ones (kept in memory only), oldest first; and the collect report."""

    articles: tuple[Article, ...]
    report: CollectReport | None


@dataclass(frozen=True)
class PreviewIssue:
    """A preview made in memory: the files an issue folder would hold, not written."""

    number: int
    rendered: RenderedIssue
    files: IssueFiles
    notes: tuple[str, ...]


def preview_candidates(
    config: Config,
    *,
    fetch: bool = True,
    client: httpx.AsyncClient | None = None,
    on_feed: Callable[[FeedResult], None] | None = None,
    resolve: Resolver = system_resolve,
) -> PreviewCandidates:
    """The candidates of a preview, reading the state database only."""
    store = open_readonly(config.state_db)
    try:
        articles: dict[str, Article] = {a.id: a for a in store.unused_articles()}
        report = None
        if fetch:
            previous = store.feed_states()
            results = _fetch(config, previous, client, on_feed, resolve=resolve)
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
    finally:
        store.close()
    ordered = sorted(articles.values(), key=lambda a: (a.first_seen or utcnow(), a.id))
    return PreviewCandidates(tuple(ordered), report)


def render_preview(
    config: Config,
    candidates: Sequence[Article],
    *,
    draft: Path | None = None,
    templates: Templates | None = None,
    client: httpx.AsyncClient | None = None,
    resolve: Resolver = system_resolve,
) -> PreviewIssue | NothingToBuild:
    """The next issue from `candidates` (see preview_candidates), made in memory and
    written nowhere: `digest preview --serve` renders it again on every save, with the
    `templates` it loaded before when none of them changed."""
    return _preview_issue(config, _Start.of(config, draft, templates), candidates, client,
                          resolve)


def _preview_issue(config: Config, start: _Start, candidates: Sequence[Article],
                   client: httpx.AsyncClient | None, resolve: Resolver,
                   wanted: TopicSet = FULL) -> PreviewIssue | NothingToBuild:
    store = open_readonly(config.state_db)
    try:
        with open_cache(config.state_path, make_folder=False) as cache:  # never the state
            plan = prepare(config, store, start, preview=True, client=client,
                           resolve=resolve, cache=cache)
            made = assemble_issue(candidates, plan)
            topic_note: tuple[str, ...] = ()
            if wanted and plan.draft:
                topic_note = ("--topics: a draft has the full edition only; the preview "
                              "shows it",)
            elif wanted and not isinstance(made, NothingToBuild):
                made, topic_note = _preview_edition(candidates, plan, wanted, made)
            _keep(cache, plan)
        state_id = store.state_id
    finally:
        store.close()
    if isinstance(made, NothingToBuild):
        return made
    return PreviewIssue(plan.number, made.rendered,
                        _files(made, plan, PREVIEW, state_id, candidates),
                        made.notes + made.rendered.notes + topic_note)


def _preview_topics(config: Config, topics: str | None) -> TopicSet:
    """`--topics NAME,...` as a topic set; ConfigError for a name not in [[topics]]."""
    if topics is None:
        return FULL
    known, unknown = read_topics(topics, config, sep=",")
    if unknown or not known:
        names = ", ".join(topic_names(config)) or "none: the config has no [[topics]]"
        what = f"{unknown[0]!r} is not a topic" if unknown else "no topic named"
        raise ConfigError(f"--topics: {what}; the topics are {names}")
    return known


def _preview_edition(candidates: Sequence[Article], plan: IssuePlan, topics: TopicSet,
                     full: Assembled) -> tuple[Assembled, tuple[str, ...]]:
    """The edition of `topics`, as a build makes it; the full one when it falls back."""
    made = assemble_issue(Matcher(plan.config).within(topics, candidates), plan)
    key = set_key(topics)
    if isinstance(made, NothingToBuild):
        return full, (f"topics {key}: too few stories for an edition of its own "
                      f"({made.reason.split(';')[0]}); the preview shows the full edition",)
    return made, (f"the preview shows the {key} edition",)


@dataclass(frozen=True)
class _Start:
    """What is checked before any work: the templates load, the token secret is set,
    the draft (if any) reads."""

    templates: Templates
    draft: tuple[Draft, Path] | None

    @classmethod
    def of(cls, config: Config, draft: Path | None,
           templates: Templates | None = None) -> _Start:
        templates = templates or load_templates(config)
        load_secret(config)
        return cls(templates, (read_draft(draft), draft) if draft else None)


def prepare(config: Config, store: Store, start: _Start, *, slot: str | None = None,
            preview: bool = False, client: httpx.AsyncClient | None = None,
            resolve: Resolver = system_resolve, cache: Cache | None = None) -> IssuePlan:
    """The next issue's plan, shared by build and preview: its number (after what the
    outbox published), the time, the picture and page fetchers over the fetch cache
    (a preview reuses what it fetched lately, unasked; a build asks conditionally),
    and the recipient list, read once."""
    done = published(config.outbox_path, config.newsletter.slug)
    cache = cache if cache is not None else Cache(None)
    fresh_for = FRESH_FOR if preview else None
    return IssuePlan(
        config=config, templates=start.templates,
        number=store.next_issue_number(after=done.last_number),
        now=clock.now(config.tz), slot=slot, done=done,
        pictures=Pictures(config, cached=cache.cached_images, preview=preview, client=client,
                          resolve=resolve, fresh_for=fresh_for, lookups=cache.lookups),
        draft=start.draft,
        pages=Enricher(config, cached=cache.cached_page, client=client, resolve=resolve,
                       fresh_for=fresh_for, lookups=cache.lookups),
        listed=load_recipients(config))  # once: the size budget, the outbox copy


def _keep(cache: Cache, plan: IssuePlan) -> None:
    """What this build's fetchers fetched, into the fetch cache (never the state)."""
    cache.keep(plan.pictures.fresh() if plan.pictures else (),
               plan.pages.fresh() if plan.pages else ())


def _files(made: Assembled, plan: IssuePlan, name: str, state_id: str,
           candidates: Sequence[Article], *, web: bool = True) -> IssueFiles:
    rendered, config = made.rendered, plan.config
    return issue_files(rendered, config, name, state_id=state_id,
                       urls={a.id: a.url for a in candidates}, images=made.images,
                       web=web_page(rendered.issue, config, plan.templates) if web else "",
                       listed=plan.listed)


UNKNOWN_SHOWN = 5  # notes about unknown topic names in the recipient list, at most


@dataclass(frozen=True)
class _Editions:
    """The issue's topic editions (digest.curate.variants), and which readers get each."""

    variants: tuple[Variant, ...] = ()
    listed: RecipientList | None = None
    sets: Mapping[str, TopicSet] = field(default_factory=dict)
    problems: tuple[str, ...] = ()  # topic names of the recipient list not in [[topics]]

    @classmethod
    def of(cls, config: Config, plan: IssuePlan, candidates: Sequence[Article],
           made: Assembled | NothingToBuild) -> _Editions:
        if isinstance(made, NothingToBuild) or not config.topics or plan.listed is None:
            return cls()
        unknown: list[str] = []
        sets = reader_topics(config, plan.listed, unknown)
        readers = readers_per_set(plan.listed, sets)
        if len(unknown) > UNKNOWN_SHOWN:
            unknown[UNKNOWN_SHOWN:] = [f"... and {len(unknown) - UNKNOWN_SHOWN} more unknown "
                                       "topic name(s) in the recipient list"]
        return cls(assemble_variants(candidates, plan, readers), plan.listed, sets,
                   tuple(unknown))

    @property
    def notes(self) -> tuple[str, ...]:
        return self.problems + tuple(v.note for v in self.variants if v.note)

    def for_readers(self, plan: IssuePlan, topics: TopicSet) -> IssuePlan:
        """The plan, its list cut to the readers of one edition: its outbox copy is
        addressed to the first of them (the sender when there is none)."""
        if not self.variants or self.listed is None:
            return plan
        made = [v.topics for v in self.variants if v.made]
        own = tuple(r for r in self.listed.recipients
                    if nearest(self.sets.get(r.key, FULL), made) == topics)
        return replace(plan, listed=RecipientList(own))

    def files(self, files: IssueFiles, plan: IssuePlan, name: str, state_id: str,
              candidates: Sequence[Article]) -> IssueFiles:
        if not self.variants or self.listed is None:
            return files
        full = files.manifest.story_ids
        out: list[tuple[VariantRecord, IssueFiles | None]] = []
        for v in self.variants:
            topics = tuple(sorted(v.topics))
            if v.made is None:
                out.append((VariantRecord(v.key, topics, full, True, readers=v.readers,
                                          notes=(v.note,)), None))
                continue
            edition = _files(v.made, self.for_readers(plan, v.topics), name, state_id,
                             candidates, web=False)
            rendered = v.made.rendered
            out.append((VariantRecord(
                v.key, topics, edition.manifest.story_ids, readers=v.readers,
                subject=rendered.subject, html_bytes=len(rendered.html.encode()),
                notes=tuple(dict.fromkeys(v.made.notes + rendered.notes))), edition))
        return with_variants(files, tuple(out))


def _publish_note(config: Config) -> str:
    """[web] publish: the site written again, or why not (the issue stands either way)."""

    try:
        # here, not at the top: the site writer loads lxml_html_clean, and only
        # [web] publish needs it
        from digest.web.site import publish

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
    with locked_store(config) as store:
        report = collect(config, store, client, on_feed, resolve) if fetch else None
        made = utcnow()
        done = published(config.outbox_path, config.newsletter.slug)
        number = store.next_issue_number(after=done.last_number)
        candidates = [a for a in store.unused_articles(bodies=False)
                      if a.url not in done.urls]
    curated = curate_issue(candidates, config, number, clock.now(config.tz))
    if isinstance(curated, NothingToBuild):
        return BuildResult("nothing", f"no draft written: {curated.reason}", collected=report)
    by_id = {a.id: a for a in candidates}
    passed = [by_id[d.article_id] for d in curated.decisions if d.section == "passed_over"]
    write_draft(out, curated, passed, made, config.newsletter.name)
    return BuildResult("draft", f"draft of issue #{number} written to {out}", out,
                       collected=report, notes=curated.notes)


"""Assemble an issue: curate, let the article pages and pictures have their say, render.

Each of three findings sends the stories back to curate, with the pool changed:
- an article page gave a placed story a picture (it now ranks as one that came with
  it; up to ENRICH_ROUNDS times);
- a placed story's picture cannot be used (the story goes on without it; up to
  PICTURE_ROUNDS times, so the big story has a picture if any candidate has one);
- a story cannot be rendered (it is left out, decision `unrenderable`, and a note
  names it).
Stories the outbox shows were published before are left out first (decision
`published_before`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from digest.config.schema import Config
from digest.curate.draft import Draft, curate_from_draft
from digest.curate.pins import pin_key
from digest.curate.place import NothingToBuild, curate_issue, upcoming
from digest.deliver.recipients import RecipientList
from digest.enrich.pages import Enricher
from digest.enrich.pictures import ImageFile, Pictures, strip_pictures
from digest.errors import ConfigError
from digest.models import Article, CuratedIssue, Decision, RenderedIssue, Section
from digest.outbox.folder import Published
from digest.render.budget import personal_sizes
from digest.render.email import Templates, render_issue, unrenderable
from digest.render.template_errors import InvalidMjml

PICTURE_ROUNDS = 3  # times curate runs again after pictures turn out unusable
ENRICH_ROUNDS = 2  # times curate runs again after article pages gave stories pictures


@dataclass(frozen=True)
class IssuePlan:
    """What one issue is assembled from, besides its candidates."""

    config: Config
    templates: Templates
    number: int
    now: datetime  # the build time in the newsletter's zone
    slot: str | None
    done: Published  # what the outbox shows was published before
    # Fills in body_html of the placed stories, for candidates loaded without (see
    # Store.unused_articles).
    with_bodies: Callable[[Sequence[Article]], dict[str, Article]] | None = None
    # Without pictures the feeds' pictures are shown as they are, unmeasured.
    pictures: Pictures | None = None
    draft: tuple[Draft, Path] | None = None  # an editor's draft and where it was read
    pages: Enricher | None = None
    listed: RecipientList | None = None  # for the size budget


@dataclass(frozen=True)
class Assembled:
    rendered: RenderedIssue
    notes: tuple[str, ...]  # stories left out as unrenderable
    images: tuple[ImageFile, ...]  # the picture files the issue shows


class _Rounds:
    """The pool of stories and what earlier rounds found."""

    def __init__(self, plan: IssuePlan, candidates: Sequence[Article]) -> None:
        done = plan.done
        self.pool = [a for a in candidates if a.url not in done.urls]
        self.left_out: list[tuple[Article, Section, str]] = [
            (a, "published_before", f"already in issue #{done.urls[a.url]}")
            for a in candidates if a.url in done.urls]
        self.notes: list[str] = []
        self.picture_notes: list[str] = []  # of pictures left out in earlier rounds
        self.pictures = self.pages = 0

    def decisions(self, curated: CuratedIssue) -> CuratedIssue:
        extra = tuple(Decision(a.id, section, len(curated.decisions) + i, reason)
                      for i, (a, section, reason) in enumerate(self.left_out))
        return replace(curated, decisions=curated.decisions + extra)


def assemble_issue(candidates: Sequence[Article], plan: IssuePlan) -> Assembled | NothingToBuild:
    """Curate, place the pictures and render (see the module's docstring)."""
    rounds = _Rounds(plan, candidates)
    # Once per build, not per round: the list (for the size budget) and, for a draft,
    # the published URLs as pins compare them.
    longest = personal_sizes(plan.config, plan.listed)
    used = {pin_key(url): n for url, n in plan.done.urls.items()} if plan.draft else {}
    while True:
        curated = _curate(plan, rounds.pool, used)
        if isinstance(curated, NothingToBuild):
            return curated
        curated = rounds.decisions(curated)
        if plan.with_bodies:
            curated = _with_bodies(curated, plan.with_bodies)
        page_notes: list[str] = []
        if plan.pages:  # what the article pages add: a picture, a body, a summary
            before = {a.id: a.image for a in curated.placed}
            curated, page_notes = plan.pages.enrich(curated)
            gained = [a for a in curated.placed if a.image and not before[a.id]]
            if gained and rounds.pages < ENRICH_ROUNDS and not plan.draft:
                rounds.pages += 1
                better = {a.id: a for a in gained}
                rounds.pool = [better.get(a.id, a) for a in rounds.pool]
                continue
        images: tuple[ImageFile, ...] = ()
        round_notes: tuple[str, ...] = ()  # of this round's pictures
        if plan.pictures:
            placement = plan.pictures.place(curated)
            if placement.unusable and rounds.pictures < PICTURE_ROUNDS:
                rounds.pictures += 1
                rounds.picture_notes += placement.left_out
                rounds.pool = strip_pictures(rounds.pool, placement.unusable)
                continue
            curated, images, round_notes = placement.issue, placement.files, placement.notes
        rendered = _render(plan, curated, longest, rounds)
        if rendered is None:
            continue  # unrenderable stories were left out: curate again
        if isinstance(rendered, NothingToBuild):
            return rendered
        shown = {a.image.url.rsplit("/", 1)[-1] for a in rendered.issue.placed
                 if a.image}  # a card dropped for size takes its file along
        notes = tuple(dict.fromkeys(page_notes + rounds.picture_notes + list(round_notes)))
        rendered = replace(rendered, notes=curated.notes + rendered.notes + notes)
        return Assembled(rendered, tuple(rounds.notes),
                         tuple(i for i in images if i.name in shown))


def _curate(plan: IssuePlan, pool: list[Article],
            used: dict[str, int]) -> CuratedIssue | NothingToBuild:
    if plan.draft:  # the editor's choice of stories, blocks, order, titles and note
        base = CuratedIssue(plan.number, plan.now, None, (), (),
                            upcoming(plan.config, plan.now.date()), (), plan.slot)
        return curate_from_draft(plan.draft[0], plan.draft[1], pool, used, base)
    return curate_issue(pool, plan.config, plan.number, plan.now, plan.slot)


def _with_bodies(curated: CuratedIssue,
                 with_bodies: Callable[[Sequence[Article]], dict[str, Article]]) -> CuratedIssue:
    full = with_bodies(curated.placed)
    return replace(curated, big_story=full[curated.big_story.id] if curated.big_story else None,
                   need_to_know=tuple(full[a.id] for a in curated.need_to_know),
                   read_more=tuple(full[a.id] for a in curated.read_more))


def _render(plan: IssuePlan, curated: CuratedIssue, longest: Mapping[str, int],
            rounds: _Rounds) -> RenderedIssue | NothingToBuild | None:
    """The rendered issue; NothingToBuild when the size budget left no story; None when
    stories could not be rendered (they are left out of `rounds.pool`)."""
    config, templates = plan.config, plan.templates
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
        return rendered
    if plan.draft:  # the editor chose these stories: say which, do not drop it silently
        named = next(a for a in curated.placed if a.id in bad)
        raise ConfigError(f"draft {plan.draft[1]}: the story {named.url} cannot be rendered "
                          f"({bad[named.id]}); change its title or summary, or remove it")
    for article in curated.placed:
        if article.id in bad:
            reason = f"unrenderable: {bad[article.id]}"
            rounds.left_out.append((article, "unrenderable", reason))
            rounds.notes.append(f"left out {article.title[:80]!r} from feed "
                                f"{article.feed_name!r} ({article.url}): {reason}")
    rounds.pool = [a for a in rounds.pool if a.id not in bad]
    return None

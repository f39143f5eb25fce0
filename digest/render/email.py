"""Render a curated issue: Jinja2 -> MJML -> mjml2html -> premailer, plus a text part.

One render per issue. Per-recipient values (address, name, unsubscribe link, CSV
columns) are left in the output as placeholders, written by the template as
`{{ recipient.email }}`, `{{ recipient.unsubscribe_url }}`, `{{ recipient.company }}`.
Each placeholder is spelled with a marker drawn at random for this render
(`%%digest:<marker>:email%%`), so text from a feed, which existed before the marker
did, can never be mistaken for one: sending substitutes only what the template put.
"""

from __future__ import annotations

import functools
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from digest import clock
from digest.config.schema import Config
from digest.errors import ConfigError
from digest.models import Article, CuratedIssue, RenderedIssue
from digest.render.budget import (
    CLIP_MARGIN,
    GMAIL_CLIP,
    html_budget,
    personal_sizes,
    sent_size,
)
from digest.render.bundled import package_templates
from digest.render.cards import (
    _script_of,
    card_row,
)
from digest.render.labels import labels_for
from digest.render.marks import placeholder_pattern as placeholder_pattern  # its home
from digest.render.story import Block, story_blocks
from digest.render.template_errors import invalid_mjml, template_errors
from digest.render.text import (
    clip,
    cut,
    long_date,
    note_html,
    paragraphs,
    sentences,
    short_date,
    unlink,
    wrap,
)

PREHEADER_PADDING = Markup("&#847;&zwnj;&nbsp;" * 90)
DOCTYPE = "<!DOCTYPE html>"
MAX_HERO_HEADLINE = 140  # characters of the big story's headline
SUBJECT_CHARS = 80  # about what a phone's inbox shows
PREHEADER_CHARS = 110
_FIELD_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class Placeholders:
    """`recipient` in the templates: `recipient.<field>` is that field's placeholder."""

    def __init__(self, marker: str, *, unsubscribe: bool) -> None:
        self._marker = marker
        self._unsubscribe = unsubscribe

    def __getattr__(self, name: str) -> str:
        if name.startswith("_") or not _FIELD_NAME.match(name):
            raise AttributeError(name)
        field = name.replace("_", "-")
        if field == "unsubscribe-url" and not self._unsubscribe:
            return ""  # no unsubscribe link configured: templates leave the link out
        return f"%%digest:{self._marker}:{field}%%"

    __getitem__ = __getattr__


logging.getLogger("CSSUTILS").setLevel(logging.CRITICAL)  # premailer's cssutils is chatty


def template_dirs(config: Config) -> list[Path]:
    dirs = []
    if config.layout.templates_dir:
        user = config.path(config.layout.templates_dir)
        if not user.is_dir():
            raise ConfigError(
                f"[layout] templates_dir: {user} is not a folder; create it or remove the key"
            )
        dirs.append(user)
    dirs.append(package_templates())
    return dirs


def make_environment(config: Config) -> jinja2.Environment:
    """The one Jinja environment: user templates first, bundled ones second."""
    dirs = template_dirs(config)
    bundled = jinja2.FileSystemLoader(package_templates())
    env = jinja2.Environment(
        # "digest/<name>" is always the bundled template, so an editor's own
        # issue.mjml.j2 can `{% extends "digest/issue.mjml.j2" %}` and change one block.
        loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(d) for d in dirs]
                                   + [jinja2.PrefixLoader({"digest": bundled})]),
        # MJML is escaped like HTML; the plain-text part must not be.
        autoescape=lambda name: name is not None and not name.endswith(".txt.j2"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        keep_trailing_newline=True,
    )
    language = config.newsletter.language
    env.filters["cut"] = cut
    env.filters["clip"] = clip
    env.filters["sentences"] = sentences
    env.filters["short_date"] = lambda d: short_date(d, language)
    env.filters["wrap"] = wrap
    env.globals["script_of"] = _script_of
    env.globals["card_row"] = card_row
    return env


@dataclass(frozen=True)
class Templates:
    env: jinja2.Environment
    html: jinja2.Template
    text: jinja2.Template


def load_templates(config: Config) -> Templates:
    """The environment and its two top templates. Every template is compiled now, so a
    broken partial stops a build before any work, just as it fails `digest check`."""
    env = make_environment(config)
    with template_errors(env):
        for name in _template_names(template_dirs(config)):
            env.get_template(name)
        return Templates(env, env.get_template("issue.mjml.j2"), env.get_template("issue.txt.j2"))


def _template_names(dirs: list[Path]) -> list[str]:
    """The templates there are: `*.j2` files in each folder and one level below (e.g.
    blocks/). Not a walk of the whole tree: `templates_dir` may be a big folder."""
    names = {str(p.relative_to(d)) for d in dirs for pattern in ("*.j2", "*/*.j2")
             for p in d.glob(pattern) if p.is_file()}
    return sorted(names)


def check_templates(config: Config) -> None:
    """Load every template so syntax errors and missing partials show up early."""
    load_templates(config)


def render_issue(issue: CuratedIssue, config: Config, templates: Templates | None = None,
                 longest: Mapping[str, int] | None = None) -> RenderedIssue:
    """Render HTML and text; drop Read More cards while the HTML is over the budget.
    `longest` is `personal_sizes(config)`, read here when not given (it reads the whole
    list: a caller rendering more than once reads it once)."""
    templates = templates or load_templates(config)
    budget = html_budget(config)
    longest = personal_sizes(config) if longest is None else longest
    marker = secrets.token_hex(12)
    dropped = 0
    while True:
        context = _context(issue, config, marker)
        html = _to_html(_render(templates.html, context))
        if sent_size(html, marker, longest) <= budget or not issue.read_more:
            break
        issue = _without_last_card(issue)
        dropped += 1
    text = _render(templates.text, context)
    text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
    notes: tuple[str, ...] = ()
    if dropped:
        notes = (f"dropped {dropped} Read More card(s) to keep the HTML under {budget:,} "
                 f"bytes ([layout] max_html_kb = {config.layout.max_html_kb}; Gmail clips "
                 f"at about {GMAIL_CLIP:,})",)
    if budget > GMAIL_CLIP - CLIP_MARGIN:
        notes += (f"[layout] max_html_kb = {config.layout.max_html_kb} lets the HTML reach "
                  f"{budget:,} bytes; Gmail clips at about {GMAIL_CLIP:,}, hiding the footer "
                  "and its unsubscribe link: 95 or less keeps it whole",)
    if (size := sent_size(html, marker, longest)) > budget:
        notes += (f"HTML is {size:,} bytes, over the budget of {budget:,} even without Read "
                  "More cards; Gmail may clip the footer and its unsubscribe link; show "
                  "shorter stories ([layout] big_story_chars) or fewer blocks",)
    return RenderedIssue(issue=issue, subject=context["subject"], preheader=context["preheader"],
                         html=html, text=text, marker=marker, dropped_cards=dropped,
                         notes=notes)


def unrenderable(issue: CuratedIssue, config: Config, templates: Templates,
                 longest: Mapping[str, int] | None = None) -> dict[str, str]:
    """After a failed render: which placed articles fail on their own (article id ->
    the reason). Each is tried as the only story of an otherwise empty issue."""
    bad: dict[str, str] = {}
    longest = personal_sizes(config) if longest is None else longest
    for article in issue.placed:  # alone, in the block it was placed in
        alone = replace(issue, big_story=article if article is issue.big_story else None,
                        need_to_know=(article,) if article in issue.need_to_know else (),
                        read_more=(article,) if article in issue.read_more else (),
                        decisions=())
        try:
            render_issue(alone, config, templates, longest)
        except Exception as e:  # noqa: BLE001 - any failure names this article
            reason = " ".join(str(e).split()) or type(e).__name__
            bad[article.id] = reason[:200]
    return bad


def _without_last_card(issue: CuratedIssue) -> CuratedIssue:
    last = issue.read_more[-1]
    decisions = tuple(
        d if d.article_id != last.id else replace(
            d, section="dropped_for_size", reason="Read More card dropped: HTML over budget")
        for d in issue.decisions
    )
    return replace(issue, read_more=issue.read_more[:-1], decisions=decisions)


def _render(template: jinja2.Template, context: dict[str, Any]) -> str:
    with template_errors(template.environment):  # names the partial at fault, and its line
        return template.render(context)


def _to_html(source: str) -> str:
    # Imported here: together they cost ~0.2 s, which commands that never render
    # (status, send, schedule, run --once with nothing due) should not pay.
    import mjml

    Premailer = _premailer()
    try:
        html = mjml.mjml2html(source, disable_comments=True, fonts={})
    except ValueError as e:
        raise invalid_mjml(e, source) from None
    inlined = Premailer(
        html,
        keep_style_tags=True,
        strip_important=False,
        allow_network=False,
        disable_validation=True,
        remove_classes=False,
        # MJML writes each <img>'s width and height in pixels, which is how Outlook for
        # Windows sizes it; premailer would overwrite them from the inlined CSS
        # (width="100%", height="auto").
        disable_basic_attributes=["width", "height"],
        cssutils_logging_level=logging.CRITICAL,
    ).transform(pretty_print=False)
    inlined = re.sub(r"^\s*<!doctype[^>]*>\s*", "", inlined, flags=re.I)
    return f"{DOCTYPE}\n{_short_lines(inlined)}"


@functools.cache
def _premailer() -> type:
    """premailer's class, with cssutils' property validation off.

    premailer parses every inline style through `cssutils.parseStyle`, which validates
    each property against regular expressions compiled on first use: 0.3 s of a 0.4 s
    first transform, for nothing, since validation only logs (and the log is off) and
    never changes what is written. Turned off once, here, for the whole process."""
    # here, not at the top: cssutils is heavy and only this needs it
    import cssutils
    from premailer import Premailer

    parse_style = cssutils.parseStyle

    def without_validation(css_text: str, encoding: str = "utf-8",
                           validate: bool = True) -> Any:
        return parse_style(css_text, encoding=encoding, validate=False)

    cssutils.parseStyle = without_validation
    return Premailer


def _short_lines(html: str) -> str:
    """Break the HTML between tags so no line nears SMTP's 998-character limit."""
    return re.sub(r"><(?=/?(?:table|tr|td|div|p|tbody|style|!--))", ">\n<", html)


def _context(issue: CuratedIssue, config: Config, marker: str) -> dict[str, Any]:
    nl = config.newsletter
    accent = config.layout.accent_color
    headline = issue.big_story.title if issue.big_story else (
        issue.placed[0].title if issue.placed else "")
    intro = (issue.note or nl.intro).replace("{name}", nl.name)
    copyright_line = nl.copyright or f"© {issue.date.year} {nl.name}"
    return {
        "issue": issue,
        "newsletter": nl,
        "layout": config.layout,
        "labels": labels_for(nl.language, _label_overrides(config)),
        "blocks": config.layout.blocks,
        "accent": accent,
        "accent_dark": _darken(accent),
        "accent_light": _lighten(accent),
        "hero_headline_chars": MAX_HERO_HEADLINE,
        "subject": issue.subject or _subject(nl.subject, headline, nl.name, issue.number,
                                             long_date(issue.date, nl.language)),
        "preheader": _preheader(issue),
        "preheader_padding": PREHEADER_PADDING,
        "issue_date": long_date(issue.date, nl.language),
        "web_url": issue_url(nl.web_url, issue.number),
        "intro": note_html(intro, f"color:{accent};"),
        "intro_text": unlink(intro),
        "copyright": copyright_line,
        "recipient": Placeholders(marker, unsubscribe=bool(
            config.delivery.unsubscribe_url or config.delivery.unsubscribe_mailto)),
        "story_paragraphs": lambda story: _story_paragraphs(story, config.layout.big_story_chars),
        "story_blocks": lambda story: _story_blocks(story, config.layout.big_story_chars,
                                                    accent),
    }


def issue_url(web_url: str, number: int) -> str:
    """Issue `number`'s page in the web archive under [newsletter] web_url (the site's
    base URL), or "" without one."""
    return f"{web_url.rstrip('/')}/issues/{number}/" if web_url else ""


def web_page(issue: CuratedIssue, config: Config, templates: Templates) -> str:
    """The issue's page for the web archive (templates/web/issue.html.j2): the same
    stories in a web layout, nothing personal. Pictures made for the issue are read from
    its own images/ folder."""
    assets = config.newsletter.assets_url.rstrip("/")

    def web_src(url: str) -> str:
        if assets and url.startswith(assets + "/"):
            return "images/" + url.rsplit("/", 1)[-1]
        return url

    context = _context(issue, config, secrets.token_hex(12))
    context.update(root="../../", web_src=web_src)
    return _render(templates.env.get_template("web/issue.html.j2"), context)


def site_page(config: Config, templates: Templates, name: str, **values: Any) -> str:
    """A page of the web archive that is no issue (the index): the newsletter's
    context (name, labels, colours, footer) and `values`."""
    nl = config.newsletter
    context = {
        "newsletter": nl, "labels": labels_for(nl.language, _label_overrides(config)),
        "accent": config.layout.accent_color,
        "accent_light": _lighten(config.layout.accent_color),
        "copyright": nl.copyright or f"© {clock.now(config.tz).year} {nl.name}", **values,
    }
    return _render(templates.env.get_template(name), context)


def _story_blocks(story: Article, limit: int, accent: str) -> list[Block]:
    """The big story's blocks, without the photo already shown above it (a feed with no
    media element gives the body's first picture as the story's)."""
    shown = {story.image.url, story.image.source} if story.image else set()
    return [b for b in story_blocks(story.body_html, story.summary, limit, f"color:{accent};")
            if b.kind != "figure" or b.src not in shown]


def _story_paragraphs(story: Article, limit: int) -> list[str]:
    paras = paragraphs(story.body_html, limit) if story.body_html else []
    return paras or ([cut(story.summary, limit)] if story.summary else [])


def _subject(pattern: str, headline: str, name: str, number: int, day: str) -> str:
    """The subject line, at most about SUBJECT_CHARS: a feed's title can be any length,
    and the subject takes the part of it that fits, cut at a word with '…'."""
    def fill(text: str) -> str:
        return pattern.format(name=name, headline=text, number=number, date=day)

    full = fill(headline)
    if len(full) <= SUBJECT_CHARS or "{headline}" not in pattern:
        return full
    room = max(30, SUBJECT_CHARS - (len(full) - len(headline)))
    return fill(clip(headline, room))


def _preheader(issue: CuratedIssue) -> str:
    """The inbox preview: the Need-to-know headlines (the placed stories when there are
    none), cut at a word with '…'."""
    stories = list(issue.need_to_know) or list(issue.placed)
    return clip(" · ".join(clip(a.title, 90) for a in stories[:4]), PREHEADER_CHARS)


def _label_overrides(config: Config) -> dict[str, str]:
    """The [labels] an editor set (empty ones come from the language's catalog)."""
    return {k: v for k, v in vars(config.labels).items() if v}


def _lighten(color: str, amount: float = 0.55) -> str:
    """The accent mixed with white: readable on a dark background."""
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return "#{:02x}{:02x}{:02x}".format(*(int(c + (255 - c) * amount) for c in (r, g, b)))


def _darken(color: str, factor: float = 0.55) -> str:
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return "#{:02x}{:02x}{:02x}".format(*(int(c * factor) for c in (r, g, b)))


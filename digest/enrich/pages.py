"""Enrichment: read the article pages of the stories placed in an issue (a few dozen
at most, never every collected item) for what their feed left out.

From a page: the photo (`og:image`, else `twitter:image`) with its alt text, the lead
figure's caption and "Photographer | Agency" credit, the author and the published
time, and the main text with its structure (trafilatura, figures put back with their
captions), sanitized like a feed's body. A story takes from its page only what its feed
lacks: a picture, a body (the big story), a summary that is more than the title.

`[enrich] pages` ("missing", "always", "never") and `[[feeds]] enrich` decide whose pages
are read; `[enrich] mirror` reads them from a folder instead of the web. Pages are
fetched like pictures (digest.collect.fetch: one deadline, a byte cap, the SSRF guard decided by
the feed), at most PER_HOST at a time per host, and cached by URL with their
validators in the fetch cache (digest.state.cache); a preview (`fresh_for`) uses a page
read or revalidated that recently without asking its host. A page that fails leaves
the story as its feed gave it, and a note says why.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import httpx
import lxml.html

from digest.clock import utcnow
from digest.collect.hosts import LookupFailures, Resolver, system_resolve
from digest.collect.parse import html_to_text, sanitize_html
from digest.collect.textclean import clean_line, clean_text
from digest.config.load import is_web, lower_scheme
from digest.config.schema import Config
from digest.enrich.linked import Linked, recent
from digest.errors import FeedError
from digest.models import Article, CachedPage, CuratedIssue, Image
from digest.render.text import sentences

PER_HOST = 2
MAX_PAGE = 1_500_000  # characters of a page read (scripts and styles taken out first)
MAX_LINE = 300
NOT_TEXT = ("script", "style", "svg", "noscript", "template")  # elements taken out first
THIN_BODY = 400  # characters of text: a feed body shorter than this is only a teaser
SUMMARY_CHARS = 240
_CREDIT_CLASS = re.compile(r"credit|source|byline|copyright|photographer", re.I)
_CREDIT_TAIL = re.compile(
    r"^(?P<caption>.*?)[\s.:;,–—-]*(?P<credit>[^.|:;]{2,60}\s\|\s[^.|:;]{2,60})$")


@dataclass(frozen=True)
class PageFacts:
    image: str = ""
    image_alt: str = ""
    caption: str = ""
    credit: str = ""
    author: str = ""
    published: str = ""  # ISO 8601, as the page gives it
    body_html: str = ""  # the main text, sanitized; figures with figcaptions
    summary: str = ""  # its first sentences


def extract(html: str | bytes, url: str, *, local: bool = False) -> PageFacts:
    """What an article page says; links in it are read against `url`. `local`: the page
    is a file of the editor's (`[enrich] mirror`, a `file:` url), and so may its
    pictures be. Never raises for a page's content: a page that is not HTML gives empty
    facts. Every field is cleaned as a feed's are (digest.collect.textclean)."""
    text = html.decode("utf-8", "replace") if isinstance(html, bytes) else html
    # Characters XML refuses go first: lxml would refuse to hold them, and one would
    # stop the build.
    try:
        return _extract(clean_text(text), url, local)
    except (ValueError, TypeError, lxml.etree.LxmlError, RecursionError):
        return PageFacts()


def _extract(html: str, url: str, local: bool) -> PageFacts:
    # One parse by libxml2's HTML parser, linear in the page whatever its markup: 40,000
    # unclosed <script>s are one script to the end of the page, as in a browser, and a
    # "<script>" in an attribute is text. (A regex over the markup took minutes on the
    # first and swallowed the page on the second.)
    doc = _document(html)
    if doc is None:
        return PageFacts()
    for el in list(doc.iter(*NOT_TEXT)):
        el.drop_tree()  # keeps the text after it
    _keep_spaces(doc)
    # What the text extractor reads, cut to MAX_PAGE: its time grows faster than the page.
    page = lxml.html.tostring(doc, encoding="unicode")[:MAX_PAGE]
    meta = _meta(doc)
    image = _web(url, meta.get("og:image") or meta.get("og:image:url")
                 or meta.get("twitter:image") or meta.get("twitter:image:src") or "", local)
    figures = _figures(doc, url, local)
    caption, credit = figures.get(image) or next(iter(figures.values()), ("", ""))
    body = _main_text(page, url, figures, local)
    paragraphs = lxml.html.fragment_fromstring(body, create_parent="div").iter("p") \
        if body else iter(())
    first = next((t for p in paragraphs if (t := _squash(p.text_content()))), "")
    return PageFacts(
        image=clean_line(image),
        image_alt=clean_line(_squash(meta.get("og:image:alt") or meta.get("twitter:image:alt")
                                     or ""))[:MAX_LINE],
        caption=clean_line(caption)[:MAX_LINE * 3], credit=clean_line(credit)[:MAX_LINE],
        author=clean_line(_squash(meta.get("author") or meta.get("article:author") or ""))[
            :MAX_LINE],
        published=clean_line(meta.get("article:published_time") or meta.get("date") or ""
                             ).strip()[:40],
        body_html=clean_text(body), summary=clean_text(sentences(first, SUMMARY_CHARS))
        if first else "")


# Elements inside a line of text.
INLINE = frozenset({"a", "abbr", "b", "cite", "code", "em", "font", "i", "mark", "q", "s",
                    "small", "span", "strong", "sub", "sup", "time", "u"})


def _keep_spaces(doc: Any) -> None:
    """trafilatura drops the white space after an inline element that has elements
    inside it: `<b><a href="/one">one</a></b> <a href="/two">two</a>` and `<a><b>one</b></a>
    <a>two</a>` came out as "onetwo". That space is moved inside it, after its last
    descendant, where trafilatura keeps it. (libxml2 nests at most 256 deep: linear.)"""
    for el in doc.iter(*INLINE):
        tail = el.tail
        if tail and len(el) and not tail.strip():
            leaf = el[-1]
            while len(leaf):
                leaf = leaf[-1]
            leaf.tail = (leaf.tail or "") + tail
            el.tail = None


def _document(html: str) -> Any:
    """The page's <html> element, or None for a page with nothing in it. An XML
    declaration (XHTML) is dropped: lxml refuses one in a str."""
    if html.lstrip().startswith("<?xml"):
        html = html[html.find("?>") + 2:]
    if not html.strip():
        return None
    try:
        return lxml.html.document_fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return None


def _meta(doc: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    for el in doc.iter("meta"):
        key = (el.get("property") or el.get("name") or "").strip().lower()
        if key and key not in found and el.get("content"):
            found[key] = el.get("content")
    return found


def _web(base: str, link: str, local: bool = False) -> str:
    """`link` made absolute against the page, if that is an http(s) URL (or a file: one,
    for a `local` page)."""
    if not link.strip():
        return ""
    try:
        absolute = urljoin(base, link.strip())
    except ValueError:
        return ""
    schemes = ("http://", "https://", "file:") if local else ("http://", "https://")
    return absolute if lower_scheme(absolute).startswith(schemes) else ""


def _figures(doc: Any, url: str, local: bool) -> dict[str, tuple[str, str]]:
    """Each figure's picture URL -> (caption, credit)."""
    out: dict[str, tuple[str, str]] = {}
    for figure in doc.iter("figure"):
        img = next(figure.iter("img"), None)
        src = _web(url, img.get("src") or "", local) if img is not None else ""
        if src and src not in out:
            out[src] = _caption_credit(next(figure.iter("figcaption"), None))
    return out


def _caption_credit(figcaption: Any) -> tuple[str, str]:
    """The caption, and the credit: an element whose class names a credit or source, a
    <cite> or <small>, or a trailing "Name | Agency"."""
    if figcaption is None:
        return "", ""
    credit = ""
    for el in figcaption.iter():
        if el is figcaption or not isinstance(el.tag, str):
            continue
        if el.tag in ("cite", "small") or _CREDIT_CLASS.search(el.get("class") or ""):
            credit = _squash(el.text_content())
            el.drop_tree()
            break
    caption = _squash(figcaption.text_content())
    if not credit and (match := _CREDIT_TAIL.match(caption)):
        caption, credit = match.group("caption"), match.group("credit")
    caption = clean_line(caption).strip(" .")  # `&#1;` in the page is a \x01 by now
    return caption + ("." if caption else ""), clean_line(credit).strip()


def _main_text(html: str, url: str, figures: dict[str, tuple[str, str]],
               local: bool) -> str:
    """The article's text with its structure, figures carrying their captions back,
    the headline (shown above it) left out, sanitized as a feed's body is."""
    import trafilatura  # 0.2 s to import: only when a page is read

    main = trafilatura.extract(html, url=url, output_format="html", include_images=True,
                               include_links=True, include_formatting=True,
                               include_tables=False, include_comments=False,
                               favor_precision=True)
    if not main:
        return ""
    try:
        root = lxml.html.fromstring(main)
    except (ValueError, lxml.etree.ParserError):
        return ""
    body = root.find("body")
    body = root if body is None else body
    for h1 in list(body.iter("h1")):
        h1.drop_tree()
    for img in list(body.iter("img")):
        src = _web(url, img.get("src") or "", local)
        caption, credit = figures.get(src, ("", ""))
        figure = lxml.html.Element("figure")
        img.addprevious(figure)
        figure.append(lxml.html.Element("img", src=src, alt=img.get("alt") or ""))
        if caption or credit:
            figcaption = lxml.html.Element("figcaption")
            figcaption.text = " ".join(x for x in (caption, credit) if x)
            figure.append(figcaption)
        img.drop_tree()
    inner = "".join(lxml.html.tostring(el, encoding="unicode") for el in body)
    return sanitize_html(inner, "text/html", url, local)  # the feed bodies' rules


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", clean_line(text)).strip()


@dataclass
class _Read:
    facts: PageFacts | None = None
    error: str = ""
    fresh: CachedPage | None = None


class Enricher:
    """The article pages of one build: each read at most once; `fresh()` is what to
    keep in the fetch cache after. A page the cache read within `fresh_for` (a
    preview's) is used without asking its host."""

    def __init__(self, config: Config, *, cached: Callable[[str], CachedPage | None],
                 client: httpx.AsyncClient | None = None,
                 resolve: Resolver = system_resolve, fresh_for: timedelta | None = None,
                 lookups: LookupFailures | None = None) -> None:
        self.config = config
        self.fresh_for = fresh_for
        self.settings = replace(config.collect, timeout=config.enrich.timeout)
        self.mirror = config.path(config.enrich.mirror) if config.enrich.mirror else None
        self._cached = cached
        self._linked = Linked(self.settings, client, resolve, per_host=PER_HOST,
                              timeout_key="[enrich] timeout", lookups=lookups)
        self._read: dict[str, _Read] = {}
        self._modes = {f.url: f.enrich or config.enrich.pages for f in config.feeds}

    def fresh(self) -> list[CachedPage]:
        return [r.fresh for r in self._read.values() if r.fresh]

    def enrich(self, issue: CuratedIssue) -> tuple[CuratedIssue, list[str]]:
        """The issue with what its stories' pages add, and a note per page that failed."""
        big = issue.big_story
        wanted = [a for a in issue.placed
                  if a.url and self._wants(a, a is big, a in issue.read_more)]
        missing = {a.url: a for a in wanted if a.url not in self._read}
        for url, article in list(missing.items()):
            if (kept := self._recent(url, article)) is not None:  # no client, no event loop
                self._read[url] = kept
                del missing[url]
        if missing:
            asyncio.run(self._read_all(missing))
        notes = [f"{self._read[a.url].error}; the story keeps its feed's text and picture"
                 for a in wanted if self._read[a.url].error]

        def better(article: Article) -> Article:
            read = self._read.get(article.url) if article in wanted else None
            if read is None or read.facts is None:
                return article
            return _apply(article, read.facts, article is big,
                          self._modes.get(article.feed_url, self.config.enrich.pages))

        issue = replace(issue, big_story=better(big) if big else None,
                        need_to_know=tuple(better(a) for a in issue.need_to_know),
                        read_more=tuple(better(a) for a in issue.read_more))
        return issue, notes

    def _wants(self, article: Article, big: bool, card: bool) -> bool:
        """"always", or "missing" and the page has what this story's block shows and
        its feed left out: a picture (the big story, a card), a body (the big story),
        a summary that is more than the title (any block)."""
        mode = self._modes.get(article.feed_url, self.config.enrich.pages)
        if mode == "never":
            return False
        pictured = big or card
        return (mode == "always" or (pictured and article.image is None)
                or (big and _thin(article)) or _says_nothing(article))

    def _recent(self, url: str, article: Article) -> _Read | None:
        """A page the cache read within `fresh_for`: used as it is, its host not asked
        (never with `[enrich] mirror`, which reads no web). Not one an internal feed's
        standing let digest read, for another feed's story (which asks, under its rules)."""
        if self.fresh_for is None or self.mirror is not None:
            return None
        cached = self._cached(url)
        if cached is None or not recent(cached.fetched_at, self.fresh_for) or \
                cached.fetched_for not in ("", article.feed_url):
            return None
        facts = _facts(cached)
        return _Read(facts=facts) if facts is not None else None

    async def _read_all(self, missing: dict[str, Article]) -> None:
        async def one(url: str, article: Article, client: httpx.AsyncClient) -> None:
            self._read[url] = await self._page(url, article, client)

        await self._linked.each(missing, one)

    async def _page(self, url: str, article: Article, client: httpx.AsyncClient) -> _Read:
        what = f"article page {url} (feed {article.feed_name!r})"
        if self.mirror is not None:
            local = not is_web(article.feed_url)
            try:
                return await asyncio.to_thread(self._from_mirror, url, what, local)
            except Exception as e:  # noqa: BLE001 - a page never stops a build
                return _Read(error=f"{what}: could not be read ({type(e).__name__}: {e})")

        cached = self._cached(url)
        try:
            fetched = await self._linked.fetch(
                "article page", url, article, client, etag=cached.etag if cached else None,
                last_modified=cached.last_modified if cached else None)
        except FeedError as e:
            return _Read(facts=_facts(cached) if cached else None, error=str(e))
        except Exception as e:  # noqa: BLE001 - a page never stops a build
            return _Read(error=f"{what}: unexpected {type(e).__name__}: {e}")
        fetched_for = self._linked.fetched_for(article.feed_url)
        if fetched.status == "not_modified" and cached:
            facts = _facts(cached)
            return _Read(facts=facts, fresh=replace(  # current as of now
                cached, etag=fetched.etag or cached.etag,
                last_modified=fetched.last_modified or cached.last_modified,
                fetched_at=utcnow().isoformat(timespec="seconds"),
                fetched_for=fetched_for) if facts else None)
        kind = fetched.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind and "html" not in kind:
            return _Read(error=f"{what}: not a web page ({kind})")
        try:
            facts = await asyncio.to_thread(extract, fetched.body, fetched.base_url or url)
        except Exception as e:  # noqa: BLE001 - a page never stops a build
            return _Read(error=f"{what}: could not be read ({type(e).__name__}: {e})")
        return _Read(facts=facts, fresh=CachedPage(
            url, fetched.etag, fetched.last_modified, json.dumps(asdict(facts)),
            utcnow().isoformat(timespec="seconds"), fetched_for))

    def _from_mirror(self, url: str, what: str, local: bool) -> _Read:
        """The page from `[enrich] mirror`; its `file:` pictures count only for a feed
        read from disk (`local`), as a feed's own pictures do."""
        assert self.mirror is not None
        parts = urlsplit(url)
        path = unquote(parts.path).strip("/") or "index"
        file = (self.mirror / (parts.hostname or "") / path)
        if not file.suffix:
            file = file.with_name(file.name + ".html")
        try:
            if self.mirror.resolve() not in file.resolve().parents:
                return _Read(error=f"{what}: outside [enrich] mirror")
            data = file.read_bytes()[: self.settings.max_bytes]
        except OSError as e:
            return _Read(error=f"{what}: not in [enrich] mirror ({Path(e.filename or file).name}"
                         f": {e.strerror})")
        except ValueError:  # a NUL in the path
            return _Read(error=f"{what}: not a path in [enrich] mirror")
        return _Read(facts=extract(data, file.resolve().as_uri() if local else url,
                                   local=local))


def _facts(cached: CachedPage) -> PageFacts | None:
    try:
        return PageFacts(**json.loads(cached.facts))
    except (ValueError, TypeError):
        return None


def _thin(article: Article) -> bool:

    return len(html_to_text(article.body_html)) < THIN_BODY


def _apply(article: Article, facts: PageFacts, big: bool, mode: str) -> Article:
    """What the page adds to the story: only what its feed lacks ("always": the page's
    body for the big story, too)."""
    changes: dict[str, Any] = {}
    if article.image is None and facts.image:
        changes["image"] = Image(url=facts.image, alt=facts.image_alt or facts.caption,
                                 caption=facts.caption, credit=facts.credit)
    elif article.image and facts.image == article.image.url and not (
            article.image.caption or article.image.credit):
        changes["image"] = replace(article.image, caption=facts.caption, credit=facts.credit)
    if big and facts.body_html and (mode == "always" or _thin(article)):
        changes["body_html"] = facts.body_html
    if facts.summary and _says_nothing(article):
        changes["summary"] = facts.summary
    if not article.author and facts.author:
        changes["author"] = facts.author
    if article.published is None and facts.published:
        try:
            when = datetime.fromisoformat(facts.published.replace("Z", "+00:00"))
            if when.tzinfo is not None:
                changes["published"] = when
        except ValueError:
            pass
    return replace(article, **changes) if changes else article


def _says_nothing(article: Article) -> bool:
    """A summary that is empty or only the title again."""
    def words(text: str) -> str:
        return re.sub(r"\W+", " ", text).strip().lower()
    summary, title = words(article.summary), words(article.title)
    return not summary or summary == title or (len(summary) < 1.2 * len(title)
                                               and summary.startswith(title[:40]))

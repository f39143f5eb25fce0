"""`digest publish`: the web archive, a static site any web server can serve.

    site/index.html, page/<n>/index.html   the issues, newest first, PER_PAGE a page
    site/issues/<number>/index.html        an issue's web page (its folder's web.html)
    site/issues/<number>/images/           the pictures made for it
    site/feed.xml                          Atom 1.0, one entry per issue, full content

Links inside the site are relative, so it works under any base URL; `[newsletter]
web_url` is that base (the feed's ids and links, and each issue's "View in browser").
The site is built in a temporary folder next to it and swapped in whole; a folder
that is not a digest site is never replaced.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from xml.etree import ElementTree as ET

import lxml.html
from markupsafe import escape

from digest.collect.textclean import clean_line, clean_text
from digest.config.schema import Config
from digest.errors import OutboxError
from digest.outbox.folder import IMAGES, PREVIEW, WEB, IssueFolder, scan_outbox, swap_folder
from digest.render.email import Templates, issue_url, load_templates, site_page
from digest.render.text import long_date

MARKER = ".digest-site"  # in the site folder: it is ours to replace
FEED_ENTRIES = 20
ATOM = "http://www.w3.org/2005/Atom"


@dataclass(frozen=True)
class PublishReport:
    path: Path
    issues: int
    notes: tuple[str, ...] = ()


def publish(config: Config, out: Path | None = None) -> PublishReport:
    """Write the site for every issue folder of this newsletter in the outbox."""
    site = (out or config.path(config.web.site_dir)).absolute()
    _check_site(site)
    folders: dict[int, IssueFolder] = {}
    notes: list[str] = []
    readable = list(scan_outbox(config.outbox_path))  # every manifest read once
    names = {f.path.name for f in readable}
    for path in sorted(config.outbox_path.glob(f"*-{config.newsletter.slug}-*")):
        if path.is_dir() and path.name not in names:
            notes.append(f"{path.name}: its issue.json is missing or damaged; left out of "
                         "the site")
    for folder in readable:
        manifest = folder.manifest
        if manifest.slug == config.newsletter.slug and folder.path.name != PREVIEW:
            folders.setdefault(manifest.number, folder)
    issues = [folders[n] for n in sorted(folders, reverse=True)]
    templates = load_templates(config)
    try:
        site.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{site.name}.", dir=site.parent))
    except OSError as e:
        raise OutboxError(f"cannot write the site beside {site}: {e.strerror}; check "
                          "[web] site_dir") from None
    try:
        (tmp / MARKER).write_text("a web archive written by digest publish\n", "utf-8")
        pages: dict[int, str] = {}
        for folder in issues:
            number = folder.manifest.number
            dest = tmp / "issues" / str(number)
            dest.mkdir(parents=True)
            page = _page_of(folder, config, templates)
            if not (folder.path / WEB).is_file():
                notes.append(f"issue #{number} was built before issues had a web page: its "
                             "page lists its headlines only")
            (dest / "index.html").write_text(page, "utf-8")
            pages[number] = page
            if (folder.path / IMAGES).is_dir():
                shutil.copytree(folder.path / IMAGES, dest / IMAGES)
        _write_index(tmp, issues, config, templates)
        (tmp / "feed.xml").write_bytes(_feed(issues, pages, config))
        os.chmod(tmp, 0o755)
        swap_folder(tmp, site)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return PublishReport(site, len(issues), tuple(notes))


def _check_site(site: Path) -> None:
    if site.is_symlink():
        raise OutboxError(f"{site} is a symbolic link; give the folder it points to "
                          f"({site.resolve()}) as [web] site_dir or --out")
    if site.exists() and (not site.is_dir() or (any(site.iterdir())
                                                 and not (site / MARKER).is_file())):
        raise OutboxError(f"{site} exists and is not a site digest wrote (no {MARKER} in "
                          "it); point [web] site_dir (or --out) at a new or empty folder")


def _page_of(folder: IssueFolder, config: Config, templates: Templates) -> str:
    web = folder.path / WEB
    if web.is_file():
        return web.read_text("utf-8")
    # An issue built before web pages: its headlines, from issue.json.
    manifest = folder.manifest
    stories = [s for section in (manifest.sections.big_story, manifest.sections.need_to_know,
                                 manifest.sections.read_more) for s in section]
    items = "".join(f'<li><a href="{escape(s.url)}">{escape(s.title)}</a></li>' for s in stories)
    return (f'<!DOCTYPE html><html lang="{escape(config.newsletter.language)}"><head>'
            '<meta charset="utf-8"><meta name="viewport" content="width=device-width, '
            f'initial-scale=1"><title>{escape(manifest.subject)}</title></head><body>'
            f'<main><p><a href="../../index.html">{escape(config.newsletter.name)}</a></p>'
            f"<h1>{escape(manifest.subject)}</h1><ul>{items}</ul></main></body></html>")


def _write_index(site: Path, issues: list[IssueFolder], config: Config,
                 templates: Templates) -> None:
    per_page = config.web.per_page
    entries = [{"number": f.manifest.number, "subject": clean_line(f.manifest.subject),
                "day": long_date(f.manifest.when, config.newsletter.language)}
               for f in issues]
    pages = max(1, -(-len(entries) // per_page))
    for page in range(1, pages + 1):
        root = "" if page == 1 else "../../"
        html = site_page(config, templates, "web/index.html.j2", root=root, page=page,
                         pages=pages, entries=entries[(page - 1) * per_page: page * per_page])
        target = site / "index.html" if page == 1 else site / "page" / str(page) / "index.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(html, "utf-8")


def _feed(issues: list[IssueFolder], pages: dict[int, str], config: Config) -> bytes:
    nl = config.newsletter
    base = nl.web_url.rstrip("/")
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            el.text = text
        return el

    sub(feed, "title", nl.name)
    if nl.dek:
        sub(feed, "subtitle", nl.dek)
    sub(feed, "id", f"{base}/" if base else f"urn:digest:{nl.slug}")
    if base:
        sub(feed, "link", rel="alternate", type="text/html", href=f"{base}/")
        sub(feed, "link", rel="self", type="application/atom+xml", href=f"{base}/feed.xml")
    newest = max((f.manifest.when for f in issues), default=None)
    sub(feed, "updated", _stamp(newest) if newest else "1970-01-01T00:00:00Z")
    author = sub(feed, "author")
    sub(author, "name", nl.name)
    sub(feed, "generator", "digest")
    for folder in issues[:FEED_ENTRIES]:
        manifest = folder.manifest
        entry = sub(feed, "entry")
        sub(entry, "title", clean_line(manifest.subject))  # an issue.json is a file
        url = issue_url(nl.web_url, manifest.number)
        sub(entry, "id", url or f"urn:digest:{nl.slug}:issue:{manifest.number}")
        if url:
            sub(entry, "link", rel="alternate", type="text/html", href=url)
        sub(entry, "updated", _stamp(manifest.when))
        sub(entry, "published", _stamp(manifest.when))
        content = sub(entry, "content", clean_text(_main(pages[manifest.number])),
                      type="html")
        if url:
            content.set("{http://www.w3.org/XML/1998/namespace}base", url)
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def _main(page: str) -> str:
    """The <main> of an issue page: the feed entry's content."""
    doc = lxml.html.fromstring(page)
    main = doc.find(".//main")
    element = main if main is not None else doc
    return "".join(lxml.html.tostring(child, encoding="unicode") for child in element)


def _stamp(when: datetime) -> str:
    return when.isoformat(timespec="seconds")

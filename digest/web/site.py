"""`digest publish`: the web archive, a static site any web server can serve.

    site/index.html, page/<n>/index.html   the issues, newest first, PER_PAGE a page
    site/issues/<number>/index.html        an issue's web page (its folder's web.html)
    site/issues/<number>/images/           the pictures made for it
    site/feed.xml                          Atom 1.0, one entry per issue, full content

Links inside the site are relative, so it works under any base URL; `[newsletter]
web_url` is that base (the feed's ids and links, and each issue's "View in browser").

`site` is a symbolic link to a build folder beside it, `.site.builds/build-XXXXXXXX/`.
Each publish writes a new build there and replaces the link with rename(2), so a reader
sees the old site or the new one, never half of one nor none; the build before is kept
until the next publish (a reader may still be reading it), any other one (left by a
killed publish) is removed. A site an older digest wrote as a plain folder is moved
into that layout once. A folder that is not a digest site is never replaced, and the
site is never the outbox, the state folder, the config's folder nor a parent of one.

Everything copied from an issue folder is hostile: nothing is read through a symbolic
link or from a special file, only http(s) and relative URLs stay links, scripts and
event handlers are dropped, and control and bidi characters are removed from every
page and the feed.
"""

from __future__ import annotations

import ctypes
import fcntl
import fnmatch
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from xml.etree import ElementTree as ET

import lxml.html
from lxml import etree
from lxml_html_clean import Cleaner
from markupsafe import escape

from digest.collect.textclean import clean_line
from digest.config.load import is_web
from digest.config.schema import Config
from digest.errors import OutboxError
from digest.outbox import PREVIEW, IssueFolder
from digest.outbox.folder import fsync_dir
from digest.render.email import Templates, issue_url, load_templates, site_page
from digest.render.text import long_date

MARKER = ".digest-site"  # in the site folder: it is ours to replace
FEED_ENTRIES = 20
ATOM = "http://www.w3.org/2005/Atom"
BUILD = re.compile(r"^build-[A-Za-z0-9_]{8}$")  # tempfile.mkdtemp(prefix="build-")
LOCK, LINK = "lock", "link.tmp"  # in the builds folder
# The temp folders digest 0.1 built the site in, `.<site>.<mkdtemp suffix>`, and the
# old site it renamed aside: removed once they hold our marker.
_OLD_TEMP = re.compile(r"^[A-Za-z0-9_]{8}$|^old$")
_URL_ATTRS = ("href", "src", "action", "formaction", "poster", "cite", "background",
              "longdesc", "data", "xlink:href", "{http://www.w3.org/1999/xlink}href")
_CLEANER = Cleaner(scripts=True, javascript=True, comments=True, style=False,
                   inline_style=False, links=False, meta=False, page_structure=False,
                   processing_instructions=True, embedded=True, frames=True, forms=True,
                   annoying_tags=False, remove_unknown_tags=False, safe_attrs_only=False)


@dataclass(frozen=True)
class PublishReport:
    path: Path
    issues: int
    notes: tuple[str, ...] = ()


def publish(config: Config, out: Path | None = None) -> PublishReport:
    """Write the site for every issue folder of this newsletter in the outbox."""
    site = _location(out or config.path(config.web.site_dir))
    _check_site(site, config)
    issues, notes = _issues(config)
    templates = load_templates(config)
    builds = site.with_name(f".{site.name}.builds")
    with _locked(builds, site):
        _check_site(site, config)  # again: another publish may have run while we waited
        try:
            build = Path(tempfile.mkdtemp(prefix="build-", dir=builds))
        except OSError as e:
            raise _full(site, builds, e) from None
        try:
            notes += _write_site(build, issues, config, templates)
            previous = _swap(site, builds, build)
        except OSError as e:
            shutil.rmtree(build, ignore_errors=True)
            raise _full(site, builds, e) from None
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise
        _sweep(site, builds, keep={build.name, previous})
    return PublishReport(site, len(issues), tuple(clean_line(n) for n in notes))


def _location(path: Path) -> Path:
    """Where the site's link is: its folder resolved, its own name not (the link is what
    a publish replaces)."""
    path = Path(os.path.abspath(path))
    if not path.name:
        raise OutboxError(f"{path} cannot hold a site: it is the root of the file system; "
                          "point [web] site_dir (or --out) at a folder of its own")
    return Path(os.path.realpath(path.parent)) / path.name


def _check_site(site: Path, config: Config) -> None:
    """The same rules for [web] site_dir and --out: the site is replaced whole on every
    publish, so it never holds (or is) what digest keeps, and never replaces what it did
    not write."""
    fix = "point [web] site_dir (or --out) at a new or empty folder of its own, like site/"
    state = config.state_path
    for what, kept in (("the config's folder", config.base_dir), ("the outbox",
                       config.outbox_path), ("the state folder", state.parent),
                       ("the state database", state)):
        held = os.path.realpath(kept)
        if str(site) == held or held.startswith(str(site).rstrip(os.sep) + os.sep):
            raise OutboxError(f"{site} would replace {what} ({held}); {fix}")
    try:
        info = site.lstat()
    except FileNotFoundError:
        return
    except OSError as e:
        raise OutboxError(f"cannot look at {site}: {e.strerror}; {fix}") from None
    if stat.S_ISLNK(info.st_mode):
        if _build_of(site) is None:
            raise OutboxError(f"{site} is a symbolic link digest did not make (to "
                              f"{os.readlink(site)}); {fix}")
    elif not stat.S_ISDIR(info.st_mode) or (not _is_ours(site) and _has_files(site)):
        raise OutboxError(f"{site} exists and is not a site digest wrote (no {MARKER} in "
                          f"it); {fix}")


def _has_files(folder: Path) -> bool:
    try:
        return any(folder.iterdir())
    except OSError:
        return True


def _build_of(site: Path) -> str | None:
    """The build folder `site` links to, when it is ours: `.<site>.builds/build-...`."""
    try:
        target = os.readlink(site)
    except OSError:
        return None
    parts = target.split("/")
    if len(parts) != 2 or parts[0] != f".{site.name}.builds" or not BUILD.match(parts[1]):
        return None
    build = site.parent / parts[0] / parts[1]
    # Ours when what it points at is ours, or is gone (the builds folder was removed).
    return parts[1] if _is_ours(build) or not os.path.lexists(build) else None


def _is_ours(folder: Path) -> bool:
    """A real folder (no link) holding our marker as a regular file."""
    try:
        return (stat.S_ISDIR(folder.lstat().st_mode)
                and stat.S_ISREG((folder / MARKER).lstat().st_mode))
    except OSError:
        return False


@contextmanager
def _locked(builds: Path, site: Path) -> Iterator[None]:
    """One publish of a site at a time (a second waits): the builds folder is then
    ours alone, and whatever in it is not the site is a leftover."""
    try:
        builds.parent.mkdir(parents=True, exist_ok=True)
        builds.mkdir(mode=0o755, exist_ok=True)
        if not stat.S_ISDIR(builds.lstat().st_mode):
            raise OutboxError(f"{builds} is not a folder (a link?); remove it, it is where "
                              f"digest builds the site {site}")
        fd = os.open(builds / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o644)
    except OSError as e:
        raise OutboxError(f"cannot write beside {site} ({builds}): {e.strerror}; check "
                          "[web] site_dir (or --out)") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _full(site: Path, builds: Path, e: OSError) -> OutboxError:
    return OutboxError(f"cannot write the site in {builds}: {e.strerror or e}; free space on "
                       f"that disk (or raise its quota or file size limit) and publish again; "
                       f"{site} still holds the site as it was")


def _issues(config: Config) -> tuple[list[IssueFolder], list[str]]:
    """This newsletter's issues, newest first, each read without following a link. A
    folder that cannot be read is left out with a note naming it; two folders with one
    number stop the publish (which one readers got is not for digest to guess)."""
    outbox, slug = config.outbox_path, config.newsletter.slug
    notes: list[str] = []
    found: dict[int, list[IssueFolder]] = {}
    try:
        names = sorted(outbox.iterdir()) if outbox.is_dir() else []
    except OSError as e:
        raise OutboxError(f"cannot read the outbox {outbox}: {e.strerror}; check [delivery] "
                          "outbox_dir") from None
    for path in names:
        if path.name.startswith(".") or path.name == PREVIEW:
            continue
        named = fnmatch.fnmatchcase(path.name, f"*-{slug}-*")
        try:
            mode = path.lstat().st_mode
        except OSError:
            continue
        if stat.S_ISLNK(mode):
            if named:
                notes.append(f"{path.name} is a symbolic link (never followed); left out "
                             "of the site")
            continue
        if not stat.S_ISDIR(mode):
            continue
        try:
            folder = IssueFolder.open_for_web(path)
        except OutboxError as e:
            if named:
                notes.append(f"{path.name} left out of the site: {e}")
            continue
        if folder.manifest.slug == slug:
            found.setdefault(folder.manifest.number, []).append(folder)
    for number, folders in sorted(found.items()):
        if len(folders) > 1:
            listed = ", ".join(f.path.name for f in folders[:-1]) + f" and {folders[-1].path.name}"
            raise OutboxError(f"issue #{number} is in {len(folders)} folders of {outbox}: "
                              f"{listed}; digest publish does not guess which one readers "
                              "got: move the others out of the outbox, then publish again")
    return [found[n][0] for n in sorted(found, reverse=True)], notes


def _write_site(build: Path, issues: list[IssueFolder], config: Config,
                templates: Templates) -> list[str]:
    notes: list[str] = []
    _write(build / MARKER, "a web archive written by digest publish\n")
    pages: dict[int, str] = {}
    for folder in issues:
        number = folder.manifest.number
        dest = build / "issues" / str(number)
        dest.mkdir(parents=True)
        page = None
        try:
            page = folder.web_page()
            if page is None:
                notes.append(f"issue #{number} was built before issues had a web page: its "
                             "page lists its headlines only")
            else:
                page = _safe_page(page)
        except (OutboxError, ValueError, etree.ParserError) as e:
            notes.append(f"issue #{number}: its web page is not published ({e}); its page "
                         "lists its headlines only")
            page = None
        if page is None:
            page = _safe_page(_headlines(folder, config))
        _write(dest / "index.html", page)
        pages[number] = page
        for name, data in folder.web_images():
            if isinstance(data, str):
                notes.append(f"issue #{number}: images/{name} left out of the site: {data}")
                continue
            (dest / "images").mkdir(mode=0o755, exist_ok=True)
            _write(dest / "images" / name, data)
    _write_index(build, issues, config, templates)
    _write(build / "feed.xml", _feed(issues, pages, config))
    os.chmod(build, 0o755)
    _fsync_folders(build)
    return notes


def _swap(site: Path, builds: Path, build: Path) -> str:
    """Point `site` at `build` in one rename(2); the name of the build it pointed at."""
    previous = _build_of(site) or ""
    link = builds / LINK
    _remove(link)
    os.symlink(f"{builds.name}/{build.name}", link)
    if stat.S_ISDIR(_mode(site)):
        # A site an older digest wrote as a plain folder (checked: ours, or empty), once.
        _remove(builds / "old")
        if not _exchange(link, site):
            site.rename(builds / "old")  # no renameat2 here: a moment without a site
            link.rename(site)
        _remove(link)
        _remove(builds / "old")
    else:
        os.replace(link, site)
    fsync_dir(site.parent)
    return previous


def _exchange(a: Path, b: Path) -> bool:
    """Swap two names in one step (Linux renameat2 RENAME_EXCHANGE); False if the
    system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b),
                     rename_exchange) == 0


def _sweep(site: Path, builds: Path, keep: set[str]) -> None:
    """Remove every build but the site's and the one before it (a killed publish's
    too: never reused), and the temp folders an older digest left beside the site."""
    for path in builds.iterdir():
        if path.name not in keep and (BUILD.match(path.name) or path.name in (LINK, "old")):
            _remove(path)
    prefix = f".{site.name}."
    for path in site.parent.iterdir():
        if path.name.startswith(prefix) and _OLD_TEMP.match(path.name[len(prefix):]) \
                and _is_ours(path):
            _remove(path)


def _mode(path: Path) -> int:
    try:
        return path.lstat().st_mode
    except FileNotFoundError:
        return 0


def _remove(path: Path) -> None:
    mode = _mode(path)
    if stat.S_ISDIR(mode):
        shutil.rmtree(path, ignore_errors=True)
    elif mode:
        path.unlink(missing_ok=True)


def _write(path: Path, text: str | bytes) -> None:
    """Every file of a build passes here, on disk before it returns (see _fsync_folders);
    every page and the feed (text) with no control or bidi character."""
    data = clean_line(text).encode("utf-8") if isinstance(text, str) else text
    with open(path, "xb") as f:
        f.write(data)
        os.fsync(f.fileno())


def _fsync_folders(root: Path) -> None:
    """The build's folders on disk (its files are, by _write) before the link points at
    it: a crash after the swap never shows an empty page."""
    for folder, _, _ in os.walk(root):
        fsync_dir(Path(folder))


def _web_link(url: str) -> bool:
    """May `url` be a link on the site: http(s), or relative (no scheme). Browsers drop
    tabs, newlines and leading blanks and controls before reading the scheme, and so
    does this."""
    bare = re.sub(r"[\x00-\x20\x7f]", "", url)
    return not re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*:", bare) or is_web(bare)


def _safe_page(page: str) -> str:
    """An issue's page as the site shows it: no script, event handler, frame, form or
    refresh, and only http(s) and relative URLs. ValueError if it is no HTML page."""
    doc = lxml.html.document_fromstring(page)
    _CLEANER(doc)
    for el in list(doc.iter()):
        if not isinstance(el.tag, str):
            continue
        if el.tag == "meta" and el.get("http-equiv") is not None:
            el.drop_tree()
            continue
        for attr in _URL_ATTRS:
            value = el.get(attr)
            if value is not None and not _web_link(value):
                del el.attrib[attr]
        srcset = el.get("srcset")
        if srcset is not None and not all(_web_link(c.strip().split(" ")[0])
                                          for c in srcset.split(",") if c.strip()):
            del el.attrib["srcset"]
    return lxml.html.tostring(doc, doctype="<!DOCTYPE html>", encoding="unicode")


def _headlines(folder: IssueFolder, config: Config) -> str:
    """The page of an issue built before web pages: its headlines, from issue.json."""
    manifest = folder.manifest
    stories = [s for section in (manifest.sections.big_story, manifest.sections.need_to_know,
                                 manifest.sections.read_more) for s in section]
    items = "".join(
        f'<li><a href="{escape(s.url)}">{escape(s.title)}</a></li>'
        if isinstance(s.url, str) and _web_link(s.url) else f"<li>{escape(s.title)}</li>"
        for s in stories)
    return (f'<!DOCTYPE html><html lang="{escape(config.newsletter.language)}"><head>'
            '<meta charset="utf-8"><meta name="viewport" content="width=device-width, '
            f'initial-scale=1"><title>{escape(manifest.subject)}</title></head><body>'
            f'<main><p><a href="../../index.html">{escape(config.newsletter.name)}</a></p>'
            f"<h1>{escape(manifest.subject)}</h1><ul>{items}</ul></main></body></html>")


def _write_index(site: Path, issues: list[IssueFolder], config: Config,
                 templates: Templates) -> None:
    per_page = config.web.per_page
    entries = [{"number": f.manifest.number, "subject": f.manifest.subject,
                "day": long_date(f.manifest.when, config.newsletter.language)}
               for f in issues]
    pages = max(1, -(-len(entries) // per_page))
    for page in range(1, pages + 1):
        root = "" if page == 1 else "../../"
        html = site_page(config, templates, "web/index.html.j2", root=root, page=page,
                         pages=pages, entries=entries[(page - 1) * per_page: page * per_page])
        target = site / "index.html" if page == 1 else site / "page" / str(page) / "index.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        _write(target, html)


def _feed(issues: list[IssueFolder], pages: dict[int, str], config: Config) -> str:
    nl = config.newsletter
    base = nl.web_url.rstrip("/")
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        # An issue.json is a file: hostile. Its control and bidi characters go when the
        # whole feed is written (_write), as every page's do.
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
        sub(entry, "title", manifest.subject)
        url = issue_url(nl.web_url, manifest.number)
        sub(entry, "id", url or f"urn:digest:{nl.slug}:issue:{manifest.number}")
        if url:
            sub(entry, "link", rel="alternate", type="text/html", href=url)
        sub(entry, "updated", _stamp(manifest.when))
        sub(entry, "published", _stamp(manifest.when))
        content = sub(entry, "content", _main(pages[manifest.number]), type="html")
        if url:
            content.set("{http://www.w3.org/XML/1998/namespace}base", url)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode")


def _main(page: str) -> str:
    """The <main> of an issue page: the feed entry's content."""
    doc = lxml.html.fromstring(page)
    main = doc.find(".//main")
    element = main if main is not None else doc
    return "".join(lxml.html.tostring(child, encoding="unicode") for child in element)


def _stamp(when: datetime) -> str:
    return when.isoformat(timespec="seconds")


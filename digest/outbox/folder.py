"""The issue folder, `outbox/<date>-<slug>-<number>/`: the only code that knows its
layout. Build writes it, recovery scans it, send opens it, all through `IssueFolder`.

    email.html, email.txt      the first recipient's copy of both parts
    message.eml                exactly what `digest send` sends that recipient
    email.template.html/.txt   both parts with per-recipient placeholders left in
    images/<name>.jpg          the pictures made for the issue (with [newsletter]
                               assets_url, which is where they are published)
    issue.json                 the `Manifest`: what went where and why, versioned
    variants/<n>/              a topic edition (digest.curate.variants): the same files
                               but web.html and images/ (its pictures are in images/)

A folder is written into a hidden temp folder and renamed into place, so nobody sees
a half-written issue; an existing issue folder is never overwritten.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from digest.collect.htmltext import html_text
from digest.errors import OutboxError
from digest.models import Article, RenderedIssue, Section

MANIFEST_VERSION = 5  # 3: `images`; 4: decisions' `score`, stories' `language`, `undated`
# 5: `variants`
READABLE_VERSIONS = (2, 3, 4, 5)  # a version 2 manifest reads as one without images
PREVIEW = "preview"
MANIFEST = "issue.json"
HTML, TEXT, EML = "email.html", "email.txt", "message.eml"
TEMPLATE_HTML, TEMPLATE_TEXT = "email.template.html", "email.template.txt"
IMAGES = "images"
WEB = "web.html"  # the issue's web page (digest publish), from digest 0.1 issue 12 on
VARIANTS = "variants"
VARIANT_FOLDER = re.compile(r"^variants/[1-9][0-9]{0,2}$")  # variants/<n>, n from 1
IMAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,80}\.jpg$")  # digest.enrich.pictures makes them so
STALE_SECONDS = 600  # a temp folder older than this was abandoned by a killed run
# Our own temp folders, `.<folder>.<mkdtemp suffix>` and `.<folder>.old`: nothing else
# in the outbox is ever removed (it may be a web root, or the config's own folder).
_TEMP = re.compile(r"^\.(?:\d{4}-\d{2}-\d{2}-[a-z0-9-]+-\d+|preview)\.[A-Za-z0-9_]{8}$|"
                   r"^\.(?:\d{4}-\d{2}-\d{2}-[a-z0-9-]+-\d+|preview)\.old$")
_NO_DECISIONS = '\n  "decisions": []'  # where Manifest.json_chunks puts them
_ISSUE_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}-([a-z0-9-]+)-(\d{1,9})$")


@dataclass(frozen=True)
class PlacedStory:
    id: str
    title: str
    url: str
    feed: str
    category: str
    published: str | None
    image: str | None  # the image's file name
    language: str = ""
    undated: bool = False  # the feed gave no date: `published` is the feed's, or None
    words: int = 0  # of its text (body, else summary): a lead needs enough

    @classmethod
    def of(cls, article: Article) -> PlacedStory:
        return cls(article.id, article.title, article.url, article.feed_name, article.category,
                   article.published.isoformat() if article.published else None,
                   article.image.url.rsplit("/", 1)[-1] if article.image else None,
                   article.language, article.undated, _words(article))


def _words(article: Article) -> int:
    text = html_text(article.body_html, captions=False) if article.body_html else article.summary
    return len(text.split()) + sum(1 for c in text if "\u3040" <= c <= "\u9fff") // 2


@dataclass(frozen=True)
class Sections:
    big_story: tuple[PlacedStory, ...] = ()
    need_to_know: tuple[PlacedStory, ...] = ()
    read_more: tuple[PlacedStory, ...] = ()
    coming_up: tuple[dict[str, str], ...] = ()  # {"date": "2026-12-09", "event": ...}


@dataclass(frozen=True)
class ImageRecord:
    """A file in images/: which story's picture, from where, for which slot, its size."""

    name: str
    story: str  # article id
    slot: str  # big_story | read_more
    width: int
    height: int
    source: str  # the feed's picture url; for a picture on disk, its file name only


@dataclass(frozen=True)
class DecisionRecord:
    article_id: str
    section: Section
    position: int
    reason: str
    url: str | None = None  # the article's canonical URL
    score: dict[str, float | bool] | None = None  # digest.curate.rank.Score.parts()

    def as_dict(self) -> dict[str, object]:
        """As in issue.json: `asdict` less an empty url or score, the score not copied."""
        data: dict[str, object] = {"article_id": self.article_id, "section": self.section,
                                   "position": self.position, "reason": self.reason}
        if self.url is not None:
            data["url"] = self.url
        if self.score is not None:
            data["score"] = self.score
        return data


@dataclass(frozen=True)
class VariantRecord:
    """A topic edition of the issue (digest.curate.variants), in the issue's issue.json.
    `folder` is "variants/<n>", or "" when it fell back to the full edition."""

    key: str  # "markets+tech"
    topics: tuple[str, ...]
    stories: tuple[str, ...] = ()  # article ids, as placed (the full edition's if fallback)
    fallback: bool = False
    folder: str = ""
    readers: int = 0  # when it was built
    subject: str = ""
    html_bytes: int = 0
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Manifest:
    """issue.json. `marker` is the per-issue secret that spells the placeholders in
    the template parts (see render.Placeholders); only those are ever substituted."""

    newsletter: str
    slug: str
    number: int
    date: str  # ISO 8601 with offset, the build time in the newsletter's zone
    folder: str
    subject: str
    preheader: str
    marker: str
    state_id: str = ""  # the state database that made the issue (store.state_id)
    slot: str | None = None
    html_bytes: int = 0
    dropped_cards: int = 0
    notes: tuple[str, ...] = ()
    sections: Sections = field(default_factory=Sections)
    decisions: tuple[DecisionRecord, ...] = ()
    images: tuple[ImageRecord, ...] = ()
    variants: tuple[VariantRecord, ...] = ()
    manifest_version: int = MANIFEST_VERSION

    @property
    def when(self) -> datetime:
        return datetime.fromisoformat(self.date)

    @classmethod
    def of(cls, rendered: RenderedIssue, *, newsletter: str, slug: str, folder: str,
           state_id: str, urls: Mapping[str, str],
           images: tuple[ImageRecord, ...] = ()) -> Manifest:
        """`urls`: article id -> canonical URL for every article the issue considered,
        so the folder alone says which stories it used up."""
        issue = rendered.issue
        return cls(
            newsletter=newsletter, slug=slug, state_id=state_id, number=issue.number,
            date=issue.date.isoformat(timespec="seconds"), folder=folder,
            subject=rendered.subject, preheader=rendered.preheader, marker=rendered.marker,
            slot=issue.slot, html_bytes=len(rendered.html.encode()),
            dropped_cards=rendered.dropped_cards, notes=rendered.notes,
            sections=Sections(
                big_story=tuple(PlacedStory.of(a) for a in (issue.big_story,) if a),
                need_to_know=tuple(PlacedStory.of(a) for a in issue.need_to_know),
                read_more=tuple(PlacedStory.of(a) for a in issue.read_more),
                coming_up=tuple({"date": e.date.isoformat(), "event": e.event}
                                for e in issue.coming_up),
            ),
            decisions=tuple(DecisionRecord(d.article_id, d.section, d.position, d.reason,
                                           urls.get(d.article_id),
                                           _score(d.score))
                            for d in issue.decisions),
            images=images,
        )

    def to_json(self) -> str:
        return "".join(self.json_chunks())

    def json_chunks(self) -> Iterator[str]:
        """issue.json's text in pieces, one decision a piece: the same text as
        `json.dumps(asdict(self), indent=2)` less the decisions' empty url and score,
        without a copy of its ~50,000 decisions (at 1,000 feeds) held at once."""
        data = dataclasses.asdict(dataclasses.replace(self, decisions=()))
        data = {"manifest_version": data.pop("manifest_version"), **data}
        if not data["variants"]:  # an issue without topic editions reads as before
            del data["variants"]
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        if not self.decisions:
            yield text
            return
        # A JSON string holds no raw newline: this is the key, never text inside one.
        head, tail = text.split(_NO_DECISIONS, 1)
        yield head + '\n  "decisions": ['
        sep = "\n    "
        for d in self.decisions:
            yield sep + json.dumps(d.as_dict(), indent=2, ensure_ascii=False).replace(
                "\n", "\n    ")
            sep = ",\n    "
        yield "\n  ]" + tail

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse issue.json; ValueError says what is wrong."""
        try:
            data = json.loads(text)
            version = data.get("manifest_version")
            if version not in READABLE_VERSIONS:
                raise ValueError(f"manifest_version {version!r}; this digest reads "
                                 f"{' and '.join(map(str, READABLE_VERSIONS))}")
            sections = data.get("sections", {})
            manifest = cls(**{
                **data,
                "notes": tuple(data.get("notes", ())),
                "sections": Sections(
                    **{k: tuple(PlacedStory(**s) for s in sections.get(k, ()))
                       for k in ("big_story", "need_to_know", "read_more")},
                    coming_up=tuple(sections.get("coming_up", ()))),
                "decisions": tuple(DecisionRecord(**d) for d in data.get("decisions", ())),
                "images": tuple(ImageRecord(**i) for i in data.get("images", ())),
                "variants": tuple(_variant(v) for v in data.get("variants", ())),
            })
        except (AttributeError, TypeError, KeyError, json.JSONDecodeError) as e:
            raise ValueError(f"not a digest issue manifest ({e})") from None
        manifest._check()
        return manifest

    def _check(self) -> None:
        """Types and ranges of what recovery and sending rely on; ValueError if wrong."""
        def need(ok: bool, what: str) -> None:
            if not ok:
                raise ValueError(f"damaged manifest: {what}")

        number = self.number
        need(type(number) is int and 0 < number < 1_000_000_000, "number is not an issue number")
        need(isinstance(self.date, str), "date is not a string")
        try:
            need(self.when.tzinfo is not None, "date has no UTC offset")
        except ValueError:
            need(False, f"date {self.date!r} is not an ISO 8601 time")
        need(isinstance(self.marker, str) and re.fullmatch(r"[0-9a-f]{16,64}", self.marker)
             is not None, "marker is not hex")
        for name in ("newsletter", "slug", "folder", "subject", "preheader", "state_id"):
            need(isinstance(getattr(self, name), str), f"{name} is not a string")
        need(self.slot is None or isinstance(self.slot, str), "slot is not a string")
        for d in self.decisions:
            need(isinstance(d.article_id, str) and isinstance(d.section, str)
                 and type(d.position) is int and isinstance(d.reason, str)
                 and (d.url is None or isinstance(d.url, str))
                 and (d.score is None or isinstance(d.score, dict)), "a decision is malformed")
        for i in self.images:
            need(isinstance(i.name, str) and IMAGE_NAME.match(i.name) is not None
                 and isinstance(i.story, str) and isinstance(i.slot, str)
                 and isinstance(i.source, str) and type(i.width) is int
                 and type(i.height) is int, "an image entry is malformed")
        for v in self.variants:
            need(isinstance(v.key, str) and all(isinstance(t, str) for t in v.topics)
                 and all(isinstance(a, str) for a in v.stories)
                 and isinstance(v.fallback, bool) and isinstance(v.folder, str)
                 and (VARIANT_FOLDER.match(v.folder) is not None) != v.fallback,
                 "a variant entry is malformed")

    @property
    def story_ids(self) -> tuple[str, ...]:
        """The placed stories' ids, in the issue's order."""
        s = self.sections
        return tuple(p.id for p in s.big_story + s.need_to_know + s.read_more)


def _score(score: Mapping[str, float | bool] | None) -> dict[str, float | bool] | None:
    """A decision's score parts as a dict: Score.parts() made one already (not copied
    again: 50,000 of them at 1,000 feeds)."""
    if not score:
        return None
    return score if type(score) is dict else dict(score)


def _variant(data: dict[str, object]) -> VariantRecord:
    return VariantRecord(**{**data, **{k: tuple(data.get(k, ()))  # type: ignore[arg-type]
                                       for k in ("topics", "stories", "notes")}})


@dataclass(frozen=True)
class IssueFiles:
    """Everything an issue folder holds, ready to write."""

    manifest: Manifest
    template_html: str
    template_text: str
    html: str
    text: str
    eml: bytes
    images: tuple[tuple[str, bytes], ...] = ()  # (name, JPEG bytes) for images/
    web: str = ""  # the issue's page for the web archive (digest publish): no personal data
    variants: tuple[tuple[str, IssueFiles], ...] = ()  # ("variants/<n>", its files)


def folder_name(date: datetime, slug: str, number: int) -> str:
    return f"{date.date().isoformat()}-{slug}-{number}"


class IssueFolder:
    """One issue folder on disk. `write` creates one, `open` reads one back."""

    def __init__(self, path: Path, manifest: Manifest) -> None:
        self.path = path
        self.manifest = manifest

    @classmethod
    def write(cls, outbox: Path, files: IssueFiles, *, replace: bool = False) -> IssueFolder:
        """Write atomically. `replace` is only for the preview folder."""
        name = files.manifest.folder
        try:
            outbox.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutboxError(f"cannot create outbox {outbox}: {e.strerror}; check "
                              "[delivery] outbox_dir") from None
        final = outbox / name
        if final.exists() and not replace:
            raise OutboxError(f"outbox folder {final} already exists; digest never overwrites "
                              "an issue: move it away if it is stale")
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=outbox))
        except OSError as e:
            raise OutboxError(f"cannot write in outbox {outbox}: {e.strerror}; check "
                              "[delivery] outbox_dir") from None
        try:
            _write_parts(tmp, files)
            if files.variants:
                (tmp / VARIANTS).mkdir()
                for sub, variant in files.variants:
                    if not VARIANT_FOLDER.match(sub):
                        raise OutboxError(f"issue #{files.manifest.number}: variant folder "
                                          f"{sub!r} refused")
                    (tmp / sub).mkdir()
                    _write_parts(tmp / sub, variant)
                    os.chmod(tmp / sub, 0o755)
                os.chmod(tmp / VARIANTS, 0o755)
            if files.web:
                _write(tmp / WEB, files.web.encode("utf-8"))
            if files.images:
                (tmp / IMAGES).mkdir()
                for image, data in files.images:
                    if not IMAGE_NAME.match(image):  # a name is never a path
                        raise OutboxError(f"issue #{files.manifest.number}: image name "
                                          f"{image!r} refused")
                    _write(tmp / IMAGES / image, data)
                os.chmod(tmp / IMAGES, 0o755)
            os.chmod(tmp, 0o755)
            if replace:
                swap_folder(tmp, final)
            else:
                tmp.rename(final)
            fsync_dir(outbox)
        except OSError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise OutboxError(f"cannot write issue folder {final}: {e}") from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return cls(final, files.manifest)

    @classmethod
    def open(cls, path: Path) -> IssueFolder:
        try:
            text = (path / MANIFEST).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise OutboxError(f"cannot read {path / MANIFEST}: {e}; restore the issue folder "
                              "or rebuild the issue") from None
        try:
            return cls(path, Manifest.from_json(text))
        except ValueError as e:
            raise OutboxError(f"{path / MANIFEST}: {e}") from None

    def variant(self, record: VariantRecord) -> IssueFolder:
        """A topic edition's folder (variants/<n>), read as an issue folder of its own;
        OutboxError when it fell back (it has none) or cannot be read."""
        if not VARIANT_FOLDER.match(record.folder):
            raise OutboxError(f"{self.path / MANIFEST}: the {record.key} edition has no folder")
        return IssueFolder.open(self.path / record.folder)

    @classmethod
    def open_for_web(cls, path: Path) -> IssueFolder:
        """As `open`, for `digest publish`, which copies from the folder to the web: never
        through a symbolic link (the folder or its issue.json) nor a special file, and a
        manifest whose text UTF-8 cannot hold (a lone surrogate written as `\\ud800`)
        is damaged. OutboxError names the folder."""
        try:
            if path.is_symlink():
                raise OSError(errno.ELOOP, "a symbolic link")
            text = read_regular(path / MANIFEST).decode("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise OutboxError(f"cannot read {path / MANIFEST}: {_why(e)}") from None
        try:
            manifest = Manifest.from_json(text)
            for chunk in manifest.json_chunks():
                chunk.encode("utf-8")
        except UnicodeEncodeError as e:
            raise OutboxError(f"{path / MANIFEST}: damaged manifest: a lone surrogate "
                              f"({e.object[e.start:e.end]!a}) in its text") from None
        except ValueError as e:
            raise OutboxError(f"{path / MANIFEST}: {e}") from None
        return cls(path, manifest)

    def web_page(self) -> str | None:
        """web.html, None when the issue has none (built before issues had a web page).
        Never through a link, never a special file: OutboxError says why."""
        try:
            return read_regular(self.path / WEB).decode("utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as e:
            raise OutboxError(f"{self.path / WEB}: {_why(e)}") from None

    def web_images(self) -> Iterator[tuple[str, bytes | str]]:
        """The files of images/ for the web, one at a time: (name, bytes), or (name,
        why not) for one left out (a link, a FIFO or device, a name digest never makes).
        A FIFO is never opened (it would block)."""
        images = self.path / IMAGES
        try:
            info = images.lstat()
        except FileNotFoundError:
            return
        except OSError as e:
            yield IMAGES, _why(e)
            return
        if not stat.S_ISDIR(info.st_mode):
            yield IMAGES, _kind(info.st_mode)
            return
        try:
            fd = os.open(images, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as e:
            yield IMAGES, _why(e)
            return
        try:
            for name in sorted(os.listdir(fd)):
                if not IMAGE_NAME.match(name):
                    yield name, "not a picture name digest makes"
                    continue
                try:
                    yield name, read_regular(Path(name), dir_fd=fd)
                except OSError as e:
                    yield name, _why(e)
        finally:
            os.close(fd)

    def template_parts(self) -> tuple[str, str]:
        """The HTML and text parts with their placeholders, as `digest send` reads them."""
        try:
            return ((self.path / TEMPLATE_HTML).read_text("utf-8"),
                    (self.path / TEMPLATE_TEXT).read_text("utf-8"))
        except (OSError, UnicodeDecodeError) as e:
            raise OutboxError(f"issue #{self.manifest.number}: cannot read its template parts "
                              f"in {self.path} ({e}); restore the folder or rebuild the "
                              "issue") from None

    def check_owner(self, slug: str, state_id: str) -> None:
        """Refuse a folder made by another newsletter or another state database (a
        shared outbox, or an old folder after the database was replaced)."""
        manifest = self.manifest
        if manifest.slug != slug:
            raise OutboxError(f"{self.path} holds an issue of {manifest.newsletter!r}, not of "
                              f"this newsletter ([newsletter] slug {slug!r}); not sending it")
        if manifest.state_id != state_id:
            raise OutboxError(f"{self.path} was made with another state database, not "
                              "[state] path; not sending it (move the folder away, or point "
                              "[state] path at the database that built it)")

    def remove(self) -> None:
        """Undo a write whose database commit failed."""
        shutil.rmtree(self.path, ignore_errors=True)


def scan_outbox(outbox: Path, *, sweep: bool = False) -> Iterator[IssueFolder]:
    """Every readable issue folder, oldest name first. With `sweep`, removes temp
    folders abandoned by a killed run (young ones may be a preview being written)."""
    if not outbox.is_dir():
        return
    for path in sorted(outbox.iterdir()):
        if not path.is_dir() or path.name == PREVIEW:
            continue
        if path.name.startswith("."):
            if sweep and _TEMP.match(path.name) and \
                    time.time() - path.stat().st_mtime > STALE_SECONDS:
                shutil.rmtree(path, ignore_errors=True)
            continue
        if (path / MANIFEST).is_file():
            try:
                yield IssueFolder.open(path)
            except OutboxError:
                continue


@dataclass(frozen=True)
class Published:
    """What the outbox says a newsletter has already published, whatever any database
    remembers: the last issue number, and each used article URL -> its issue."""

    last_number: int = 0
    urls: Mapping[str, int] = field(default_factory=dict)


def published(outbox: Path, slug: str) -> Published:
    last = 0
    urls: dict[str, int] = {}
    if outbox.is_dir():  # a folder's name holds its number even if its manifest is damaged
        for path in outbox.iterdir():
            match = _ISSUE_NAME.match(path.name)
            if match and match.group(1) == slug:
                last = max(last, int(match.group(2)))
    for folder in scan_outbox(outbox):
        manifest = folder.manifest
        if manifest.slug != slug:
            continue
        last = max(last, manifest.number)
        for d in manifest.decisions:
            if d.url:
                urls.setdefault(d.url, manifest.number)
    return Published(last, urls)


def swap_folder(tmp: Path, final: Path) -> None:
    """Put the folder `tmp` at `final`, replacing the one there (the preview, the web
    archive): the old one is renamed aside, as `.<name>.old`, and removed after."""
    if not final.exists():
        tmp.rename(final)
        return
    old = final.with_name(f".{final.name}.old")
    if old.is_symlink() or old.is_file():
        old.unlink()
    shutil.rmtree(old, ignore_errors=True)
    final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def read_regular(path: Path, *, dir_fd: int | None = None) -> bytes:
    """A regular file's bytes, never through a symbolic link (the last part of `path`;
    ELOOP) and never opening a FIFO or device (a FIFO would block): the kind is looked at
    first, and checked again on what was opened."""
    info = os.stat(path, dir_fd=dir_fd, follow_symlinks=False)
    if not stat.S_ISREG(info.st_mode):
        raise OSError(errno.EINVAL, _kind(info.st_mode))
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                 dir_fd=dir_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped since the look
            raise OSError(errno.EINVAL, "not a regular file")
        with os.fdopen(os.dup(fd), "rb") as f:
            return f.read()
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link (never followed)"
    if stat.S_ISFIFO(mode):
        return "a FIFO, not a file"
    if stat.S_ISDIR(mode):
        return "a folder, not a file"
    if stat.S_ISREG(mode):
        return "a file, not a folder"
    return "a device or socket, not a file"


def _why(e: OSError | UnicodeDecodeError) -> str:
    if isinstance(e, UnicodeDecodeError):
        return "not UTF-8 text"
    if e.errno == errno.ELOOP:
        return "a symbolic link (never followed)"
    return e.strerror or str(e)


def _write_parts(folder: Path, files: IssueFiles) -> None:
    for file, data in ((HTML, files.html), (TEXT, files.text), (EML, files.eml),
                       (TEMPLATE_HTML, files.template_html),
                       (TEMPLATE_TEXT, files.template_text)):
        _write(folder / file, data.encode("utf-8") if isinstance(data, str) else data)
    with open(folder / MANIFEST, "wb") as f:  # a piece at a time: see Manifest.json_chunks
        for chunk in files.manifest.json_chunks():
            f.write(chunk.encode("utf-8"))
        f.flush()
        os.fsync(f.fileno())


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def fsync_dir(path: Path) -> None:
    """A folder's entries on disk (after a file in it is made, renamed or removed)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


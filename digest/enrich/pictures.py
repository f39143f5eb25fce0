"""Pictures for the placed stories: each fetched once per build, measured, and (with
`[newsletter] assets_url`) cropped to its slot and resized into the issue folder.

Slots, in CSS pixels: the big story's picture is 600 wide at 16:9, a Read More card's
258 wide at 3:2 (the templates' columns). Need to know shows no pictures.

- **With `assets_url`** each picture is cropped, centred, to its slot's aspect and
  resized to twice the slot's width (never enlarged), written as a JPEG into the issue
  folder's `images/` and shown from `<assets_url>/<name>`. Names carry a hash of the
  source bytes, so one flat folder can hold every issue's files. A preview shows them
  from `images/<name>`, beside its email.html, as they are not published yet.
- **Without**, the feed's own picture is hot-linked, with a width and height that keep
  its aspect inside the slot (no taller than the slot is wide).
- A picture under MIN_PX in either dimension, or one that cannot be used (HTTP 4xx,
  not an image, over `[collect] max_bytes`, truncated, a decompression bomb, an
  internal address from a public feed) is taken from its story: curate runs again, so
  the big story goes to a story with a picture. One that could not be fetched for now
  (a timeout, a 5xx, no connection) stays hot-linked, unmeasured. Either way a note
  names the picture and why.

Fetching goes through `digest.collect.fetch` (the feeds' deadline, byte cap and SSRF guard; a
picture may reach an internal address only if its feed's own url is on one). The
fetch cache (digest.state.cache, beside the state database) keeps what was made, per
source url and slot, with the source's ETag / Last-Modified for a conditional GET next
time; a preview (`fresh_for`) uses what was fetched or revalidated that recently
without asking the host at all.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import math
import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from stat import S_ISREG
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import httpx

from digest.clock import utcnow
from digest.collect.hosts import LookupFailures, Resolver, system_resolve
from digest.config.load import is_web, lower_scheme
from digest.config.schema import CollectConfig, Config
from digest.enrich.linked import Linked, recent
from digest.errors import FeedError
from digest.models import Article, CachedImage, CuratedIssue, Image

if TYPE_CHECKING:  # Pillow is imported when a picture is decoded, not with digest
    from PIL import Image as PILImage

MIN_PX = 100  # a smaller picture is an icon or a pixel, never a hero or a card picture
MAX_PIXELS = 30_000_000  # refused above this before decoding (a 24 MP camera fits)
FORMATS = ("JPEG", "PNG", "GIF", "WEBP")  # nothing that runs a helper (EPS) or is exotic
QUALITY = 75  # the files are twice the size shown: artefacts shrink with them
MEASURED = ""  # cache slot of a picture only measured (hot-linked), nothing made


@dataclass(frozen=True)
class Slot:
    name: str  # the section: "big_story" | "read_more"
    label: str  # in file names
    width: int  # CSS px
    aspect_w: int
    aspect_h: int

    def height_for(self, width: int) -> int:
        return round(width * self.aspect_h / self.aspect_w)


HERO = Slot("big_story", "hero", 600, 16, 9)
CARD = Slot("read_more", "card", 258, 3, 2)


@dataclass(frozen=True)
class ImageFile:
    """A picture made for the issue folder's images/."""

    name: str
    data: bytes
    source: str  # the feed's picture url
    story: str  # article id
    slot: str
    width: int  # of the file, in pixels
    height: int


@dataclass(frozen=True)
class Placement:
    issue: CuratedIssue  # placed stories' pictures with their final url and size
    files: tuple[ImageFile, ...]
    notes: tuple[str, ...]  # every picture left out or not measured, and why
    unusable: Mapping[str, str]  # article id -> why its picture cannot be shown
    left_out: tuple[str, ...] = ()  # the notes about those


class PictureError(Exception):
    """This picture cannot be used, ever (as opposed to a fetch that failed for now)."""


@dataclass
class _Source:
    """What one fetch of a picture's url gave, for this build."""

    body: bytes | None = None  # None: not modified (see cached), or failed
    kind: str = ""  # the Content-Type the server gave
    etag: str | None = None
    last_modified: str | None = None
    cached: dict[str, CachedImage] = field(default_factory=dict)
    error: str | None = None  # the whole message, naming the picture and its feed
    reason: str = ""  # the same without the names
    lasting: bool = False  # the error makes the picture unusable
    revalidated: bool = False  # the server answered 304: the cached rows are current
    fetched_for: str = ""  # see CachedImage.fetched_for


@dataclass(frozen=True)
class _Made:
    name: str
    data: bytes
    source_width: int
    source_height: int
    width: int
    height: int


class Pictures:
    """The pictures of one build. Each url is fetched at most once, whichever rounds
    of curating place it; `fresh()` is what to keep in the fetch cache after. What the
    cache fetched within `fresh_for` (a preview's) is used without asking its host."""

    def __init__(self, config: Config, *, cached: Callable[[str], dict[str, CachedImage]],
                 preview: bool = False, client: httpx.AsyncClient | None = None,
                 resolve: Resolver = system_resolve, fresh_for: timedelta | None = None,
                 lookups: LookupFailures | None = None) -> None:
        self.settings: CollectConfig = config.collect
        self.fresh_for = fresh_for
        self.assets = config.newsletter.assets_url.rstrip("/")
        self.preview = preview
        self._cached = cached
        self._linked = Linked(self.settings, client, resolve, lookups=lookups)
        self._sources: dict[str, _Source] = {}
        self._made: dict[tuple[str, str], _Made] = {}
        self._fresh: dict[tuple[str, str], CachedImage] = {}

    def fresh(self) -> list[CachedImage]:
        """What was made from fetched bytes this build, and what a 304 confirmed, for
        the cache."""
        return list(self._fresh.values())

    def place(self, issue: CuratedIssue) -> Placement:
        """Measure (and make) the big story's and the cards' pictures. A story whose
        picture cannot be used comes back without it (and in `unusable`)."""
        jobs: list[tuple[Article, Image, Slot]] = []
        for article, slot in [(issue.big_story, HERO)] + [(a, CARD) for a in issue.read_more]:
            if article and article.image:
                jobs.append((article, article.image, slot))
        wanted: dict[str, tuple[set[str], Article]] = {}
        for article, image, slot in jobs:
            wanted.setdefault(image.url, (set(), article))[0].add(self._key(slot))
        missing = {url: job for url, job in wanted.items() if not self._covered(url, job[0])}
        for url, (keys, article) in list(missing.items()):
            if (kept := self._recent(url, keys, article)) is not None:  # no client or loop
                self._sources[url] = kept
                del missing[url]
        if missing:
            asyncio.run(self._fetch_all(missing))
        files: dict[str, ImageFile] = {}
        notes: list[str] = []
        left_out: list[str] = []
        unusable: dict[str, str] = {}
        images: dict[str, Image | None] = {}
        for article, image, slot in jobs:
            url = image.url
            try:
                made = self._make(url, slot, self._sources[url])
            except PictureError as e:
                unusable[article.id] = str(e)
                images[article.id] = None
                left_out.append(f"picture {url} of {article.title[:80]!r} (feed "
                                f"{article.feed_name!r}) left out: {e}")
                notes.append(left_out[-1])
                continue
            if made is None:  # could not be fetched for now
                notes.append(f"{self._sources[url].error}; hot-linked as it is, unmeasured")
                images[article.id] = replace(image, width=slot.width, height=None)
            elif self.assets:
                width = min(slot.width, 2 * made.width)
                src = f"images/{made.name}" if self.preview else f"{self.assets}/{made.name}"
                images[article.id] = replace(image, url=src, source=url, width=width,
                                             height=slot.height_for(width))
                files[made.name] = ImageFile(made.name, made.data, url, article.id, slot.name,
                                             made.width, made.height)
            else:
                width, height = _fit(made.source_width, made.source_height, slot)
                images[article.id] = replace(image, width=width, height=height)

        def placed(a: Article) -> Article:
            return replace(a, image=images[a.id]) if a.id in images else a

        issue = replace(issue, big_story=placed(issue.big_story) if issue.big_story else None,
                        read_more=tuple(placed(a) for a in issue.read_more))
        return Placement(issue, tuple(files.values()), tuple(notes), unusable, tuple(left_out))

    def _key(self, slot: Slot) -> str:
        """The cache's slot: what is made for the slot, or only the measuring."""
        return slot.name if self.assets else MEASURED

    def _covered(self, url: str, keys: set[str]) -> bool:
        """Fetched already this build, with what these slots need."""
        source = self._sources.get(url)
        if source is None:
            return False
        return source.body is not None or source.error is not None or keys <= set(source.cached)

    def _recent(self, url: str, keys: set[str], article: Article) -> _Source | None:
        """What the cache made of a web picture within `fresh_for`, for every slot in
        `keys`: used as it is, its host not asked. Not what an internal feed's standing
        let digest fetch, for another feed's story (which asks, under its own rules)."""
        if self.fresh_for is None or not is_web(url):
            return None
        cached = self._cached(url)
        usable = [cached[k] for k in keys if k in cached]
        if len(usable) == len(keys) and all(
                recent(c.fetched_at, self.fresh_for)
                and c.fetched_for in ("", article.feed_url) for c in usable):
            return _Source(cached=cached)
        return None

    async def _fetch_all(self, missing: dict[str, tuple[set[str], Article]]) -> None:
        async def one(url: str, wanted: tuple[set[str], Article],
                      client: httpx.AsyncClient) -> None:
            self._sources[url] = await self._fetch(url, *wanted, client)

        await self._linked.each(missing, one)

    async def _fetch(self, url: str, keys: set[str], article: Article,
                     client: httpx.AsyncClient) -> _Source:
        what = f"picture {url} (feed {article.feed_name!r})"
        scheme = lower_scheme(url).split(":", 1)[0]
        web_feed = is_web(article.feed_url)
        if scheme == "file" and not web_feed:  # the bundled samples: a feed on disk
            try:
                body = await asyncio.to_thread(_read_file, url, self.settings.max_bytes)
            except PictureError as e:
                return _Source(error=f"{what}: {e}", reason=str(e), lasting=True)
            return _Source(body=body)
        if scheme not in ("http", "https"):  # parse lets no other through; refused anyway
            reason = f"a {scheme}: picture in a web feed; refused"
            return _Source(error=f"{what}: {reason}", reason=reason, lasting=True)
        cached = self._cached(url)
        usable = [cached[k] for k in keys if k in cached]
        some = usable[0] if len(usable) == len(keys) else None  # else: fetch it whole
        try:
            fetched = await self._linked.fetch(
                "picture", url, article, client, etag=some.etag if some else None,
                last_modified=some.last_modified if some else None)
        except FeedError as e:
            reason = str(e).removeprefix(f"{what}: ")
            return _Source(error=str(e), reason=reason, lasting=_lasting(reason), cached=cached)
        except Exception as e:  # noqa: BLE001 - a picture never stops a build
            reason = f"unexpected {type(e).__name__}: {e}"
            return _Source(error=f"{what}: {reason}", reason=reason, cached=cached)
        fetched_for = self._linked.fetched_for(article.feed_url)
        if fetched.status == "not_modified":
            return _Source(cached=cached, etag=fetched.etag, last_modified=fetched.last_modified,
                           revalidated=True, fetched_for=fetched_for)
        kind = fetched.headers.get("content-type", "").split(";")[0].strip().lower()
        return _Source(body=fetched.body, kind=kind, etag=fetched.etag,
                       last_modified=fetched.last_modified, fetched_for=fetched_for)

    def _make(self, url: str, slot: Slot, source: _Source) -> _Made | None:
        """The picture measured (and made) for its slot; None if it could not be
        fetched for now. PictureError if it cannot be used."""
        key = self._key(slot)
        made = self._made.get((url, key))
        if made is not None:
            return made
        if source.error and source.lasting:
            raise PictureError(source.reason)
        if source.body is not None:
            made = _process(source.body, url, slot if key != MEASURED else None, source.kind)
            if is_web(url):  # a file is at hand
                self._fresh[(url, key)] = CachedImage(
                    url, key, source.etag, source.last_modified, made.source_width,
                    made.source_height, made.name, made.width, made.height, made.data,
                    utcnow().isoformat(timespec="seconds"), source.fetched_for)
        elif key in source.cached:  # not modified, or unreachable for now: as made before
            c = source.cached[key]
            _check_size(c.source_width, c.source_height)
            if source.revalidated:  # current as of now, with the validators now given
                self._fresh[(url, key)] = replace(
                    c, etag=source.etag or c.etag,
                    last_modified=source.last_modified or c.last_modified,
                    fetched_at=utcnow().isoformat(timespec="seconds"),
                    fetched_for=source.fetched_for)
            made = _Made(c.name, c.data, c.source_width, c.source_height, c.width, c.height)
        else:
            return None
        self._made[(url, key)] = made
        return made


def _lasting(reason: str) -> bool:
    """A fetch error that trying again later may cure is not lasting."""
    transient = ("(timed out)", "ConnectError", "ReadError", "WriteError", "RemoteProtocolError",
                 "cannot resolve", "has no address", "HTTP 5", "HTTP 429", "HTTP 408")
    return not any(t in reason for t in transient)


def _fit(width: int, height: int, slot: Slot) -> tuple[int, int]:
    """An uncropped (hot-linked) picture's size inside its slot's box: at most the
    slot's width and at most its height at the slot's aspect (a square picture is no
    taller than a 16:9 hero), enlarged at most twice."""
    scale = min(slot.width / width, slot.height_for(slot.width) / height, 2.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _check_size(width: int, height: int) -> None:
    if width < MIN_PX or height < MIN_PX:
        raise PictureError(f"{width}x{height} px, under {MIN_PX} px: too small for the big "
                           "story or a card")


def _read_file(url: str, max_bytes: int) -> bytes:
    path = Path(unquote(urlsplit(url).path))
    try:
        stat = path.stat()
        if not S_ISREG(stat.st_mode):
            raise PictureError(f"{path} is not a regular file")
        with open(path, "rb") as f:
            body = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise PictureError(f"file {path} not found") from None
    except OSError as e:
        raise PictureError(f"cannot read {path}: {e.strerror}") from None
    if len(body) > max_bytes:
        raise PictureError(f"larger than {max_bytes} bytes ([collect] max_bytes)")
    return body


def _process(body: bytes, url: str, slot: Slot | None, kind: str = "") -> _Made:
    """Decode, check and (for a slot) crop, resize and encode one picture."""
    # here, not at the top: PIL is heavy and only this needs it
    from PIL import Image as PILImage
    from PIL import ImageOps, UnidentifiedImageError

    PILImage.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            im = PILImage.open(io.BytesIO(body), formats=FORMATS)
            if im.width * im.height > MAX_PIXELS:
                raise PictureError(f"{im.width}x{im.height} px is over {MAX_PIXELS:,} pixels; "
                                   "refused (a decompression bomb?)")
            turned = im.getexif().get(0x0112, 1) in (5, 6, 7, 8)
            width, height = (im.height, im.width) if turned else im.size
            _check_size(width, height)
            if slot is None:  # measured only: decode small, to know it is whole
                im.draft(None, (max(1, im.width // 8), max(1, im.height // 8)))
                im.load()
                return _Made("", b"", width, height, 0, 0)
            box_w, _ = _crop_size(width, height, slot)
            out_w = min(2 * slot.width, box_w)
            out_h = slot.height_for(out_w)
            scale = out_w / box_w
            im.draft(None, (math.ceil(im.width * scale), math.ceil(im.height * scale)))
            im.load()
            upright = _flatten(ImageOps.exif_transpose(im))
            cw, ch = _crop_size(upright.width, upright.height, slot)
            left, top = (upright.width - cw) // 2, (upright.height - ch) // 2
            resized = upright.resize((out_w, out_h), PILImage.Resampling.LANCZOS,
                                     box=(left, top, left + cw, top + ch))
            out = io.BytesIO()
            resized.save(out, "JPEG", quality=QUALITY, optimize=True, progressive=True)
    except PictureError:
        raise
    except PILImage.DecompressionBombError as e:
        raise PictureError(f"refused as a decompression bomb ({e})") from None
    except PILImage.DecompressionBombWarning as e:
        raise PictureError(f"refused as a decompression bomb ({e})") from None
    except UnidentifiedImageError:
        sent = f"; the server sent {kind}" if kind else ""
        raise PictureError(f"not an image digest can read ({', '.join(FORMATS)}){sent}"
                           ) from None
    except Exception as e:  # noqa: BLE001 - hostile bytes raise all sorts; none stops a build
        detail = str(e) if isinstance(e, OSError | ValueError | SyntaxError) else \
            f"{type(e).__name__}: {e}"
        raise PictureError(f"damaged image ({detail})") from None
    # Named by what it was made from, not by the bytes made (which vary with Pillow's
    # JPEG library): the same picture in the same slot keeps its name across builds.
    made_from = hashlib.sha256(body + f"\n{slot.label} {out_w}x{out_h} q{QUALITY}".encode())
    name = f"{_stem(url)}-{slot.label}-{made_from.hexdigest()[:12]}.jpg"
    return _Made(name, out.getvalue(), width, height, out_w, out_h)


def _crop_size(width: int, height: int, slot: Slot) -> tuple[int, int]:
    """The largest box of the slot's aspect inside width x height."""
    if width * slot.aspect_h > height * slot.aspect_w:  # wider than the slot
        return max(1, round(height * slot.aspect_w / slot.aspect_h)), height
    return width, max(1, round(width * slot.aspect_h / slot.aspect_w))


def _flatten(im: PILImage.Image) -> PILImage.Image:
    """RGB, with any transparency on white (JPEG has none; mail clients differ)."""
    # here, not at the top: PIL is heavy and only this needs it
    from PIL import Image as PILImage

    if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = PILImage.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, mask=rgba.getchannel("A"))
        return white
    return im.convert("RGB") if im.mode != "RGB" else im


def _stem(url: str) -> str:
    """A readable start for the file name, from the url's last path segment."""
    try:
        last = unquote(urlsplit(url).path).rsplit("/", 1)[-1]
    except ValueError:
        last = ""
    stem = re.sub(r"[^a-z0-9]+", "-", last.rsplit(".", 1)[0].lower()).strip("-")[:40].strip("-")
    return stem or "picture"


def strip_pictures(articles: Iterable[Article], unusable: Mapping[str, str]) -> list[Article]:
    """The articles, those in `unusable` without their picture (for curating again)."""
    return [replace(a, image=None) if a.id in unusable else a for a in articles]

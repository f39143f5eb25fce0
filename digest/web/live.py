"""The live preview behind `digest preview --serve`: the next issue rendered in memory
again whenever the editor saves the config, the draft or a template.

One worker thread watches those files (their size, mtime and inode, every POLL
seconds: no dependency, and no lost event when an editor saves by write-and-rename)
and renders. The candidates are collected once, at start (the feeds fetched, as
`digest build --preview` does, nothing kept), and again only when the page asks for
it or the config's feeds change; a save re-curates and re-renders from them, so a
render takes a fraction of a second. Nothing is written to the state database or the
outbox: the state is opened read-only, and the issue's files go to a private
temporary folder only so the issue linter (digest.outbox.lint) reads them as it reads
outbox/preview/.

A save that breaks the config or a template keeps the last good render and shows the
error beside it (a ConfigError names the key, a template error the file and line).
`LivePreview.status` is what the page shows; `wait` waits for a newer one.
"""

from __future__ import annotations

import html
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from digest.config.load import load_config
from digest.config.schema import Config, FeedConfig
from digest.curate.place import NothingToBuild
from digest.errors import DigestError
from digest.outbox.folder import IssueFolder
from digest.outbox.lint import lint_issue
from digest.pipeline import PreviewCandidates, preview_candidates, render_preview
from digest.render.bundled import package_templates
from digest.render.email import Templates, load_templates

log = logging.getLogger("digest.web.live")

POLL = 0.1  # seconds between two looks at the watched files
KEPT = 3  # renders kept servable: a frame still loading the one before keeps working
PICTURE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp"})
_STYLE = re.compile(r"(<style\b[^>]*>)(.*?)(</style\s*>)", re.IGNORECASE | re.DOTALL)
_DARK = re.compile(r"\(\s*prefers-color-scheme\s*:\s*dark\s*\)", re.IGNORECASE)
_LIGHT = re.compile(r"\(\s*prefers-color-scheme\s*:\s*light\s*\)", re.IGNORECASE)
_HEAD_END = re.compile(r"</head\s*>", re.IGNORECASE)
_FILE_SRC = re.compile(r"""(<img\b[^>]*?\bsrc=)(["'])(file:[^"']*)\2""", re.IGNORECASE)
FORCED_DARK = "<style>:root { color-scheme: dark !important; }</style>"


@dataclass(frozen=True)
class Render:
    """One good render: the first recipient's email.html as the outbox would hold it,
    the same with the issue's dark-mode rules forced on, and what the linter found."""

    id: int
    number: int
    subject: str
    html: str  # file: pictures pointed at local/<n>, served from `local`
    dark: str
    images: Mapping[str, bytes]  # images/<name> beside email.html (assets_url pictures)
    local: Mapping[str, Path]  # local/<n> -> a picture on disk the issue shows
    findings: tuple[tuple[str, str, str], ...]  # (level, check, message), errors first
    notes: tuple[str, ...]
    seconds: float  # from seeing the save to this render
    cpu_seconds: float  # of it, the CPU time the worker thread used (a busy machine's
    # other processes do not count)


@dataclass(frozen=True)
class Status:
    """What the page shows. `version` grows with every change of it."""

    version: int
    render: Render | None  # the last good render
    error: str | None  # why the last attempt made no render (the last good one stays)
    collected: str  # where the candidates come from, for the page's header
    busy: bool = False


@dataclass
class _Sources:
    """The candidates and the config values they were collected for."""

    candidates: PreviewCandidates
    feeds: tuple[FeedConfig, ...]
    state: Path
    at: str


@dataclass
class _Watch:
    paths: tuple[Path, ...] = ()
    folders: tuple[Path, ...] = ()
    seen: tuple[tuple[str, int, int, int], ...] | None = None


class LivePreview:
    """Render the next issue from `config_path` (and `draft`), again on every save.

    `start()` renders once and starts the worker; `stop()` ends it. `fetch=False`
    starts from the stored articles only (`refresh()` still fetches)."""

    def __init__(self, config_path: Path, *, draft: Path | None = None,
                 fetch: bool = True, poll: float = POLL) -> None:
        self.config_path = Path(config_path)
        self.draft = Path(draft) if draft else None
        self.poll = poll
        self._fetch = fetch
        self._changed = threading.Condition()
        self._status = Status(0, None, None, "")
        self._renders: dict[int, Render] = {}
        self._sources: _Sources | None = None
        self._refetch = threading.Event()
        self._stopped = threading.Event()
        self._watch = _Watch((self.config_path, *([self.draft] if self.draft else [])))
        self._templates: tuple[object, Templates] | None = None
        self._thread: threading.Thread | None = None
        self._work = Path(tempfile.mkdtemp(prefix="digest-live-", dir=_in_memory()))

    # -- what the app reads ----------------------------------------------------------

    @property
    def status(self) -> Status:
        return self._status

    def render(self, render_id: int) -> Render | None:
        return self._renders.get(render_id)

    def wait(self, after: int, timeout: float) -> Status:
        """The status once its version is past `after`, or as it is after `timeout`."""
        with self._changed:
            self._changed.wait_for(lambda: self._status.version > after, timeout)
            return self._status

    @property
    def closed(self) -> bool:
        """True once `close()` was called: the server is stopping."""
        return self._stopped.is_set()

    def close(self) -> None:
        """Stop watching (the worker ends after its current update)."""
        self._stopped.set()

    def refresh(self) -> None:
        """Fetch the feeds again (in the worker) and render from what they hold."""
        self._refetch.set()

    # -- the worker --------------------------------------------------------------------

    def start(self, *, wait: bool = True) -> None:
        """Render once (in the worker, without `wait`: the page then shows the feeds
        being fetched) and start watching."""
        if wait:
            self.update()
        self._thread = threading.Thread(target=self._run, args=(not wait,),
                                        name="digest-live", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close, wait for the worker, and remove the private folder."""
        self.close()
        if self._thread is not None:
            self._thread.join(30)
        shutil.rmtree(self._work, ignore_errors=True)

    def _run(self, first: bool) -> None:
        while first or not self._stopped.wait(self.poll):
            try:
                if first or self._refetch.is_set() or self._signature() != self._watch.seen:
                    first = False
                    self.update()
            except Exception as e:  # noqa: BLE001 - a bug must not end the watching
                log.exception("live preview: the update failed")
                self._publish(error=f"the preview failed unexpectedly ({type(e).__name__}: "
                                    f"{e}); the terminal shows the details")

    def _signature(self) -> tuple[tuple[str, int, int, int], ...]:
        return tuple(_stamps([*self._watch.paths, *_files_in(self._watch.folders)]))

    def update(self) -> None:
        """Load the config, collect if needed, render, lint; publish the outcome."""
        started, cpu = time.perf_counter(), time.thread_time()
        # Seen before anything is read: a save from now on is picked up next time.
        self._watch.seen = before = self._signature()
        try:
            config = load_config(self.config_path)
        except DigestError as e:
            self._publish(error=str(e))
            return
        if self._watch_files(config):  # other template folders: their files as they are
            seen = {stamp[0]: stamp for stamp in before}
            self._watch.seen = tuple(seen.get(s[0], s) for s in self._signature())
        try:
            sources = self._candidates(config)
            made = render_preview(config, sources.candidates.articles, draft=self.draft,
                                  templates=self._loaded_templates(config))
            if isinstance(made, NothingToBuild):
                self._publish(error=f"nothing to preview: {made.reason}")
                return
            folder = IssueFolder.write(self._work, made.files, replace=True).path
            findings = lint_issue(folder, config)
        except DigestError as e:
            self._publish(error=str(e))
            return
        render_id = max(self._renders, default=0) + 1
        page, local = _local_pictures(made.files.html)
        done = Render(render_id, made.number, made.rendered.subject, page, forced_dark(page),
                      dict(made.files.images), local,
                      tuple(_relative(f.level, f.check, f.message, folder)
                            for f in findings), made.notes,
                      time.perf_counter() - started, time.thread_time() - cpu)
        self._renders[render_id] = done
        for old in sorted(self._renders)[:-KEPT]:
            del self._renders[old]
        self._publish(render=done)

    def _candidates(self, config: Config) -> _Sources:
        sources = self._sources
        fetch = self._refetch.is_set()
        if sources is None or fetch or sources.feeds != config.feeds \
                or sources.state != config.state_path:
            self._refetch.clear()
            fetch = fetch or self._fetch
            self._publish(busy=True)
            found = preview_candidates(config, fetch=fetch)
            at = time.strftime("%H:%M:%S")
            sources = _Sources(found, config.feeds, config.state_path,
                               f"fetched at {at}" if fetch else f"stored articles, read at {at}")
            self._sources = sources
        return sources

    def _loaded_templates(self, config: Config) -> Templates:
        """The templates, compiled again only when one of their files changed (or the
        config values the environment is made from): compiling them all is most of
        a render's time."""
        key = (self._watch.folders, config.newsletter.language,
               tuple(_stamps(_files_in(self._watch.folders))))
        if self._templates is None or self._templates[0] != key:
            self._templates = (key, load_templates(config))
        return self._templates[1]

    def _watch_files(self, config: Config) -> bool:
        """Watch the config, the draft and `config`'s template folders; True if that
        changed what is watched."""
        # The folders load_templates reads (a missing templates_dir is its error to tell).
        folders = [config.path(config.layout.templates_dir)] if config.layout.templates_dir \
            else []
        watch = ((self.config_path, *([self.draft] if self.draft else [])),
                 (*folders, package_templates()))
        changed = watch != (self._watch.paths, self._watch.folders)
        self._watch.paths, self._watch.folders = watch
        return changed

    def _publish(self, *, render: Render | None = None, error: str | None = None,
                 busy: bool = False) -> None:
        with self._changed:
            now = self._status
            sources = self._sources
            collected = ""
            if sources is not None:
                count = len(sources.candidates.articles)
                collected = f"{count} candidate article(s), {sources.at}"
            self._status = Status(now.version + 1, render or now.render,
                                  None if render or busy else error, collected, busy)
            self._changed.notify_all()


def _in_memory() -> str | None:
    """A folder in memory for the linter's copy (the issue folder writer syncs every
    file to disk, slow on a busy disk), else the usual temporary folder."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


def _stamps(paths: Iterable[Path]) -> Iterable[tuple[str, int, int, int]]:
    """What tells a saved file from the one seen before: its mtime, size and inode (an
    editor that saves by writing a new file and renaming it changes the inode)."""
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            yield str(path), -1, -1, -1
            continue
        yield str(path), st.st_mtime_ns, st.st_size, st.st_ino


def _files_in(folders: Iterable[Path]) -> Iterable[Path]:
    """The files the templates are read from: each folder and one level below (the
    names load_templates compiles)."""
    for folder in folders:
        for pattern in ("*", "*/*"):
            try:
                yield from sorted(p for p in folder.glob(pattern) if not p.is_dir())
            except OSError:
                continue


def forced_dark(page: str) -> str:
    """The email as a client in dark mode shows it: its own `prefers-color-scheme: dark`
    rules on (the media feature replaced by one that always holds), its light-only
    rules off, and a dark canvas. Only CSS in <style> elements is touched."""

    def swap(match: re.Match[str]) -> str:
        css = _LIGHT.sub("(max-width: 0px)", _DARK.sub("(min-width: 0px)", match.group(2)))
        return match.group(1) + css + match.group(3)

    page = _STYLE.sub(swap, page)
    head = _HEAD_END.search(page)
    if head is None:
        return FORCED_DARK + page
    return page[:head.start()] + FORCED_DARK + page[head.start():]


def _local_pictures(page: str) -> tuple[str, dict[str, Path]]:
    """A page served over http cannot show file: pictures: each <img src="file:...">
    that names a picture file (by its suffix) becomes local/<n>, and only those files
    are served."""
    local: dict[str, Path] = {}
    by_path: dict[Path, str] = {}

    def point(match: re.Match[str]) -> str:
        url = html.unescape(match.group(3))
        path = Path(url2pathname(urlsplit(url).path))
        if path.suffix.lower() not in PICTURE_SUFFIXES or not path.is_absolute():
            return match.group(0)
        name = by_path.get(path)
        if name is None:
            name = by_path[path] = f"{len(local)}{path.suffix.lower()}"
            local[name] = path
        return f"{match.group(1)}{match.group(2)}local/{name}{match.group(2)}"

    return _FILE_SRC.sub(point, page), local


def _relative(level: str, check: str, message: str, folder: Path) -> tuple[str, str, str]:
    """A finding naming the private folder names the preview instead."""
    return level, check, message.replace(f"{folder}/", "").replace(str(folder), "preview")

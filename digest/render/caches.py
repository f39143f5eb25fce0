"""What a render keeps between processes, in a folder beside the state database
(`.digest/templates-cache/` by default): the templates compiled to Python bytecode.

Nothing here is needed: without the state folder (a preview on a fresh machine), with a
folder that cannot be made or written (a read-only checkout) or that others may write,
or a state path that is a database URL, each process compiles again, as it did before
there was a cache. (PYTHONDONTWRITEBYTECODE, which container images often set, is for
Python's own .pyc files and leaves this cache alone.)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import stat
from pathlib import Path

import jinja2
from jinja2.bccache import Bucket

from digest import __version__
from digest.config.schema import Config

FOLDER = "templates-cache"
# Bump when make_environment changes how a template compiles (autoescape, trim_blocks,
# the newline rules): a cached template compiled under the old rules must not be used.
COMPILE_RULES = 1


def trusted(folder: Path) -> bool:
    """The folder is this user's alone: a real folder (no link) they own that nobody else
    may write. Anything else is never read: a compiled template is code that runs."""
    try:
        found = os.lstat(folder)
    except OSError:
        return False
    return (stat.S_ISDIR(found.st_mode) and found.st_uid == os.geteuid()
            and not found.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def make_folder(folder: Path) -> bool:
    """Make the cache folder (only it: its parent is the state folder, which a command
    that keeps no state must not leave behind); whether it can be used."""
    with contextlib.suppress(OSError):
        os.mkdir(folder, 0o700)
    return trusted(folder)


def cache_folder(config: Config) -> Path | None:
    """The cache folder beside the state database, or None when the state is no file."""
    if "://" in config.state.path:  # a database URL: there is no folder beside it
        return None
    return config.state_path.parent / FOLDER


class TemplateCache(jinja2.FileSystemBytecodeCache):
    """Jinja's bytecode cache in `folder`, made on first write, silent when it cannot be
    written. Jinja keys each entry by the template's name and file and stores the
    source's checksum with it, so an edited template compiles again; the file name
    also carries this digest's and Jinja's versions and COMPILE_RULES."""

    def __init__(self, folder: Path) -> None:
        tag = hashlib.sha256(f"{__version__}|{jinja2.__version__}|{COMPILE_RULES}".encode())
        super().__init__(str(folder), f"%s-{tag.hexdigest()[:12]}.jinja")
        self._folder = folder
        self._usable: bool | None = None  # checked on first use

    def load_bytecode(self, bucket: Bucket) -> None:
        if self._usable is None:
            self._usable = trusted(self._folder)
        if not self._usable:
            return
        try:
            super().load_bytecode(bucket)
        except (OSError, EOFError, ValueError, TypeError, pickle.UnpicklingError):
            bucket.reset()  # unreadable or cut short: compile instead

    def dump_bytecode(self, bucket: Bucket) -> None:
        if not self._usable:
            self._usable = make_folder(self._folder)
        if not self._usable:
            return
        try:
            super().dump_bytecode(bucket)
        except OSError:  # read-only, full, or not a folder: the next run compiles again
            pass


def template_cache(config: Config) -> TemplateCache | None:
    folder = cache_folder(config)
    return TemplateCache(folder) if folder is not None else None

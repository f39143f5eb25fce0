"""`digest init`: make a newsletter folder that builds a preview offline.

The folder gets a commented config.toml (every table, every key with its default),
the bundled sample feeds and pictures, an empty outbox/ and, on request, a copy of
the templates to edit. Everything comes out of the installed package through
importlib.resources. An existing file is never overwritten: it is skipped and
reported, so running init twice, or over a folder already in use, is safe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from digest.errors import InitError
from digest.render.bundled import package_templates

CONFIG_TEMPLATE = "init_config.toml"
# The line of the config template that --templates turns on.
TEMPLATES_DIR_DEFAULT = '# templates_dir = ""'
TEMPLATES_DIR = "templates"


@dataclass(frozen=True)
class InitReport:
    """What init did, as paths relative to `folder`."""

    folder: Path
    created: tuple[Path, ...]
    skipped: tuple[Path, ...]  # already there, left as they were
    notes: tuple[str, ...] = ()


def config_template(*, templates: bool = False) -> str:
    """The text of the config.toml that init writes."""
    text = (files("digest.config") / CONFIG_TEMPLATE).read_text("utf-8")
    if templates:
        if text.count(TEMPLATES_DIR_DEFAULT) != 1:
            raise InitError(f"{CONFIG_TEMPLATE} in the package has no single "
                            f"{TEMPLATES_DIR_DEFAULT!r} line; reinstall digest")
        text = text.replace(TEMPLATES_DIR_DEFAULT, f'templates_dir = "{TEMPLATES_DIR}"')
    return text


def init_newsletter(folder: Path, *, templates: bool = False) -> InitReport:
    """Create (or complete) the newsletter folder `folder`. Raises InitError."""
    if folder.exists() and not folder.is_dir():
        raise InitError(f"{folder} is a file, not a folder: give a new folder (or an "
                        "existing one) for the newsletter")
    writer = _Writer(folder)
    writer.mkdir(Path(), report=False)
    writer.write(Path("config.toml"), config_template(templates=templates).encode("utf-8"))
    package = files("digest")
    for sub in ("feeds", "images", "pages"):
        writer.copy_tree(package / "samples" / sub, Path("samples") / sub)
    writer.copy(package / "samples" / "README.md", Path("samples") / "README.md")
    writer.mkdir(Path("outbox"))
    notes = []
    if templates:
        writer.copy_tree(package_templates(), Path(TEMPLATES_DIR))
        if Path("config.toml") in writer.skipped and not _sets_templates_dir(folder):
            notes.append(f'config.toml was already there: set [layout] templates_dir = '
                         f'"{TEMPLATES_DIR}" in it to use the copied templates')
    return InitReport(folder, tuple(writer.created), tuple(writer.skipped), tuple(notes))


def _sets_templates_dir(folder: Path) -> bool:
    try:
        text = (folder / "config.toml").read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return re.search(r"(?m)^\s*templates_dir\s*=", text) is not None


class _Writer:
    """Creates files and folders below `root`, never replacing one that exists."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.created: list[Path] = []
        self.skipped: list[Path] = []

    def mkdir(self, rel: Path, *, report: bool = True) -> None:
        """Create a folder (and its parents); list it as created when `report`."""
        path = self.root / rel
        if path.is_dir():
            return
        try:
            path.mkdir(parents=True)
        except (FileExistsError, NotADirectoryError):
            raise InitError(f"{path}: a file is in the way where init needs a folder; "
                            "move it away or pick another folder") from None
        except OSError as e:
            raise InitError(f"cannot create folder {path}: {e.strerror}") from None
        if report:
            self.created.append(rel)

    def write(self, rel: Path, data: bytes) -> None:
        self.mkdir(rel.parent, report=False)
        path = self.root / rel
        try:
            # "x": fails if the file exists, so a file made meanwhile is not replaced.
            with path.open("xb") as f:
                f.write(data)
        except FileExistsError:
            self.skipped.append(rel)
            return
        except OSError as e:
            raise InitError(f"cannot write {path}: {e.strerror}") from None
        self.created.append(rel)

    def copy(self, source: Traversable, rel: Path) -> None:
        if not source.is_file():
            raise InitError(f"{source} is missing from the installed package; "
                            "reinstall digest")
        self.write(rel, source.read_bytes())

    def copy_tree(self, source: Traversable, rel: Path) -> None:
        """Copy the files below `source`, leaving out Python files and caches."""
        if not source.is_dir():
            raise InitError(f"{source} is missing from the installed package; "
                            "reinstall digest")
        for item in sorted(source.iterdir(), key=lambda t: t.name):
            if item.is_dir():
                if item.name != "__pycache__":
                    self.copy_tree(item, rel / item.name)
            elif not item.name.endswith((".py", ".pyc")):
                self.copy(item, rel / item.name)

"""Template failures as one-line ConfigErrors (exit status 2) that name the template
file and line at fault — the partial where it happened, not `issue.mjml.j2` that
included it — and say what to do.

Jinja rewrites a rendering traceback so that each template appears as a frame with
its own file name and line; the innermost of those is where the error is.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType

import jinja2

from digest.errors import ConfigError


class InvalidMjml(ConfigError, ValueError):
    """The templates produced MJML that mjml cannot parse. Also a ValueError, which is
    what mjml raised."""


@dataclass(frozen=True)
class Place:
    name: str  # as templates include it: blocks/footer.mjml.j2
    path: str  # the file read, in the user's folder or the bundled one
    line: int

    def __str__(self) -> str:
        return f"template {self.name} line {self.line} ({self.path})"


@contextmanager
def template_errors(env: jinja2.Environment) -> Iterator[None]:
    """Turn a template failure raised in the block into a ConfigError."""
    try:
        yield
    except jinja2.TemplateSyntaxError as e:
        name = _relative(env, e.filename) if e.filename else e.name
        raise ConfigError(f"template {name} line {e.lineno}: {e.message}"
                          + (f" ({e.filename})" if e.filename else "")) from None
    except jinja2.TemplateNotFound as e:
        place = innermost(env, e.__traceback__)
        where = f" (included from {place})" if place else ""
        raise ConfigError(f"template {e.name} not found{where}; looked in: "
                          f"{', '.join(searched(env))}") from None
    except jinja2.TemplateError as e:  # undefined variables, {% raise %}-like errors
        place = innermost(env, e.__traceback__)
        raise ConfigError(f"{place or 'template'}: {e.message or type(e).__name__}") from None
    except RecursionError as e:
        place = innermost(env, e.__traceback__)
        raise ConfigError(f"{place or 'a template'} includes itself, directly or through "
                          "other templates, with no end; break the loop") from None
    except UnicodeDecodeError as e:
        bad = undecodable(env)
        if bad is None:
            raise
        raise ConfigError(f"template {bad} is not UTF-8 text ({e.reason} at byte {e.start}); "
                          "save it as UTF-8") from None


def innermost(env: jinja2.Environment, tb: TracebackType | None) -> Place | None:
    """The last template frame in the traceback: where the error happened."""
    roots = searched(env)
    found = None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2") and any(_under(filename, root) for root in roots):
            found = Place(_relative(env, filename), filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def undecodable(env: jinja2.Environment) -> str | None:
    """The path of the first template file (of those in use) that is not UTF-8."""
    for name in env.list_templates(filter_func=lambda n: n.endswith(".j2")):
        for root in searched(env):
            path = os.path.join(root, *name.split("/"))
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    try:
                        f.read().decode("utf-8")
                    except UnicodeDecodeError:
                        return path
                break  # the first folder that has it is the one read
    return None


def invalid_mjml(error: ValueError, source: str) -> InvalidMjml:
    """mjml refused what the templates produced; show where, as far as mjml says."""
    near = ""
    if match := re.search(r"position (\d+):(\d+)", str(error)):
        start = int(match.group(1))
        line = source.count("\n", 0, start) + 1
        snippet = " ".join(source[start:start + 60].split())
        near = f"; MJML line {line}: {snippet!r}"
    return InvalidMjml(
        f"the templates produced invalid MJML (mjml: {error}{near}); check issue.mjml.j2 "
        "and the blocks it includes, above all your copies in [layout] templates_dir")


def searched(env: jinja2.Environment) -> list[str]:
    """The template folders, in the order they are searched."""
    loader = env.loader
    loaders = loader.loaders if isinstance(loader, jinja2.ChoiceLoader) else [loader]
    return [str(p) for sub in loaders if isinstance(sub, jinja2.FileSystemLoader)
            for p in sub.searchpath]


def _relative(env: jinja2.Environment, filename: str) -> str:
    for root in searched(env):
        if _under(filename, root):
            return os.path.relpath(filename, root).replace(os.sep, "/")
    return filename


def _under(filename: str, root: str) -> bool:
    try:
        return os.path.commonpath([os.path.abspath(filename), os.path.abspath(root)]) \
            == os.path.abspath(root)
    except ValueError:
        return False

"""Each subpackage's public surface (its `__all__`), as httpx's test_exported_members
checks its own: every name listed resolves to what the owning module defines, and every
import from one subpackage into another goes through a listed name, from its owner."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import digest

ROOT = Path(digest.__file__).resolve().parent
ENTRY_POINTS = {("cli", "main")}  # used from outside the package (pyproject, __main__)
SUBPACKAGES = sorted(p.name for p in ROOT.iterdir()
                     if (p / "__init__.py").exists() and p.name not in ("samples", "templates"))


def cross_imports() -> list[tuple[str, str, str, str]]:
    """(importing file, subpackage, module, name) for every `from digest.<sub>.<module>
    import name` in a module outside that subpackage."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        home = parts[0] if len(parts) > 1 else None
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                dotted = node.module.split(".")
                if dotted[0] == "digest" and len(dotted) >= 3 and dotted[1] in SUBPACKAGES \
                        and dotted[1] != home:
                    found += [(str(path.relative_to(ROOT)), dotted[1], node.module, a.name)
                              for a in node.names]
    return found


def test_the_subpackages_are_the_pipelines_stages():
    assert SUBPACKAGES == ["cli", "collect", "config", "curate", "deliver", "enrich", "outbox",
                           "render", "schedule", "state", "web"]


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_every_listed_name_is_its_owners(name: str):
    package = importlib.import_module(f"digest.{name}")
    exports = package._EXPORTS  # noqa: SLF001 - the table under test
    assert package.__all__ == sorted(exports)
    assert set(dir(package)) >= set(package.__all__)
    for public, module in exports.items():
        assert module.startswith(f"digest.{name}."), (public, module)
        owner = importlib.import_module(module)
        if module.rpartition(".")[2] == public:  # digest.cli.main.main: once the module is
            continue  # imported, the package's attribute is the module (import's rule)
        assert getattr(package, public) is getattr(owner, public), public
        assert not public.startswith("_"), f"digest.{name} lists a private name {public}"
    with pytest.raises(AttributeError, match="has no attribute"):
        package.no_such_name  # noqa: B018


def test_imports_across_subpackages_use_listed_names_from_their_owners():
    wrong = []
    for where, sub, module, name in cross_imports():
        exports = importlib.import_module(f"digest.{sub}")._EXPORTS  # noqa: SLF001
        if exports.get(name) != module:
            owner = exports.get(name)
            wrong.append(f"{where}: {name} from {module}" +
                         (f", owned by {owner}" if owner else f", not in digest.{sub}.__all__"))
    assert not wrong, "\n".join(wrong)


def test_every_listed_name_is_used_across_subpackages():
    used = {(sub, name) for _, sub, _, name in cross_imports()}
    unused = [f"digest.{sub}: {name}" for sub in SUBPACKAGES
              for name in importlib.import_module(f"digest.{sub}").__all__
              if (sub, name) not in used and (sub, name) not in ENTRY_POINTS]
    assert not unused, "\n".join(unused)


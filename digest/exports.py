"""Each subpackage's public names, imported on first use (PEP 562).

A subpackage's `__init__` lists what other parts of digest may use, name -> the module
that owns it, and hands the table to `lazy`: `import digest.state` stays as light as
the one name a caller asks for, and tests/test_exports.py checks that every import
across subpackages goes through a listed name, from the module that owns it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy(package: str, exports: Mapping[str, str]
         ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level `__getattr__` and `__dir__` of `package`."""

    def __getattr__(name: str) -> Any:  # noqa: N807 - the module hook's own name
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    def __dir__() -> list[str]:  # noqa: N807
        return sorted(exports)

    return __getattr__, __dir__

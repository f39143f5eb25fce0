"""The command line: one module per command group, thin over the library."""

from __future__ import annotations

from digest.exports import lazy

_EXPORTS = {
    "main": "digest.cli.main",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy(__name__, _EXPORTS)

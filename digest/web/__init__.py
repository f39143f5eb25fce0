"""Web: the static archive site and the readers' pages (`digest serve`)."""

from __future__ import annotations

from digest.exports import lazy

_EXPORTS = {
    "serve": "digest.web.app",
    "publish": "digest.web.site",
    "LivePreview": "digest.web.live",
    "preview_app": "digest.web.live_app",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy(__name__, _EXPORTS)

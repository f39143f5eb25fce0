"""Web: the static archive site, the readers' pages (`digest serve`) and the editor's
live preview (`digest preview --serve`)."""

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

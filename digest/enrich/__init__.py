"""Enrich: the linked resources of a story, article pages and pictures, fetched once and cached."""

from __future__ import annotations

from digest.exports import lazy

_EXPORTS = {
    "Enricher": "digest.enrich.pages",
    "ImageFile": "digest.enrich.pictures",
    "Pictures": "digest.enrich.pictures",
    "strip_pictures": "digest.enrich.pictures",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy(__name__, _EXPORTS)

"""Curate: rank the candidates, drop repeats and same-event stories, place them into the
issue's blocks.
"""

from __future__ import annotations

from digest.exports import lazy

_EXPORTS = {
    "Assembled": "digest.curate.assemble",
    "IssuePlan": "digest.curate.assemble",
    "assemble_issue": "digest.curate.assemble",
    "Draft": "digest.curate.draft",
    "read_draft": "digest.curate.draft",
    "write_draft": "digest.curate.draft",
    "NothingToBuild": "digest.curate.place",
    "curate_issue": "digest.curate.place",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy(__name__, _EXPORTS)

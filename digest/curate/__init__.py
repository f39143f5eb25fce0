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
    "FULL": "digest.curate.topics",
    "Matcher": "digest.curate.topics",
    "TopicSet": "digest.curate.topics",
    "nearest": "digest.curate.topics",
    "read_topics": "digest.curate.topics",
    "set_key": "digest.curate.topics",
    "topic_names": "digest.curate.topics",
    "topics_text": "digest.curate.topics",
    "Variant": "digest.curate.variants",
    "assemble_variants": "digest.curate.variants",
    "with_variant_stories": "digest.curate.variants",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy(__name__, _EXPORTS)

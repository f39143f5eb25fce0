"""The placeholder spelling of one render, in a module of its own: digest.deliver.message
reads it to fill each recipient's values, and `digest send` must not load Jinja2 and
the renderers of digest.render.email just for one regular expression."""

from __future__ import annotations

import re


def placeholder_pattern(marker: str) -> re.Pattern[str]:
    """Matches the placeholders of one render; group 1 is the field name."""
    return re.compile(rf"%%digest:{re.escape(marker)}:([a-z0-9-]+)%%")

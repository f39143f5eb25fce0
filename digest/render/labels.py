"""The fixed strings of an issue ("The big story", "Read More", the footer lines), in
the newsletter's language.

They come from the gettext catalogs in digest/locale/<language>/LC_MESSAGES/digest.po
(read through Babel), one entry per label: msgctxt is the label's key, msgid its English
text. A language without a catalog ("pt-BR" without pt) gets English; "de-AT" gets de.
`[labels]` in the config overrides any of them, in any language.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib.resources import files

from babel.messages.pofile import read_po

# key -> English text (the msgid). {number} and {name} are filled in by the templates.
ENGLISH: dict[str, str] = {
    "big_story": "The big story",
    "need_to_know": "Need to know",
    "read_more": "Read More",
    "coming_up": "Coming up",
    "read_more_link": "Read More",
    "big_story_link": "Read the full story",
    "issue_number": "Issue #{number}",
    "view_in_browser": "View in browser",
    "footer_reason": "You are receiving this email because you subscribed to {name}.",
    "unsubscribe": "Unsubscribe",
    "manage": "Manage preferences",
    "subscribe": "Subscribe",
    "photo": "Photo",
}


class Labels(dict[str, str]):
    """Label key -> text; templates read them as attributes (`labels.read_more`)."""

    def __getattr__(self, key: str) -> str:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"no label {key!r}; labels are: {', '.join(ENGLISH)}") from None


def labels_for(language: str, overrides: Mapping[str, str] | None = None) -> Labels:
    """Every label in `language`, with `overrides` (from [labels]) on top."""
    translated = _catalog(_catalog_language(language))
    labels = Labels({key: translated.get(key) or english for key, english in ENGLISH.items()})
    labels.update({k: v for k, v in (overrides or {}).items() if v})
    return labels


def languages() -> list[str]:
    """The languages a catalog ships for."""
    return sorted(p.name for p in files("digest.render").joinpath("locale").iterdir() if p.is_dir())


def _catalog_language(language: str) -> str:
    base = language.replace("_", "-").split("-")[0].lower()
    return base if base in languages() else "en"


@functools.cache
def _catalog(language: str) -> dict[str, str]:
    """msgctxt -> msgstr of one catalog (empty translations left out)."""
    path = files("digest.render").joinpath("locale", language, "LC_MESSAGES", "digest.po")
    with path.open("rb") as f:
        catalog = read_po(f, locale=language)
    return {m.context: str(m.string) for m in catalog if m.id and m.context and m.string}

"""Which language a story is in: its text decides when it is clear, else its feed's
`<language>`.

Scripts tell Chinese, Japanese, Korean, Arabic, Hebrew, Cyrillic, Greek, Thai and
Devanagari apart; Latin-script text is told by its commonest short words (a few dozen
per language), which a headline and a sentence or two of summary carry enough of.
An unclear text and a feed without `<language>` give "": no language known, which no
rule leaves out.
"""

from __future__ import annotations

import re

_SCRIPTS = (  # (language, letters); kana before Han, so Japanese wins over Chinese
    ("ja", re.compile("[\u3041-\u30ff]")),
    ("ko", re.compile("[\u1100-\u11ff\uac00-\ud7a3]")),
    ("zh", re.compile("[\u3400-\u4dbf\u4e00-\u9fff]")),
    ("ar", re.compile("[\u0600-\u06ff\u0750-\u077f]")),
    ("he", re.compile("[\u0590-\u05ff]")),
    ("ru", re.compile("[\u0400-\u04ff]")),
    ("el", re.compile("[\u0370-\u03ff]")),
    ("th", re.compile("[\u0e00-\u0e7f]")),
    ("hi", re.compile("[\u0900-\u097f]")),
)
_WORDS = {
    "en": "the of and to in is for on that with as by at from its it was are has have will "
          "after over says said new this be an not but more than who about into",
    "de": "der die das und ist nicht mit den von zu im für auf sich des dem ein eine einer "
          "auch als nach bei wird sind hat noch über wie aus vor",
    "fr": "le la les des et est une un du pour dans que sur au aux pas par qui avec plus "
          "ce se sont ont été leur cette",
    "es": "el la los las de y que en un una por con para es del al se su más como pero "
          "sus le ya fue este entre",
    "it": "il lo gli le di che è e per una un del della con non sono nel alla anche dei "
          "più ha come",
    "pt": "o os as de que e do da em um uma para com não por mais dos das ao se na no "
          "foi são pelo",
    "nl": "de het een en van in is op te dat met voor zijn niet aan er ook als bij door "
          "om wordt naar",
    # No one-letter words, and none that English uses ("to", "on"): an English text
    # must not count towards these.
    "id": "yang dan di ini itu dengan untuk dari dalam tidak akan pada juga ke ada oleh "
          "karena telah bisa atau kata mereka",
    "pl": "się nie na do że jest jak po od za przez dla są oraz już ale roku który która "
          "także",
    "tr": "ve bir bu da için ile olarak çok daha gibi ama sonra olan kadar ancak ise yeni "
          "değil",
    "vi": "của và là có trong được cho các những người một với không này đã khi đến về "
          "từ năm",
    "sv": "och att det som på är av för med till den har inte om ett var de sig efter "
          "kommer",
    "da": "og at det som på er af for med til den har ikke et var de sig efter blev",
    "fi": "ja ei se että oli mutta kun hän ovat tai myös joka sekä mukaan jo ovat",
    "cs": "se na je že do ve jako pro by po za jsou které který také ale",
    "ro": "și în de la cu care pe din este pentru nu mai ca au fost sunt",
    "hu": "az és hogy nem is egy meg van de ez már csak mint volt el kell",
}
_STOP = {lang: frozenset(words.split()) for lang, words in _WORDS.items()}
_LANGS_OF: dict[str, tuple[str, ...]] = {}  # common word -> the languages it is common in
for _lang, _words in _STOP.items():
    for _word in _words:
        _LANGS_OF[_word] = (*_LANGS_OF.get(_word, ()), _lang)
_TOKEN = re.compile(r"[^\W\d_]+")
_LETTER = re.compile(r"[^\W\d_]")
_NON_LATIN = re.compile("[\u0370-\u03ff\u0400-\u04ff\u0590-\u06ff\u0750-\u077f\u0900-\u097f"
                        "\u0e00-\u0e7f\u1100-\u11ff\u3041-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
                        "\uac00-\ud7a3]")
MIN_HITS = 3  # common words needed to call a Latin text one language


def detect(text: str) -> str:
    """The language of `text` ("en", "de", "ja" ...), or "" when it is not clear."""
    if _NON_LATIN.search(text):  # counting scripts only where there are other ones
        letters = len(_LETTER.findall(text))
        if not letters:
            return ""
        for lang, pattern in _SCRIPTS:
            if len(pattern.findall(text)) * 3 >= letters:
                if lang == "zh" and _SCRIPTS[0][1].search(text):
                    return "ja"
                return lang
    words = _TOKEN.findall(text.lower())
    hits = dict.fromkeys(_STOP, 0)
    for word in words:
        for lang in _LANGS_OF.get(word, ()):
            hits[lang] += 1
    best = max(hits, key=lambda lang: hits[lang])
    runner = max((n for lang, n in hits.items() if lang != best), default=0)
    if hits[best] >= MIN_HITS and hits[best] >= 1.5 * runner:
        return best
    return ""


def base(language: str) -> str:
    """'en-GB' -> 'en'; '' stays ''."""
    return language.replace("_", "-").split("-")[0].strip().lower()


def story_language(text: str, feed_language: str) -> str:
    """The text's language when clear, else the feed's."""
    return detect(text) or base(feed_language)

"""Characters a feed may not pass on: those XML 1.0 or HTML refuse, and bidi overrides.

mjml stops at a C0 control, a surrogate or U+FFFE, so one such character in one title
would stop every build; feedparser itself crashes on `&#xD800;` or `&#x110000;`, which
would lose the whole feed. So the feed bytes are cleaned before parsing, and every text
field of an Article after it (entities are decoded by then).
"""

from __future__ import annotations

import re

# Not characters at all in XML 1.0: a strict parser refuses the document.
XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

# Also refused as HTML text: DEL and the C1 controls, and every noncharacter.
INVALID = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
    + "".join(rf"\U{plane:04x}fffe\U{plane:04x}ffff" for plane in range(17))
    + "]"
)

# Bidirectional embeddings, overrides and isolates: in a headline (and so the Subject)
# they can make text read backwards, e.g. a "file.exe" shown as "exe.elif".
BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")

_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")
_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([^"']*)["']""", re.I)


# The same in ASCII, and a quick test for text that may need INVALID at all: the astral
# noncharacters make INVALID's class about ten times slower to scan than these.
_ASCII_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SUSPECT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
                      "\ufffe\uffff\U00010000-\U0010ffff]")


def clean_text(text: str) -> str:
    """Text with every character XML or HTML refuses removed (tab, LF and CR stay)."""
    if text.isascii():
        return _ASCII_INVALID.sub("", text)
    return INVALID.sub("", text) if _SUSPECT.search(text) else text


def clean_line(text: str) -> str:
    """clean_text, and no bidi override or isolate either: for titles, names, alt text."""
    return BIDI.sub("", clean_text(text))


def clean_feed_bytes(data: bytes, content_type: str = "") -> bytes:
    """Feed bytes without the characters that make XML parsers (and feedparser) fail.

    Character references to what is not an XML character are removed in any
    ASCII-compatible encoding. Raw control characters and encoded surrogates are removed
    when the body is UTF-8; ISO-2022 bodies are left alone (ESC is part of them), as are
    UTF-16/32 ones (they are not valid UTF-8)."""
    data = _CHAR_REF.sub(_valid_ref, data)
    declared = _DECLARED.match(data[:512])
    if b"\x00" in data[:4] or "2022" in content_type or (declared and b"2022" in declared[1]):
        return data
    try:
        text = data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return data
    cleaned = XML_INVALID.sub("", text)
    return data if cleaned == text else cleaned.encode("utf-8")


def _valid_ref(match: re.Match[bytes]) -> bytes:
    hex_digits, decimal = match.group(1), match.group(2)
    digits = (hex_digits or decimal).lstrip(b"0") or b"0"
    if len(digits) > 8:  # far beyond U+10FFFF (and int() of a huge string is slow)
        return b""
    code = int(digits, 16 if hex_digits else 10)
    if code > 0x10FFFF or XML_INVALID.match(chr(code)):
        return b""
    return match.group(0)

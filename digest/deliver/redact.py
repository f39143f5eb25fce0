"""Keep the SMTP password out of everything digest prints, raises or stores.

Some servers echo the AUTH exchange in their error reply (`535 5.7.8 AUTH PLAIN
AGRpZ2VzdABzM2NyZXQ= rejected`). Every server reply that reaches an error, a log line
or the delivery log goes through `redact` first, which removes:

- the password itself and the base64 forms in which smtplib sends it: AUTH PLAIN
  (`\\0user\\0password`, also with the user as authorization id), AUTH LOGIN
  (`password`), each with or without `=` padding;
- in a reply to AUTH, every token that is not a plain word, a number or status code,
  or a URL (the server may have re-encoded what it got, or cut it into short pieces
  over several reply lines: `AGRpZ2Vz dABzM2Ny ...`).
"""

from __future__ import annotations

import base64
import re

MARK = "[redacted]"
_WORD = r"(?:(?:[A-Z]?[a-z]+)+|[A-Z]+)"  # Password, CamelCase, AUTH: words, not base64
# What a reply to AUTH may keep: codes (535, 5.7.8, 535-5.7.8), URLs, and words
# (with / or - between them, in brackets, before punctuation).
_KEEP = re.compile(rf"[\d.-]+|https?://\S+|[(\[\"']?{_WORD}(?:[/'-]{_WORD})*[)\]\"'.,:;!?]*")


def secret_forms(username: str, password: str | None) -> tuple[str, ...]:
    """The password and its base64 forms on the wire, longest first."""
    if not password:
        return ()
    forms = {password}
    for raw in (password, f"\0{username}\0{password}", f"{username}\0{username}\0{password}"):
        encoded = base64.b64encode(raw.encode("utf-8", "surrogateescape")).decode()
        forms |= {encoded, encoded.rstrip("=")}
    return tuple(sorted(forms, key=len, reverse=True))


def redact(text: str, secrets: tuple[str, ...], *, auth: bool = False) -> str:
    """`text` without any of `secrets`; with `auth` (a reply to AUTH), without any
    long base64-looking token either."""
    for secret in secrets:
        text = text.replace(secret, MARK)
    if auth:
        text = " ".join(t if _KEEP.fullmatch(t) else MARK for t in text.split())
    return text

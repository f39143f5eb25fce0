"""Keep the SMTP password out of everything digest prints, raises or stores.

Some servers echo the AUTH exchange in their error reply (`535 5.7.8 AUTH PLAIN
AGRpZ2VzdABzM2NyZXQ= rejected`). Every server reply that reaches an error, a log line
or the delivery log goes through `redact` first, which removes:

- the password itself and the base64 forms in which smtplib sends it: AUTH PLAIN
  (`\\0user\\0password`, also with the user as authorization id), AUTH LOGIN
  (`password`), each with or without `=` padding;
- in a reply to AUTH, any other long base64-looking token too (the server may have
  re-encoded what it got): 12 or more characters of the base64 alphabet that are not
  words (`BadCredentials`, `mechanism/credentials` stay).
"""

from __future__ import annotations

import base64
import re

MARK = "[redacted]"
_TOKEN = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{12,}={0,2}(?![A-Za-z0-9+/=])")
_WORD = r"(?:(?:[A-Z]?[a-z]+)+|[A-Z]+)"  # Password, CamelCase, AUTH: words, not base64
_WORDS = re.compile(rf"{_WORD}(?:/{_WORD})*")


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
        text = _TOKEN.sub(lambda m: m[0] if _WORDS.fullmatch(m[0]) else MARK, text)
    return text

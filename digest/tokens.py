"""Subscriber tokens: the `{token}` in `[delivery] unsubscribe_url`.

A token names one subscriber on its own and hides the address: it is the address
encrypted with AES-SIV under a key derived from the secret in the environment
variable `[delivery] secret_env`. SIV is deterministic (one address always gives the
same token, so a message is the same bytes at build time and at send time) and
authenticated (a forged or altered token does not open). No address ever appears
in clear in an unsubscribe URL, and the web app can read the address back with
`open_token` without a database lookup. `unsubscribe_link` puts
tokens into links.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from digest.config.schema import Config
from digest.errors import ConfigError

MIN_SECRET_BYTES = 32
MIN_DISTINCT_BYTES = 12  # 32 spaces, or "abab...", is not a secret
_CONTEXT = b"digest unsubscribe token v1"


def needs_secret(config: Config) -> bool:
    """The token secret is needed for the unsubscribe link's `{token}`, and for VERP
    (`return_path`: each envelope sender carries a token, the only way `digest bounces`
    traces a report)."""
    return "{token}" in config.delivery.unsubscribe_url or bool(config.delivery.return_path)


def load_secret(config: Config) -> bytes | None:
    """The token secret, or None when nothing needs it (needs_secret).

    Raises ConfigError when it is needed but missing or shorter than 32 bytes: every
    command that builds or sends calls this before doing any work."""
    if not needs_secret(config):
        return None
    name = config.delivery.secret_env
    value = os.environ.get(name, "")
    how = ("set it to a random string of at least 32 bytes and keep it, e.g. "
           f"export {name}=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')")
    if "{token}" in config.delivery.unsubscribe_url:
        key, why = "[delivery] secret_env", "[delivery] unsubscribe_url has {token}, which needs it"
        use = "sign unsubscribe tokens"
    else:  # return_path alone: no bounce could be traced without it, so never silently
        key = "[delivery] return_path"
        why = "it tags each message's envelope sender (VERP), how digest bounces traces a report"
        use = "tag envelope senders"
        how += ", or remove return_path"
    if not value:
        if key == "[delivery] return_path":
            raise ConfigError(f"{key}: needs the secret in the environment variable {name} "
                              f"([delivery] secret_env), and {name} is not set: {why}; {how}")
        raise ConfigError(f"{key}: environment variable {name} is not set, and {why}; {how}")
    secret = value.encode("utf-8")
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(f"{key}: {name} is {len(secret)} bytes, too short to {use} (at "
                          f"least {MIN_SECRET_BYTES}); {how}")
    if len(set(secret)) < MIN_DISTINCT_BYTES:
        raise ConfigError(f"{key}: {name} repeats a few characters; it must be random; {how}")
    return secret


def _siv(secret: bytes):  # type: ignore[no-untyped-def]
    # here, not at the top: cryptography is heavy and only this needs it
    from cryptography.hazmat.primitives.ciphers.aead import AESSIV

    return AESSIV(hashlib.sha512(_CONTEXT + b"\0" + secret).digest())  # 64 bytes: AES-256-SIV


def make_token(secret: bytes, email: str) -> str:
    """An opaque, URL-safe token for one address (case-insensitive)."""
    sealed = _siv(secret).encrypt(email.strip().lower().encode("utf-8"), [_CONTEXT])
    return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")


def open_token(secret: bytes, token: str) -> str | None:
    """The address a token was made for, or None for a forged or damaged token."""
    # here, not at the top: cryptography is heavy and only this needs it
    from cryptography.exceptions import InvalidTag

    if not token.isascii() or not token.replace("-", "").replace("_", "").isalnum():
        return None  # one spelling only: unpadded URL-safe base64
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        email = _siv(secret).decrypt(raw, [_CONTEXT]).decode("utf-8")
    except (ValueError, InvalidTag, UnicodeDecodeError):
        return None
    return email if make_token(secret, email) == token else None



def unsubscribe_link(url_template: str, mailto: str, secret: bytes | None, email: str) -> str:
    """One recipient's unsubscribe link: the url with `{token}` filled in, else
    `mailto:` the unsubscribe address, else ""."""
    if not url_template:
        return f"mailto:{mailto}" if mailto else ""
    if secret is None or "{token}" not in url_template:
        return url_template
    return url_template.replace("{token}", make_token(secret, email))


def verp_token(secret: bytes, email: str) -> str:
    """A short tag for one address in a VERP envelope sender (`bounces+<tag>@domain`):
    24 lower-case characters whatever the address, since SMTP allows 64 octets before
    the @ (and some servers change a local part's case). Not reversible:
    digest.deliver.bounces matches it against the addresses it knows."""

    mac = hmac.new(secret, b"digest verp v1\0" + email.strip().lower().encode("utf-8"),
                   hashlib.sha256).digest()[:15]
    return base64.b32encode(mac).decode("ascii").lower()


def form_token(secret: bytes, now: float) -> str:
    """A subscribe form's CSRF token: when the form was made, signed."""
    stamp = str(int(now))
    return f"{stamp}.{_form_mac(secret, stamp)}"


def form_token_ok(secret: bytes, token: str, now: float, max_age: float) -> bool:
    """Signed by us, and made at most `max_age` seconds before `now`."""
    stamp, _, mac = token.partition(".")
    if not stamp.isdigit() or not hmac.compare_digest(mac, _form_mac(secret, stamp)):
        return False
    return 0 <= now - int(stamp) <= max_age


def _form_mac(secret: bytes, stamp: str) -> str:
    return hmac.new(secret, f"form {stamp}".encode(), hashlib.sha256).hexdigest()[:32]

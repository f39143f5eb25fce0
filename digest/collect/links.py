"""Links as feeds give them: which are web addresses, and making them absolute."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

WEB = ("http", "https")


def has_scheme(url: str, schemes: tuple[str, ...]) -> bool:
    """url is absolute in one of `schemes`; a web URL also names a host."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # e.g. an unbalanced [ in the host
        return False
    return parts.scheme.lower() in schemes and (bool(parts.netloc) or parts.scheme not in WEB)


def join_url(base: str, link: str) -> str:
    """`link` made absolute; "" for no link, or one urljoin refuses (`http://[::1`),
    which would otherwise cost the whole feed."""
    if not link:
        return ""
    try:
        return urljoin(base, link)
    except ValueError:
        return ""

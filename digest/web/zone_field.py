"""The subscribe form's hidden `tz` field: the browser's IANA time zone, for delivery in
the reader's morning (digest.deliver.zones).

One fixed inline script fills it in. The Content-Security-Policy allows exactly this
script by its SHA-256 hash (`script-src 'sha256-...'`): no other inline or same-origin
script runs on any page, no nonce has to be made per answer, and the archive's pages
(whose text comes from feeds) gain nothing from it. Without JavaScript the field stays
empty and the newsletter's zone applies.
"""

from __future__ import annotations

import base64
import hashlib

from markupsafe import Markup

FIELD = "tz"
# No quotes or markup characters need escaping in it: it is the exact text hashed.
SCRIPT = ("try{for(const f of document.getElementsByName(\"tz\"))"
          "f.value=Intl.DateTimeFormat().resolvedOptions().timeZone||\"\"}catch(e){}")
SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()


def script() -> Markup:
    """The script's text for the page template (a constant, never user input)."""
    return Markup(SCRIPT)
